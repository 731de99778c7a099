import assert from "node:assert/strict";
import {
  allowedIpsForPreset,
  type ClientConf,
  clientConfFileName,
  formatEndpoint,
  parseClientConf,
  parseEndpoint,
  renderClientConf,
  type RoutingPreset,
} from "../../../src/core/client_conf.ts";
import { AppError } from "../../../src/core/errors.ts";

const CLIENT_KEY = "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFg=";
const SERVER_PUB = "83lqNFkF+nmIODGCmWK6XmFMrqS6fzFKD6A09e4EAD0=";
const PSK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

function conf(
  overrides: { interface?: Partial<ClientConf["interface"]>; peer?: Partial<ClientConf["peer"]> } = {},
) {
  return {
    interface: { privateKey: CLIENT_KEY, addresses: ["10.13.13.2/32"], ...overrides.interface },
    peer: {
      publicKey: SERVER_PUB,
      allowedIps: ["0.0.0.0/0"],
      endpoint: { host: "vpn.example.com", port: 51820 },
      ...overrides.peer,
    },
  } as ClientConf;
}

Deno.test("renderClientConf() writes every field in a fixed order with one trailing newline", () => {
  const text = renderClientConf(conf({
    interface: { addresses: ["10.13.13.2/32", "fd42::2/128"], dns: ["10.13.13.1", "fd42::1"], mtu: 1420 },
    peer: { presharedKey: PSK, allowedIps: ["0.0.0.0/0", "::/0"], persistentKeepalive: 25 },
  }));
  assert.equal(
    text,
    [
      "[Interface]",
      `PrivateKey = ${CLIENT_KEY}`,
      "Address = 10.13.13.2/32, fd42::2/128",
      "DNS = 10.13.13.1, fd42::1",
      "MTU = 1420",
      "",
      "[Peer]",
      `PublicKey = ${SERVER_PUB}`,
      `PresharedKey = ${PSK}`,
      "AllowedIPs = 0.0.0.0/0, ::/0",
      "Endpoint = vpn.example.com:51820",
      "PersistentKeepalive = 25",
      "",
    ].join("\n"),
  );
});

Deno.test("renderClientConf() leaves out optional fields that are not set", () => {
  assert.equal(
    renderClientConf(conf()),
    `[Interface]\nPrivateKey = ${CLIENT_KEY}\nAddress = 10.13.13.2/32\n\n[Peer]\nPublicKey = ${SERVER_PUB}\n` +
      "AllowedIPs = 0.0.0.0/0\nEndpoint = vpn.example.com:51820\n",
  );
  assert.ok(
    !renderClientConf(conf({ interface: { dns: [] }, peer: { persistentKeepalive: 0 } })).includes("DNS"),
  );
  assert.ok(!renderClientConf(conf({ peer: { persistentKeepalive: 0 } })).includes("PersistentKeepalive"));
});

Deno.test("renderClientConf() has no trailing spaces and no blank line at the end", () => {
  const text = renderClientConf(conf({ interface: { dns: ["1.1.1.1"] }, peer: { presharedKey: PSK } }));
  for (const line of text.split("\n")) assert.equal(line, line.trimEnd());
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
});

const CANONICAL: { name: string; input: ClientConf; line: string }[] = [
  {
    name: "writes IPv6 addresses in RFC 5952 form",
    input: conf({ interface: { addresses: ["10.13.13.2/32", "FD42:0:0::0002/128"] } }),
    line: "Address = 10.13.13.2/32, fd42::2/128",
  },
  {
    name: "gives a bare client address its host prefix",
    input: conf({ interface: { addresses: ["10.13.13.2", "fd42::2"] } }),
    line: "Address = 10.13.13.2/32, fd42::2/128",
  },
  {
    name: "zeroes host bits in AllowedIPs and drops duplicates",
    input: conf({ peer: { allowedIps: ["10.13.13.1/24", "10.13.13.0/24", "192.0.2.53"] } }),
    line: "AllowedIPs = 10.13.13.0/24, 192.0.2.53/32",
  },
  {
    name: "puts an IPv6 endpoint in brackets",
    input: conf({ peer: { endpoint: { host: "2001:DB8::0:1", port: 51820 } } }),
    line: "Endpoint = [2001:db8::1]:51820",
  },
  {
    name: "writes an IPv4 endpoint as is",
    input: conf({ peer: { endpoint: { host: "192.0.2.10", port: 443 } } }),
    line: "Endpoint = 192.0.2.10:443",
  },
  {
    name: "lower-cases an endpoint host name",
    input: conf({ peer: { endpoint: { host: "NYC-01.Example.COM", port: 51821 } } }),
    line: "Endpoint = nyc-01.example.com:51821",
  },
  {
    name: "keeps a DNS search domain next to resolver addresses",
    input: conf({ interface: { dns: ["10.13.13.1", "corp.example"] } }),
    line: "DNS = 10.13.13.1, corp.example",
  },
];

