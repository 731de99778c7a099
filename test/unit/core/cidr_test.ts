import assert from "node:assert/strict";
import { AppError } from "../../../src/core/errors.ts";
import {
  canonicalIp,
  contains,
  formatCidr,
  formatIp,
  hostAddress,
  ipVersionOf,
  isValidCidr,
  isValidIp,
  networkOf,
  normalizeCidr,
  observedCidr,
  observedNetwork,
  overlaps,
  parseCidr,
  parseIp,
  parseObservedCidr,
  rangeOf,
  sizeOf,
  tryParseIp,
} from "../../../src/core/cidr.ts";

const VALID_IPS: { text: string; version: 4 | 6; value: bigint; canonical: string }[] = [
  { text: "0.0.0.0", version: 4, value: 0n, canonical: "0.0.0.0" },
  { text: "10.13.13.1", version: 4, value: 0x0a0d0d01n, canonical: "10.13.13.1" },
  { text: "255.255.255.255", version: 4, value: 0xffffffffn, canonical: "255.255.255.255" },
  { text: "192.0.2.100", version: 4, value: 0xc0000264n, canonical: "192.0.2.100" },
  { text: "::", version: 6, value: 0n, canonical: "::" },
  { text: "::1", version: 6, value: 1n, canonical: "::1" },
  { text: "1::", version: 6, value: 1n << 112n, canonical: "1::" },
  { text: "fd42::1", version: 6, value: (0xfd42n << 112n) | 1n, canonical: "fd42::1" },
  { text: "FD42:0:0:0:0:0:0:1", version: 6, value: (0xfd42n << 112n) | 1n, canonical: "fd42::1" },
  { text: "fd42:0000::0001", version: 6, value: (0xfd42n << 112n) | 1n, canonical: "fd42::1" },
  {
    text: "2001:db8:0:0:1:0:0:1",
    version: 6,
    value: 0x20010db8000000000001000000000001n,
    canonical: "2001:db8::1:0:0:1",
  },
  {
    text: "2001:db8::1:0:0:0:1",
    version: 6,
    value: 0x20010db8000000010000000000000001n,
    canonical: "2001:db8:0:1::1",
  },
  {
    text: "2001:db8:0:1:1:1:1:1",
    version: 6,
    value: 0x20010db8000000010001000100010001n,
    canonical: "2001:db8:0:1:1:1:1:1",
  },
  {
    text: "1:2:3:4:5:6:7::",
    version: 6,
    value: 0x00010002000300040005000600070000n,
    canonical: "1:2:3:4:5:6:7:0",
  },
  {
    text: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    version: 6,
    value: (1n << 128n) - 1n,
    canonical: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  },
];

for (const c of VALID_IPS) {
  Deno.test(`parseIp() reads ${c.text} and formatIp() writes ${c.canonical}`, () => {
    const addr = parseIp(c.text);
    assert.equal(addr.version, c.version);
    assert.equal(addr.value, c.value);
    assert.equal(formatIp(addr), c.canonical);
    assert.equal(canonicalIp(c.text), c.canonical);
    assert.ok(isValidIp(c.text));
    assert.deepEqual(parseIp(c.canonical), addr, "canonical form parses back to the same value");
  });
}

Deno.test("parseIp() gives the exact integer value", () => {
  assert.equal(parseIp("10.13.13.1").value, 0x0a0d0d01n);
  assert.equal(parseIp("2001:db8:0:1:1:1:1:1").value, 0x20010db8000000010001000100010001n);
  assert.equal(parseIp("2001:db8::1:0:0:0:1").value, 0x20010db8000000010000000000000001n);
});

const RFC5952: [string, string][] = [
  // Longest zero run is compressed; the first one wins a tie; a single zero group is not compressed.
  ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
  ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
  ["0:0:0:0:0:0:0:0", "::"],
  ["0:0:0:0:0:0:0:1", "::1"],
  ["1:0:0:0:0:0:0:0", "1::"],
  ["2001:DB8:AAAA:0:0:0:0:0", "2001:db8:aaaa::"],
  ["0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1"],
  ["fd00:0:0:0:0:0:0:0", "fd00::"],
];

