// Parsers for what the real tools print (samples captured from wireguard-tools 1.0.20210914,
// iproute2 and iptables 1.8.9 nf_tables). The CIDR text they compare is tested in core/cidr_test.ts.
import assert from "node:assert/strict";
import { defaultEgress, parseIpAddress, parseIpRoutes, parseIpRules } from "../../../src/node/drivers/ip.ts";
import { chainRules, parseIptablesSave } from "../../../src/node/drivers/iptables.ts";
import { parseSysctl } from "../../../src/node/drivers/sysctl.ts";
import { displayArgv } from "../../../src/node/drivers/exec.ts";
import { parseWgDump, renderPeersConfig, renderWgConfig } from "../../../src/node/drivers/wg.ts";
import { Secret } from "../../../src/core/secret.ts";
import { keyHex, literalEndpoint, uapiDisplay, uapiErrno, uapiSet } from "../../../src/node/drivers/uapi.ts";

Deno.test("parseWgDump() reads interfaces and peers of `wg show all dump`", () => {
  const text = [
    "wg0\tUHsZQcRXSjjxZBrU4L6ujrvxZjOw7eWrBD+NcxsGIV0=\tBLpFCQ102mw8eyD9yjDlm93LgwMZxr1L4BBClp+XGQ8=\t51820\toff",
    "wg0\teI98EyNGRIJMZd+kuHzKItwaGS9WtTR0hhXIqqrmW0U=\t(none)\t198.51.100.5:51820\t10.0.0.2/32,fd00::2/128\t1700000000\t92\t148\t25",
    "wg0\tpYPjLU5QbOvp9Xthl2mW//Ha0/OdSGscQKseVGtLUDQ=\tnmJPIfQUupwsboRXAy4NKP95GP48zu3jvUUxO5xXIAY=\t(none)\t(none)\t0\t0\t0\toff",
    "wg1\t(none)\t(none)\t0\toff",
    "",
  ].join("\n");
  const devices = parseWgDump(text);
  assert.deepEqual([...devices.keys()], ["wg0", "wg1"]);
  const wg0 = devices.get("wg0")!;
  assert.equal(wg0.listenPort, 51820);
  assert.equal(wg0.privateKey, "UHsZQcRXSjjxZBrU4L6ujrvxZjOw7eWrBD+NcxsGIV0=");
  assert.deepEqual(wg0.peers.get("eI98EyNGRIJMZd+kuHzKItwaGS9WtTR0hhXIqqrmW0U="), {
    publicKey: "eI98EyNGRIJMZd+kuHzKItwaGS9WtTR0hhXIqqrmW0U=",
    presharedKey: null,
    endpoint: "198.51.100.5:51820",
    allowedIps: ["10.0.0.2/32", "fd00::2/128"],
    latestHandshake: 1700000000,
    rxBytes: 92,
    txBytes: 148,
    persistentKeepalive: 25,
  });
  const p2 = wg0.peers.get("pYPjLU5QbOvp9Xthl2mW//Ha0/OdSGscQKseVGtLUDQ=")!;
  assert.deepEqual([p2.presharedKey, p2.endpoint, p2.allowedIps, p2.persistentKeepalive], [
    "nmJPIfQUupwsboRXAy4NKP95GP48zu3jvUUxO5xXIAY=",
    null,
    [],
    0,
  ]);
  assert.equal(devices.get("wg1")!.privateKey, null);
  assert.throws(() => parseWgDump("wg0\tx\ty"), /3 fields/);
});

Deno.test("parseIpAddress() reads links, flags, kinds and non-link-local addresses of `ip -j -d address`", () => {
  const text = JSON.stringify([
    {
      ifname: "lo",
      flags: ["LOOPBACK", "UP", "LOWER_UP"],
      mtu: 65536,
      addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }],
    },
    {
      ifname: "wg0",
      flags: ["POINTOPOINT", "MULTICAST", "NOARP"],
      mtu: 1420,
      linkinfo: { info_kind: "tun", info_data: { type: "tun" } },
      addr_info: [],
    },
    {
      ifname: "eth0",
      link_index: 4,
      flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
      mtu: 1500,
      linkinfo: { info_kind: "veth" },
      addr_info: [
        { family: "inet", local: "198.51.100.1", prefixlen: 24, scope: "global" },
        { family: "inet6", local: "2001:db8:100:0:0::1", prefixlen: 64, scope: "global" },
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
      ],
    },
  ]);
  assert.deepEqual(parseIpAddress(text), [
    { name: "lo", up: true, mtu: 65536, kind: null, addresses: ["127.0.0.1/8"] },
    { name: "wg0", up: false, mtu: 1420, kind: "tun", addresses: [] },
    { name: "eth0", up: true, mtu: 1500, kind: "veth", addresses: ["198.51.100.1/24", "2001:db8:100::1/64"] },
  ]);
  assert.deepEqual(parseIpAddress(""), []);
  assert.throws(() => parseIpAddress("{"), /Cannot parse/);
});