for (const c of CANONICAL) {
  Deno.test(`renderClientConf() ${c.name}`, () => {
    assert.ok(renderClientConf(c.input).split("\n").includes(c.line), renderClientConf(c.input));
  });
}

const INVALID: { name: string; input: ClientConf; field: string }[] = [
  {
    name: "a malformed private key",
    input: conf({ interface: { privateKey: "nope" } }),
    field: "interface.privateKey",
  },
  { name: "no address", input: conf({ interface: { addresses: [] } }), field: "interface.addresses" },
  {
    name: "a garbage address",
    input: conf({ interface: { addresses: ["10.13.13.300/32"] } }),
    field: "interface.addresses",
  },
  {
    name: "a DNS entry that would add a line",
    input: conf({ interface: { dns: ["1.1.1.1\n[Peer]"] } }),
    field: "interface.dns",
  },
  { name: "an MTU below 1280", input: conf({ interface: { mtu: 1000 } }), field: "interface.mtu" },
  { name: "a fractional MTU", input: conf({ interface: { mtu: 1420.5 } }), field: "interface.mtu" },
  {
    name: "a malformed public key",
    input: conf({ peer: { publicKey: SERVER_PUB.slice(1) } }),
    field: "peer.publicKey",
  },
  {
    name: "a preshared key with a newline",
    input: conf({ peer: { presharedKey: `${PSK}\nPostUp = rm -rf /` } }),
    field: "peer.presharedKey",
  },
  { name: "no AllowedIPs", input: conf({ peer: { allowedIps: [] } }), field: "peer.allowedIps" },
  {
    name: "a bad AllowedIPs prefix",
    input: conf({ peer: { allowedIps: ["10.0.0.0/33"] } }),
    field: "peer.allowedIps",
  },
  {
    name: "an endpoint host with a space",
    input: conf({ peer: { endpoint: { host: "vpn example.com", port: 51820 } } }),
    field: "peer.endpoint",
  },
  {
    name: "an endpoint host with a newline",
    input: conf({ peer: { endpoint: { host: "vpn.example.com\nDNS = 6.6.6.6", port: 51820 } } }),
    field: "peer.endpoint",
  },
  {
    name: "port 0",
    input: conf({ peer: { endpoint: { host: "vpn.example.com", port: 0 } } }),
    field: "peer.endpoint",
  },
  {
    name: "port 65536",
    input: conf({ peer: { endpoint: { host: "vpn.example.com", port: 65536 } } }),
    field: "peer.endpoint",
  },
  {
    name: "a negative keepalive",
    input: conf({ peer: { persistentKeepalive: -1 } }),
    field: "peer.persistentKeepalive",
  },
];

for (const c of INVALID) {
  Deno.test(`renderClientConf() refuses ${c.name}, naming the field ${c.field}`, () => {
    assert.throws(() => renderClientConf(c.input), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "validation");
      assert.deepEqual(err.fields.map((f) => f.field), [c.field]);
      return true;
    });
  });
}

Deno.test("renderClientConf() reports every bad field at once and never quotes a key", () => {
  const secret = "secret-looking-private-key-material";
  assert.throws(
    () => renderClientConf(conf({ interface: { privateKey: secret, mtu: 1 }, peer: { allowedIps: [] } })),
    (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.deepEqual(err.fields.map((f) => f.field), [
        "interface.privateKey",
        "interface.mtu",
        "peer.allowedIps",
      ]);
      assert.ok(!err.message.includes(secret));
      return true;
    },
  );
});

const ROUND_TRIPS: { name: string; input: ClientConf }[] = [
  { name: "a minimal config", input: conf() },
  {
    name: "a dual-stack config with every field",
    input: conf({
      interface: {
        addresses: ["10.13.13.2/32", "fd42::2/128"],
        dns: ["10.13.13.1", "corp.example"],
        mtu: 1380,
      },
      peer: {
        presharedKey: PSK,
        allowedIps: ["0.0.0.0/0", "::/0"],
        endpoint: { host: "2001:db8::1", port: 51820 },
        persistentKeepalive: 25,
      },
    }),
  },
  {
    name: "a split-tunnel config through a node",
    input: conf({
      interface: { dns: ["10.13.13.1"] },
      peer: {
        allowedIps: ["10.13.13.0/24", "10.8.0.1/32"],
        endpoint: { host: "fra.example.net", port: 51821 },
      },
    }),
  },
];