for (const [input, output] of RFC5952) {
  Deno.test(`formatIp() writes ${input} as ${output} (RFC 5952)`, () => {
    assert.equal(canonicalIp(input), output);
  });
}

const INVALID_IPS: { text: string; why: RegExp }[] = [
  { text: "", why: /empty/ },
  { text: "10.13.13", why: /four/ },
  { text: "10.13.13.1.5", why: /four/ },
  { text: "10.13.13.01", why: /leading zero/ },
  { text: "010.13.13.1", why: /leading zero/ },
  { text: "10.13.13.256", why: /greater than 255/ },
  { text: "10.13..1", why: /not a number/ },
  { text: "10.13.13.1 ", why: /not an IPv4 or IPv6/ },
  { text: " 10.13.13.1", why: /not an IPv4 or IPv6/ },
  { text: "10.13.13.0x1", why: /not an IPv4 or IPv6/ },
  { text: "1e3.1.1.1", why: /not an IPv4 or IPv6/ },
  { text: "localhost", why: /not an IPv4 or IPv6/ },
  { text: "10.13.13.1/24", why: /not an IPv4 or IPv6/ },
  { text: ":::", why: /single colon/ },
  { text: "1:::2", why: /single colon/ },
  { text: ":1::", why: /single colon/ },
  { text: "1::2::3", why: /only once/ },
  { text: "1:2:3:4:5:6:7", why: /eight groups/ },
  { text: "1:2:3:4:5:6:7:8:9", why: /eight groups/ },
  { text: "1:2:3:4:5:6:7::8", why: /at least one group/ },
  { text: "::1:2:3:4:5:6:7:8", why: /at least one group/ },
  { text: "fd42::12345", why: /1-4 hex digits/ },
  { text: "fd42::g", why: /1-4 hex digits/ },
  { text: "::ffff:10.0.0.1", why: /embedded IPv4/ },
  { text: "fe80::1%eth0", why: /zone/ },
  { text: "1".repeat(100), why: /too long/ },
];

for (const c of INVALID_IPS) {
  Deno.test(`parseIp() rejects ${JSON.stringify(c.text.slice(0, 20))} (${c.why.source})`, () => {
    assert.equal(isValidIp(c.text), false);
    assert.equal(tryParseIp(c.text), undefined);
    assert.throws(() => parseIp(c.text), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "validation");
      assert.match(err.message, c.why);
      return true;
    });
  });
}

Deno.test("parseIp() error messages never repeat a huge input in full", () => {
  const huge = "1".repeat(10_000);
  assert.throws(() => parseIp(huge), (err: unknown) => err instanceof Error && err.message.length < 200);
});

const CIDRS: { text: string; network: string; size: bigint; first: string; last: string }[] = [
  { text: "10.13.13.1/24", network: "10.13.13.0/24", size: 256n, first: "10.13.13.0", last: "10.13.13.255" },
  { text: "10.13.13.77/32", network: "10.13.13.77/32", size: 1n, first: "10.13.13.77", last: "10.13.13.77" },
  { text: "0.0.0.0/0", network: "0.0.0.0/0", size: 1n << 32n, first: "0.0.0.0", last: "255.255.255.255" },
  {
    text: "172.16.5.4/12",
    network: "172.16.0.0/12",
    size: 1n << 20n,
    first: "172.16.0.0",
    last: "172.31.255.255",
  },
  { text: "10.0.0.5/31", network: "10.0.0.4/31", size: 2n, first: "10.0.0.4", last: "10.0.0.5" },
  {
    text: "fd42:13::1/64",
    network: "fd42:13::/64",
    size: 1n << 64n,
    first: "fd42:13::",
    last: "fd42:13::ffff:ffff:ffff:ffff",
  },
  {
    text: "::/0",
    network: "::/0",
    size: 1n << 128n,
    first: "::",
    last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  },
  { text: "FD42::0001/128", network: "fd42::1/128", size: 1n, first: "fd42::1", last: "fd42::1" },
  {
    text: "2001:db8:abcd:12::1/56",
    network: "2001:db8:abcd::/56",
    size: 1n << 72n,
    first: "2001:db8:abcd::",
    last: "2001:db8:abcd:ff:ffff:ffff:ffff:ffff",
  },
];

