// plan() as a table (STYLE.md §2): desired states with the host they must produce, replayed in random
// order against a fake host that rejects unexpected commands. After every apply, planning again gives [].
import assert from "node:assert/strict";
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { MemFs } from "../../support/fakes.ts";
import { FakeHost } from "./fake_host.ts";
import { foreignHost, key, KEY_NAMES } from "./fixtures.ts";

const [S, T, A, B, C, P, Q] = [1, 2, 11, 12, 13, 21, 22].map(key) as [string, ...string[]];

const FOREIGN = [
  "fw4 filter FORWARD: -s 192.0.2.66/32 -j DROP",
  "fw4 nat POSTROUTING: -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
  "fw6 filter FORWARD: -s 2001:db8:66::/48 -j DROP",
];

type Row = { name: string; desired: HostState; host: string };

const ROWS: Row[] = [
  {
    name: "nothing wanted",
    desired: { interfaces: [], forwarding: { ipv4: false, ipv6: false } },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
${FOREIGN.join("\n")}`,
  },
  {
    name: "a server with two peers",
    desired: {
      interfaces: [{
        name: "wg0",
        privateKey: S,
        addresses: ["10.0.0.1/24", "FD00:0::1/64"],
        listenPort: 51820,
        peers: [
          { publicKey: A, presharedKey: P, allowedIps: ["10.0.0.2/32"] },
          { publicKey: B, allowedIps: ["10.0.0.3/32", "fd00::3/128"] },
        ],
        routes: [],
        forward: true,
        masquerade: true,
      }],
      forwarding: { ipv4: true, ipv6: true },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 fd00::1/64
  wg key S port 51820
  peer A 10.0.0.2/32 psk P endpoint - keepalive 0
  peer B 10.0.0.3/32,fd00::3/128 psk - endpoint - keepalive 0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT: -s fd00::/64 -o eth0 -j MASQUERADE`,
  },
  {
    name: "the server changed, and a second interface",
    desired: {
      interfaces: [
        {
          name: "wg0",
          privateKey: S,
          addresses: ["10.0.0.1/24"],
          listenPort: 51820,
          mtu: 1380,
          peers: [
            { publicKey: A, allowedIps: ["10.0.0.2/32", "10.9.0.7/24"] },
            {
              publicKey: C,
              presharedKey: Q,
              allowedIps: ["10.0.0.4/32"],
              endpoint: "192.0.2.7:51820",
              persistentKeepalive: 25,
            },
          ],
          routes: ["192.0.2.128/25"],
          forward: true,
          masquerade: true,
        },
        {
          name: "wg1",
          privateKey: T,
          addresses: ["10.1.0.1/24"],
          listenPort: 51822,
          peers: [],
          routes: [],
          forward: false,
          masquerade: true,
        },
      ],
      forwarding: { ipv4: true, ipv6: false },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1380 10.0.0.1/24
  wg key S port 51820
  peer A 10.0.0.2/32,10.9.0.0/24 psk - endpoint - keepalive 0
  peer C 10.0.0.4/32 psk Q endpoint 192.0.2.7:51820 keepalive 25
link wg1 tun up mtu 1420 10.1.0.1/24
  wg key T port 51822
route 192.0.2.128/25 dev wg0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE | -s 10.1.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
  {
    name: "a node with one interface and a route",
    desired: {
      interfaces: [{
        name: "wg1",
        privateKey: T,
        addresses: ["10.1.0.5/24", "fd01::5/64"],
        listenPort: 51821,
        peers: [{
          publicKey: B,
          allowedIps: ["10.1.0.0/24", "2001:db8:5::/48"],
          endpoint: "198.51.100.9:51820",
        }],
        routes: ["2001:db8:5::/48"],
        forward: true,
        masquerade: false,
      }],
      forwarding: { ipv4: false, ipv6: true },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg1 tun up mtu 1420 10.1.0.5/24 fd01::5/64
  wg key T port 51821
  peer B 10.1.0.0/24,2001:db8:5::/48 psk - endpoint 198.51.100.9:51820 keepalive 0
route 2001:db8:5::/48 dev wg1
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg1 -j ACCEPT | -o wg1 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT:
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg1 -j ACCEPT | -o wg1 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
];

function render(host: FakeHost): string {
  return host.render(KEY_NAMES, { sysctl: false });
}

/** A small seeded PRNG, so a failing order can be replayed from the seed in the message. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const row of ROWS) {
  Deno.test(`plan() from an empty host: ${row.name}`, async () => {
    const host = foreignHost();
    const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
      statePath: "/var/lib/wb/state.json",
      wgImpl: "auto",
    });
    const r = await engine.reconcileOnce(row.desired);
    assert.ok(r.ok, r.error?.message ?? "");
    assert.equal(render(host), row.host.trim());
    const again = await engine.reconcileOnce(row.desired);
    assert.deepEqual([again.planned, again.commands], [0, 0], "planning after applying gives []");
  });
}

Deno.test("plan() converges from any earlier state: the table replayed in random order", async () => {
  for (let seed = 1; seed <= 25; seed++) {
    const random = prng(seed);
    const host = foreignHost();
    const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
      statePath: "/var/lib/wb/state.json",
      wgImpl: "auto",
    });
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      const row = ROWS[Math.floor(random() * ROWS.length)]!;
      order.push(row.name);
      const r = await engine.reconcileOnce(row.desired);
      const where = `seed ${seed}, order: ${order.join(" → ")}`;
      assert.ok(r.ok, `${where}: ${r.error?.message}`);
      assert.equal(render(host), row.host.trim(), where);
      const again = await engine.reconcileOnce(row.desired);
      assert.deepEqual([again.planned, again.commands], [0, 0], `${where}: planning after applying gives []`);
    }
  }
});