for (const c of ROUND_TRIPS) {
  Deno.test(`parseClientConf() reads back exactly what renderClientConf() wrote: ${c.name}`, () => {
    const text = renderClientConf(c.input);
    const parsed = parseClientConf(text);
    assert.equal(renderClientConf(parsed), text);
    assert.deepEqual(parseClientConf(renderClientConf(parsed)), parsed);
  });
}

Deno.test("parseClientConf() reads a hand-written config with comments, CRLF, odd case and repeated keys", () => {
  const text = [
    "# made by hand",
    "[interface]",
    `privatekey=${CLIENT_KEY}`,
    "Address = 10.13.13.2/32",
    "Address = fd42::2/128  # second line",
    "dns = 10.13.13.1,fd42::1",
    "",
    "[Peer]",
    `PublicKey = ${SERVER_PUB}`,
    "AllowedIPs = 0.0.0.0/0",
    "AllowedIPs = ::/0",
    "Endpoint = [2001:db8::1]:51820",
    "PersistentKeepalive = off",
    "",
  ].join("\r\n");
  assert.deepEqual(parseClientConf(text), {
    interface: {
      privateKey: CLIENT_KEY,
      addresses: ["10.13.13.2/32", "fd42::2/128"],
      dns: ["10.13.13.1", "fd42::1"],
    },
    peer: {
      publicKey: SERVER_PUB,
      allowedIps: ["0.0.0.0/0", "::/0"],
      endpoint: { host: "2001:db8::1", port: 51820 },
    },
  });
});

const UNPARSEABLE: { name: string; text: string; field: RegExp }[] = [
  { name: "text without sections", text: "hello", field: /^line 1$/ },
  { name: "a key outside a section", text: `PrivateKey = ${CLIENT_KEY}\n`, field: /^line 1$/ },
  { name: "an unknown section", text: "[Interface]\n[Route]\n", field: /^line 2$/ },
  { name: "an unknown key such as PostUp", text: "[Interface]\nPostUp = curl evil\n", field: /^line 2$/ },
  {
    name: "two peers",
    text: renderClientConf(conf()) + `\n[Peer]\nPublicKey = ${SERVER_PUB}\n`,
    field: /^peer$/,
  },
  {
    name: "a repeated single-value key",
    text: renderClientConf(conf()).replace("[Peer]", "MTU = 1400\nMTU = 1420\n\n[Peer]"),
    field: /^interface\.MTU$/,
  },
  {
    name: "no endpoint",
    text: renderClientConf(conf()).replace(/Endpoint = .*\n/, ""),
    field: /^peer\.endpoint$/,
  },
  {
    name: "an endpoint without a port",
    text: renderClientConf(conf()).replace(":51820", ""),
    field: /^peer\.endpoint$/,
  },
  {
    name: "an unbracketed IPv6 endpoint",
    text: renderClientConf(conf()).replace("vpn.example.com", "2001:db8::1"),
    field: /^peer\.endpoint$/,
  },
  {
    name: "a non-numeric MTU",
    text: renderClientConf(conf({ interface: { mtu: 1420 } })).replace("1420", "big"),
    field: /^interface\.mtu$/,
  },
];

for (const c of UNPARSEABLE) {
  Deno.test(`parseClientConf() refuses ${c.name}`, () => {
    assert.throws(() => parseClientConf(c.text), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "validation");
      assert.ok(err.fields.some((f) => c.field.test(f.field)), JSON.stringify(err.fields));
      return true;
    });
  });
}

const ENDPOINTS: { text: string; host: string; port: number; formatted: string }[] = [
  { text: "vpn.example.com:51820", host: "vpn.example.com", port: 51820, formatted: "vpn.example.com:51820" },
  { text: "192.0.2.1:1", host: "192.0.2.1", port: 1, formatted: "192.0.2.1:1" },
  { text: "[2001:DB8::1]:65535", host: "2001:db8::1", port: 65535, formatted: "[2001:db8::1]:65535" },
  { text: "localhost:51820", host: "localhost", port: 51820, formatted: "localhost:51820" },
];

for (const c of ENDPOINTS) {
  Deno.test(`parseEndpoint() reads ${c.text} and formatEndpoint() writes ${c.formatted}`, () => {
    const ep = parseEndpoint(c.text);
    assert.deepEqual(ep, { host: c.host, port: c.port });
    assert.equal(formatEndpoint(ep), c.formatted);
  });
}

for (
  const bad of [
    "vpn.example.com",
    "vpn.example.com:0",
    "vpn.example.com:70000",
    "[vpn.example.com]:1",
    "-bad.example:1",
    "1.2.3.999:1",
    ":51820",
  ]
) {
  Deno.test(`parseEndpoint() refuses ${JSON.stringify(bad)}`, () => {
    assert.throws(() => parseEndpoint(bad), AppError);
  });
}