Deno.test("parseIpRoutes() gives host routes their prefix length and finds the default egress", () => {
  const v4 = JSON.stringify([
    { dst: "default", gateway: "203.0.113.100", dev: "eth1", flags: [] },
    { dst: "10.77.0.0/24", dev: "wg0", protocol: "kernel", scope: "link", prefsrc: "10.77.0.1", flags: [] },
    { dst: "192.0.2.5", dev: "wg0", flags: [] },
    { type: "blackhole", dst: "192.0.2.99", flags: [] },
  ]);
  const routes = parseIpRoutes(v4, 4);
  assert.deepEqual(routes, [
    { dst: "default", dev: "eth1", family: 4 },
    { dst: "10.77.0.0/24", dev: "wg0", family: 4 },
    { dst: "192.0.2.5/32", dev: "wg0", family: 4 },
  ]);
  assert.equal(defaultEgress(routes), "eth1");
  assert.equal(defaultEgress(parseIpRoutes(JSON.stringify([{ dst: "fd77::/64", dev: "wg0" }]), 6)), null);
});

Deno.test("parseIpRules() reads priorities, fwmarks with their mask and tables of `ip -j rule show`", () => {
  // As iproute2 6.1 prints it (a mask of 0xffffffff is left out).
  const text = JSON.stringify([
    { priority: 0, src: "all", table: "local" },
    { priority: 5150, src: "all", fwmark: "0x1000000", fwmask: "0x1000000", table: "5150" },
    { priority: 5200, src: "all", fwmark: "0xca6c", table: "51820" },
    { priority: 32766, src: "all", table: "main" },
  ]);
  assert.deepEqual(parseIpRules(text), [
    { priority: 0, fwmark: null, table: "local" },
    { priority: 5150, fwmark: "0x1000000/0x1000000", table: "5150" },
    { priority: 5200, fwmark: "0xca6c/0xffffffff", table: "51820" },
    { priority: 32766, fwmark: null, table: "main" },
  ]);
  assert.deepEqual(parseIpRules(""), []);
});

Deno.test("parseIptablesSave() keeps chains and rules in order, per table", () => {
  const text = `# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 04:06:38 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [12:840]
:OUTPUT ACCEPT [0:0]
:WIREBUDDY-FWD - [0:0]
-A FORWARD -j WIREBUDDY-FWD
-A FORWARD -s 192.0.2.9/32 -j DROP
-A WIREBUDDY-FWD -i wg0 -j ACCEPT
-A WIREBUDDY-FWD -o wg0 -j ACCEPT
COMMIT
# Completed on Sun Nov 22 04:06:38 2026
*nat
:POSTROUTING ACCEPT [0:0]
:WIREBUDDY-NAT - [0:0]
-A POSTROUTING -j WIREBUDDY-NAT
-A WIREBUDDY-NAT -s 10.77.0.0/24 -o eth1 -j MASQUERADE
COMMIT
`;
  const tables = parseIptablesSave(text);
  assert.deepEqual([...tables.keys()], ["filter", "nat"]);
  assert.equal(tables.get("filter")!.chains.get("FORWARD")!.policy, "DROP");
  assert.deepEqual(chainRules(tables, "filter", "FORWARD"), ["-j WIREBUDDY-FWD", "-s 192.0.2.9/32 -j DROP"]);
  assert.deepEqual(chainRules(tables, "nat", "WIREBUDDY-NAT"), ["-s 10.77.0.0/24 -o eth1 -j MASQUERADE"]);
  assert.deepEqual(chainRules(tables, "mangle", "PREROUTING"), []);
  assert.equal(parseIptablesSave("").size, 0, "a namespace that never used iptables prints nothing");
  assert.throws(() => parseIptablesSave("-A FORWARD -j DROP"), /outside a table/);
});

Deno.test("parseSysctl() reads key = value lines and skips keys the kernel lacks", () => {
  const m = parseSysctl("net.ipv4.ip_forward = 1\n");
  assert.equal(m.get("net.ipv4.ip_forward"), "1");
  assert.equal(m.has("net.ipv6.conf.all.forwarding"), false);
});