for (const c of CIDRS) {
  Deno.test(`normalizeCidr() turns ${c.text} into ${c.network} of ${c.size} addresses`, () => {
    assert.ok(isValidCidr(c.text));
    assert.equal(normalizeCidr(c.text), c.network);
    assert.equal(formatCidr(networkOf(c.text)), c.network);
    assert.equal(sizeOf(c.text), c.size);
    const range = rangeOf(c.text);
    assert.equal(formatIp({ version: parseCidr(c.text).version, value: range.first }), c.first);
    assert.equal(formatIp({ version: parseCidr(c.text).version, value: range.last }), c.last);
  });
}

Deno.test("parseCidr() keeps host bits and formatCidr() writes them back", () => {
  const c = parseCidr("10.13.13.1/24");
  assert.deepEqual(c, { version: 4, address: 0x0a0d0d01n, prefix: 24 });
  assert.equal(formatCidr(c), "10.13.13.1/24");
  assert.equal(formatCidr(parseCidr("FD42:0::1/64")), "fd42::1/64");
});

const INVALID_CIDRS: { text: string; why: RegExp }[] = [
  { text: "", why: /empty/ },
  { text: "10.13.13.0", why: /missing \/prefix/ },
  { text: "10.13.13.0/", why: /prefix "" is not a number/ },
  { text: "10.13.13.0/33", why: /prefix 33 is out of range 0-32/ },
  { text: "fd42::/129", why: /prefix 129 is out of range 0-128/ },
  { text: "10.13.13.0/024", why: /not a number/ },
  { text: "10.13.13.0/-1", why: /not a number/ },
  { text: "10.13.13.0/24/24", why: /not a number/ },
  { text: "10.13.13.0/2x", why: /not a number/ },
  { text: "10.13.13.0/ 24", why: /not a number/ },
  { text: "10.13.013.0/24", why: /leading zero/ },
  { text: "fd42:::/64", why: /single colon/ },
  { text: "garbage/8", why: /not an IPv4 or IPv6/ },
];

for (const c of INVALID_CIDRS) {
  Deno.test(`parseCidr() rejects ${JSON.stringify(c.text)} (${c.why.source})`, () => {
    assert.equal(isValidCidr(c.text), false);
    assert.throws(() => parseCidr(c.text), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "validation");
      assert.match(err.message, /^Invalid CIDR/);
      assert.match(err.message, c.why);
      return true;
    });
  });
}

const CONTAINS: { cidr: string; inner: string; expected: boolean }[] = [
  { cidr: "10.13.13.0/24", inner: "10.13.13.0", expected: true },
  { cidr: "10.13.13.0/24", inner: "10.13.13.255", expected: true },
  { cidr: "10.13.13.1/24", inner: "10.13.13.200", expected: true },
  { cidr: "10.13.13.0/24", inner: "10.13.14.0", expected: false },
  { cidr: "10.13.13.0/24", inner: "10.13.12.255", expected: false },
  { cidr: "10.13.13.0/24", inner: "10.13.13.64/26", expected: true },
  { cidr: "10.13.13.0/24", inner: "10.13.13.0/24", expected: true },
  { cidr: "10.13.13.0/24", inner: "10.13.0.0/16", expected: false },
  { cidr: "0.0.0.0/0", inner: "203.0.113.9", expected: true },
  { cidr: "0.0.0.0/0", inner: "::1", expected: false },
  { cidr: "fd42::/64", inner: "fd42::ffff:ffff:ffff:ffff", expected: true },
  { cidr: "fd42::/64", inner: "fd42:0:0:1::", expected: false },
  { cidr: "fd42::/64", inner: "fd42::1:0/112", expected: true },
  { cidr: "fd42::/64", inner: "10.0.0.1", expected: false },
];

for (const c of CONTAINS) {
  Deno.test(`contains(${c.cidr}, ${c.inner}) is ${c.expected}`, () => {
    assert.equal(contains(c.cidr, c.inner), c.expected);
  });
}

Deno.test("contains() accepts parsed addresses and CIDRs", () => {
  assert.ok(contains(parseCidr("10.0.0.0/8"), parseIp("10.1.2.3")));
  assert.ok(contains("10.0.0.0/8", parseCidr("10.1.0.0/16")));
  assert.ok(!contains("10.0.0.0/8", parseCidr("0.0.0.0/0")));
});