const PRESETS: {
  name: string;
  preset: RoutingPreset;
  input: Parameters<typeof allowedIpsForPreset>[1];
  expected: string[];
}[] = [
  {
    name: "full on an IPv4-only interface routes all IPv4",
    preset: "full",
    input: { interfaceSubnets: ["10.13.13.1/24"] },
    expected: ["0.0.0.0/0"],
  },
  {
    name: "full on a dual-stack interface also routes all IPv6",
    preset: "full",
    input: { interfaceSubnets: ["10.13.13.1/24", "fd42::1/64"] },
    expected: ["0.0.0.0/0", "::/0"],
  },
  {
    name: "split routes the interface subnet and leaves out a DNS address inside it",
    preset: "split",
    input: { interfaceSubnets: ["10.13.13.1/24"], dnsAddresses: ["10.13.13.1"] },
    expected: ["10.13.13.0/24"],
  },
  {
    name: "split adds an outside DNS address as a host route",
    preset: "split",
    input: {
      interfaceSubnets: ["10.13.13.1/24", "fd42::1/64"],
      dnsAddresses: ["10.8.0.1", "fd00::53", "fd42::1"],
    },
    expected: ["10.13.13.0/24", "fd42::/64", "10.8.0.1/32", "fd00::53/128"],
  },
  {
    name: "split ignores search domains and duplicate DNS addresses",
    preset: "split",
    input: { interfaceSubnets: ["10.13.13.1/24"], dnsAddresses: ["corp.example", "10.8.0.1", "10.8.0.1"] },
    expected: ["10.13.13.0/24", "10.8.0.1/32"],
  },
  {
    name: "custom normalises a list",
    preset: "custom",
    input: { interfaceSubnets: ["10.13.13.1/24"], custom: ["192.168.1.7/24", "10.0.0.1", "FD00::1/64"] },
    expected: ["192.168.1.0/24", "10.0.0.1/32", "fd00::/64"],
  },
  {
    name: "custom reads form text separated by commas, spaces and newlines",
    preset: "custom",
    input: {
      interfaceSubnets: ["10.13.13.1/24"],
      custom: " 192.168.1.0/24,10.0.0.0/8\n172.16.0.0/12 ,, 10.0.0.0/8",
    },
    expected: ["192.168.1.0/24", "10.0.0.0/8", "172.16.0.0/12"],
  },
];

for (const c of PRESETS) {
  Deno.test(`allowedIpsForPreset(): ${c.name}`, () => {
    assert.deepEqual(allowedIpsForPreset(c.preset, c.input), c.expected);
  });
}

const BAD_CUSTOM: { name: string; custom: string[] | string | undefined }[] = [
  { name: "an empty list", custom: [] },
  { name: "blank text", custom: "  ,  " },
  { name: "no custom list at all", custom: undefined },
  { name: "a garbage entry", custom: ["10.0.0.0/8", "banana"] },
  { name: "a prefix out of range", custom: "10.0.0.0/40" },
  { name: "a huge list", custom: Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}/32`) },
];

for (const c of BAD_CUSTOM) {
  Deno.test(`allowedIpsForPreset("custom") refuses ${c.name}, naming the field allowedIps`, () => {
    assert.throws(
      () => allowedIpsForPreset("custom", { interfaceSubnets: ["10.13.13.1/24"], custom: c.custom }),
      (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, "validation");
        assert.deepEqual(err.fields.map((f) => f.field), ["allowedIps"]);
        return true;
      },
    );
  });
}

Deno.test("allowedIpsForPreset() refuses an unknown preset, naming the field routing", () => {
  assert.throws(
    () => allowedIpsForPreset("everything" as RoutingPreset, { interfaceSubnets: [] }),
    (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.deepEqual(err.fields.map((f) => f.field), ["routing"]);
      return true;
    },
  );
});

const FILE_NAMES: [string, string][] = [
  ["laptop", "laptop.conf"],
  ["Anna's iPhone", "Anna-s-iPhone.conf"],
  ["../../etc/passwd", "etc-passwd.conf"],
  ["a-very-long-device-name-indeed", "a-very-long-dev.conf"],
  ["\u00dcn\u00efc\u00f6d\u00e9", "Unicode.conf"],
  ["!!!", "wireguard.conf"],
  ["abcdefghijklmn--x", "abcdefghijklmn.conf"],
];

for (const [name, expected] of FILE_NAMES) {
  Deno.test(`clientConfFileName(${JSON.stringify(name)}) is ${expected}`, () => {
    assert.equal(clientConfFileName(name), expected);
  });
}