Deno.test("renderPeersConfig() writes the [Peer] sections wg addconf reads", () => {
  assert.equal(
    renderPeersConfig([
      {
        publicKey: "K",
        presharedKey: "P",
        endpoint: "192.0.2.1:51820",
        allowedIps: ["10.0.0.2/32", "fd00::2/128"],
        persistentKeepalive: 25,
      },
      { publicKey: "L", allowedIps: [] },
    ]),
    "[Peer]\nPublicKey = K\nPresharedKey = P\nEndpoint = 192.0.2.1:51820\nAllowedIPs = 10.0.0.2/32, fd00::2/128\n" +
      "PersistentKeepalive = 25\n\n[Peer]\nPublicKey = L\n",
  );
});

Deno.test("renderWgConfig() writes the whole config wg addconf reads: [Interface] only when there is something to set", () => {
  const peers = [{ publicKey: "K", allowedIps: ["10.0.0.2/32"] }];
  assert.equal(
    renderWgConfig({ privateKey: "S", listenPort: 51820, peers }),
    "[Interface]\nPrivateKey = S\nListenPort = 51820\n\n[Peer]\nPublicKey = K\nAllowedIPs = 10.0.0.2/32\n",
  );
  assert.equal(renderWgConfig({ listenPort: 51821, peers: [] }), "[Interface]\nListenPort = 51821\n\n");
  assert.equal(renderWgConfig({ peers }), renderPeersConfig(peers));
});

Deno.test("displayArgv() quotes only what a shell would misread", () => {
  assert.equal(
    displayArgv(["ip", "link", "add", "dev", "wg0", "type", "wireguard"]),
    "ip link add dev wg0 type wireguard",
  );
  assert.equal(
    displayArgv(["iptables", "-A", "X", "-m", "comment", "--comment", "it's ours", ""]),
    `iptables -A X -m comment --comment 'it'\\''s ours' ''`,
  );
});

Deno.test("uapiSet() writes wireguard-go's set=1 text: hex keys, replaced allowed IPs, removals, a blank line", () => {
  const pub = "eI98EyNGRIJMZd+kuHzKItwaGS9WtTR0hhXIqqrmW0U=";
  const psk = new Secret(btoa(String.fromCharCode(...new Uint8Array(32).fill(255))));
  const gone = btoa(String.fromCharCode(...new Uint8Array(32).fill(1)));
  assert.equal(keyHex(gone), "01".repeat(32));
  assert.equal(
    uapiSet({
      listenPort: 51820,
      remove: [gone],
      peers: [{
        publicKey: pub,
        presharedKey: psk,
        endpoint: "[fd00::1]:51820",
        persistentKeepalive: 0,
        allowedIps: ["10.0.0.2/32", "fd00::2/128"],
      }, { publicKey: gone, presharedKey: null, allowedIps: [] }],
    }),
    [
      "set=1",
      "listen_port=51820",
      `public_key=${"01".repeat(32)}`,
      "remove=true",
      `public_key=${keyHex(pub)}`,
      `preshared_key=${"ff".repeat(32)}`,
      "endpoint=[fd00::1]:51820",
      "persistent_keepalive_interval=0",
      "replace_allowed_ips=true",
      "allowed_ip=10.0.0.2/32",
      "allowed_ip=fd00::2/128",
      `public_key=${"01".repeat(32)}`,
      `preshared_key=${"00".repeat(32)}`,
      "replace_allowed_ips=true",
      "",
      "",
    ].join("\n"),
  );
  assert.equal(uapiErrno("errno=0\n\n"), 0);
  assert.equal(uapiErrno("errno=-22\n\n"), -22);
  assert.ok(Number.isNaN(uapiErrno("")));
  assert.ok(literalEndpoint("192.0.2.7:51820") && literalEndpoint("[fd00::1]:51820"));
  assert.ok(!literalEndpoint("vpn.example.com:51820"), "a host name needs wg, which resolves it");
});

Deno.test("uapiDisplay() is a pasteable-looking line with every key but public ones redacted", () => {
  const pub = "eI98EyNGRIJMZd+kuHzKItwaGS9WtTR0hhXIqqrmW0U=";
  const secret = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
  const many = Array.from({ length: 20_000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  const line = uapiDisplay("wg0", {
    privateKey: new Secret(secret),
    peers: [{ publicKey: pub, presharedKey: new Secret(secret), allowedIps: many }],
  });
  assert.equal(
    line,
    `uapi wg0 set private-key [redacted] peer ${pub} preshared-key [redacted] allowed-ips <20000 entries>`,
  );
  assert.ok(!line.includes(secret));
  assert.equal(uapiDisplay("wg0", { remove: [pub] }), `uapi wg0 set peer ${pub} remove`);
  assert.equal(
    uapiDisplay("wg0", {
      peers: [{ publicKey: pub, presharedKey: null, persistentKeepalive: 0, allowedIps: [] }],
    }),
    `uapi wg0 set peer ${pub} preshared-key none persistent-keepalive off allowed-ips ''`,
  );
});