Deno.test("contains() throws on a malformed address instead of answering false", () => {
  assert.throws(() => contains("10.0.0.0/8", "10.1.2.03"), AppError);
});

const OVERLAPS: { a: string; b: string; expected: boolean }[] = [
  { a: "10.13.13.0/24", b: "10.13.13.128/25", expected: true },
  { a: "10.13.13.0/24", b: "10.13.14.0/24", expected: false },
  { a: "10.13.13.0/24", b: "10.0.0.0/8", expected: true },
  { a: "10.13.13.255/32", b: "10.13.13.0/24", expected: true },
  { a: "10.13.12.0/24", b: "10.13.13.0/24", expected: false },
  { a: "0.0.0.0/0", b: "192.0.2.1/32", expected: true },
  { a: "0.0.0.0/0", b: "::/0", expected: false },
  { a: "fd42::/64", b: "fd42::/48", expected: true },
  { a: "fd42::/64", b: "fd42:0:0:1::/64", expected: false },
];

for (const c of OVERLAPS) {
  Deno.test(`overlaps(${c.a}, ${c.b}) is ${c.expected} both ways`, () => {
    assert.equal(overlaps(c.a, c.b), c.expected);
    assert.equal(overlaps(c.b, c.a), c.expected);
  });
}

const HOSTS: { cidr: string; n: number | bigint; expected: string }[] = [
  { cidr: "10.13.13.0/24", n: 0, expected: "10.13.13.0" },
  { cidr: "10.13.13.0/24", n: 1, expected: "10.13.13.1" },
  { cidr: "10.13.13.77/24", n: 255, expected: "10.13.13.255" },
  { cidr: "10.0.0.0/8", n: 65536 + 2, expected: "10.1.0.2" },
  { cidr: "fd42::/64", n: 1, expected: "fd42::1" },
  { cidr: "fd42::/64", n: 0x10000n, expected: "fd42::1:0" },
  { cidr: "fd42::/64", n: (1n << 64n) - 1n, expected: "fd42::ffff:ffff:ffff:ffff" },
];

for (const c of HOSTS) {
  Deno.test(`hostAddress(${c.cidr}, ${c.n}) is ${c.expected}`, () => {
    assert.equal(formatIp(hostAddress(c.cidr, c.n)), c.expected);
  });
}

Deno.test("hostAddress() refuses offsets outside the network", () => {
  assert.throws(() => hostAddress("10.13.13.0/24", 256), RangeError);
  assert.throws(() => hostAddress("10.13.13.0/24", -1), RangeError);
  assert.throws(() => hostAddress("10.13.13.5/32", 1), RangeError);
});

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("IPv6 parsing and RFC 5952 formatting agree with the WHATWG URL parser on random inputs", () => {
  const random = prng(5952);
  const alphabet = "0123456789abcdefABCDEF:::::g";
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    const length = 1 + Math.floor(random() * 24);
    for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
    let oracle: string | undefined;
    try {
      oracle = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      oracle = undefined;
    }
    const ours = tryParseIp(text);
    if (!text.includes(":")) continue;
    assert.equal(ours === undefined, oracle === undefined, `disagreement on ${JSON.stringify(text)}`);
    if (ours !== undefined) {
      accepted++;
      assert.equal(formatIp(ours), oracle, `formatting of ${JSON.stringify(text)}`);
    }
  }
  assert.ok(accepted > 100, `only ${accepted} random inputs were valid`);
});

Deno.test("random IPv6 values with zero runs format canonically and parse back", () => {
  const random = prng(4291);
  for (let i = 0; i < 5_000; i++) {
    let value = 0n;
    for (let g = 0; g < 8; g++) {
      const group = random() < 0.5 ? 0 : Math.floor(random() * 0x10000);
      value = (value << 16n) | BigInt(group);
    }
    const text = formatIp({ version: 6, value });
    assert.equal(new URL(`http://[${text}]/`).hostname, `[${text}]`);
    assert.deepEqual(parseIp(text), { version: 6, value });
  }
});

Deno.test("IPv4 parsing accepts exactly four 0-255 numbers without leading zeros on random inputs", () => {
  const random = prng(791);
  const reference = (text: string) =>
    /^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$/.test(text) &&
    text.split(".").every((part) => Number(part) <= 255);
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    const length = 1 + Math.floor(random() * 16);
    for (let j = 0; j < length; j++) text += "0123456789...2"[Math.floor(random() * 14)];
    const ours = tryParseIp(text);
    assert.equal(ours !== undefined, reference(text), `disagreement on ${JSON.stringify(text)}`);
    if (ours !== undefined) assert.equal(formatIp(ours), text);
  }
});

// --- Text the kernel's tools print (the node's observe) ---------------------------------------------

Deno.test("observedNetwork() and observedCidr() print cidr text the way the kernel does", () => {
  const cases: [string, string, string][] = [
    ["10.13.13.7/24", "10.13.13.0/24", "10.13.13.7/24"],
    ["FD42:13:0:0::1/64", "fd42:13::/64", "fd42:13::1/64"],
    ["2001:db8:0:1:0:0:0:1/128", "2001:db8:0:1::1/128", "2001:db8:0:1::1/128"],
    ["2001:db8:0:1:1:1:1:1/48", "2001:db8::/48", "2001:db8:0:1:1:1:1:1/48"],
    ["::/0", "::/0", "::/0"],
    ["fd77::13", "fd77::13/128", "fd77::13/128"],
    ["192.0.2.5", "192.0.2.5/32", "192.0.2.5/32"],
  ];
  for (const [input, network, address] of cases) {
    assert.equal(observedNetwork(input), network, input);
    assert.equal(observedCidr(input), address, input);
  }
  for (
    const bad of [
      "10.0.0.256/24",
      "10.0.0.1/33",
      "fd00:::1/64",
      "1:2:3:4:5:6:7:8:9/64",
      "x/1",
      "10.0.0.0/24/1",
    ]
  ) {
    assert.equal(parseObservedCidr(bad), null, bad);
  }
});

Deno.test("parseObservedCidr() reads what a foreign interface may carry; strict parsing still refuses it", () => {
  const lenient: [string, string][] = [
    ["::ffff:192.0.2.1/128", "::ffff:c000:201/128"],
    ["::ffff:192.0.2.1", "::ffff:c000:201/128"],
    ["64:ff9b::198.51.100.7/96", "64:ff9b::c633:6407/96"],
    ["1:2:3:4:5:6:10.0.0.1/64", "1:2:3:4:5:6:a00:1/64"],
    ["010.000.013.007/024", "10.0.13.7/24"],
    ["  10.13.13.7/24\n", "10.13.13.7/24"],
  ];
  for (const [text, canonical] of lenient) {
    const cidr = parseObservedCidr(text);
    assert.ok(cidr, text);
    assert.equal(formatCidr(cidr), canonical, text);
    assert.equal(observedCidr(text), canonical, text);
    assert.equal(isValidCidr(text), false, `strict input validation still refuses ${JSON.stringify(text)}`);
  }
  assert.throws(() => parseCidr("::ffff:192.0.2.1/128"), /embedded IPv4 notation is not supported/);
  assert.throws(() => parseCidr("010.0.0.1/24"), /leading zero/);
  assert.equal(observedNetwork("::ffff:192.0.2.1/96"), "::ffff:0:0/96");
  for (
    const bad of [
      "",
      "/24",
      "10.0.0.1/",
      "10.0.0.1/1000",
      "1.2.3",
      "::ffff:192.0.2.256",
      "::ffff:192.0.2",
      "1:2:3:4:5:6:7:10.0.0.1",
      "fe80::1%eth0/64",
      "10.0.0.1 /24",
    ]
  ) {
    assert.equal(parseObservedCidr(bad), null, bad);
  }
  assert.throws(() => observedNetwork("not-an-address"), /not an address\/prefix: "not-an-address"/);
  assert.throws(() => observedCidr("10.0.0.1/33"), AppError);
});

Deno.test("ipVersionOf() tells the family by the colon", () => {
  assert.equal(ipVersionOf("10.0.0.0/8"), 4);
  assert.equal(ipVersionOf("fd00::/8"), 6);
  assert.equal(ipVersionOf("::ffff:10.0.0.1"), 6);
});
