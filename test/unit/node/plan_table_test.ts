// plan() as a table (STYLE.md §2): desired states with the host they must produce, replayed in random
// order against a fake host that rejects unexpected commands. After every apply, planning again gives [].
// Every engine bug found so far, and each promise of issue 3's notes (endpoints, NAT scope, sysctls,
// foreign interfaces), has a row named after it, with the commit of the fix where there was one. Some
// rows start from an earlier desired state; some need the host to change behind the engine's back or
// to answer differently, and those run on their own; every other row is also in the random replay.
import assert from "node:assert/strict";
import type { HostState, InterfaceSpec } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { Exec, ExecOptions, ExecResult } from "../../../src/core/ports/types.ts";
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

const NO_FORWARDING = { ipv4: false, ipv6: false };

/** A bare wg0: one address, no peers, nothing forwarded or masqueraded. */
const WG0: InterfaceSpec = {
  name: "wg0",
  privateKey: S,
  addresses: ["10.0.0.1/24"],
  listenPort: 51820,
  peers: [],
  routes: [],
  forward: false,
  masquerade: false,
};
const WG1: InterfaceSpec = {
  ...WG0,
  name: "wg1",
  privateKey: T,
  addresses: ["10.1.0.1/24"],
  listenPort: 51822,
};

/** Our chains and jumps when we manage interfaces that forward and masquerade nothing. */
const EMPTY_CHAINS = `fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD:
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT:
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD:
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`;

/** A key rotation's overlap (node/wg_key_rotation.ts): wg0 and its next device wg0r, client B moved. */
const ROTATING: HostState = {
  interfaces: [
    {
      ...WG0,
      peers: [{ publicKey: A, allowedIps: ["10.0.0.2/32"] }, { publicKey: B, allowedIps: ["10.0.0.3/32"] }],
      forward: true,
      masquerade: true,
    },
    {
      ...WG0,
      name: "wg0r",
      privateKey: T,
      addresses: ["10.0.0.1/32"],
      listenPort: 52820,
      peers: [{ publicKey: A, allowedIps: ["10.0.0.2/32"] }, { publicKey: B, allowedIps: ["10.0.0.3/32"] }],
      routes: ["10.0.0.3/32"],
      forward: true,
      masquerade: false,
    },
  ],
  forwarding: { ipv4: true, ipv6: false },
  overlaps: [{ old: "wg0", next: "wg0r" }],
};

/** The same overlap on an interface with IPv6 too. */
const ROTATING6: HostState = {
  ...ROTATING,
  interfaces: [
    { ...ROTATING.interfaces[0]!, addresses: ["10.0.0.1/24", "fd00::1/64"] },
    { ...ROTATING.interfaces[1]!, addresses: ["10.0.0.1/32", "fd00::1/128"] },
  ],
  forwarding: { ipv4: true, ipv6: true },
};

/** Our reply marking while a key rotation overlaps wg0 and wg0r, one family, as render() prints it. */
const MARKING = (family: 4 | 6) =>
  `fw${family} mangle PREROUTING: -j WIREBUDDY-MARK
fw${family} mangle OUTPUT: -j WIREBUDDY-MARKOUT
fw${family} mangle WIREBUDDY-MARK: -i wg0r -j CONNMARK --set-xmark 0x1000000/0x1000000 | \
-i wg0 -j CONNMARK --set-xmark 0x0/0x1000000 | -j CONNMARK --restore-mark --nfmask 0x1000000 --ctmask 0x1000000
fw${family} mangle WIREBUDDY-MARKOUT: -j CONNMARK --restore-mark --nfmask 0x1000000 --ctmask 0x1000000`;

type Row = {
  name: string;
  /** Applied first, when the bug needs an earlier state of ours. */
  from?: HostState;
  /** What happens on the host behind the engine's back after `from` (rows with it are not replayed). */
  meanwhile?: (host: FakeHost) => void;
  /** The host as the engine's Exec sees it, when it must answer differently (rows with it are not replayed). */
  exec?: (host: FakeHost) => Exec;
  desired: HostState;
  host: string;
  /** The forwarding sysctls afterwards, for rows about them (the replay leaves them on). */
  sysctl?: string;
  /** A warning the tick must give. */
  warning?: RegExp;
};

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
  // A node WireGuard key rotation (node/wg_key_rotation.ts): the overlap, then the finish.
  {
    name:
      "a key rotation's next device: a host address only, the peers again, a moved client's host route, replies marked back through it",
    desired: ROTATING,
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
link wg0r tun up mtu 1420 10.0.0.1/32
  wg key T port 52820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
route 10.0.0.3/32 dev wg0r
route 10.0.0.0/24 dev wg0r table 5150
rule4 fwmark 0x1000000/0x1000000 lookup 5150 priority 5150
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
${MARKING(4)}
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
  {
    name:
      "a key rotation's overlap on an interface with IPv6: replies marked back through the next device in both families",
    desired: ROTATING6,
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 fd00::1/64
  wg key S port 51820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
link wg0r tun up mtu 1420 10.0.0.1/32 fd00::1/128
  wg key T port 52820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
route 10.0.0.3/32 dev wg0r
route 10.0.0.0/24 dev wg0r table 5150
route fd00::/64 dev wg0r table 5150
rule4 fwmark 0x1000000/0x1000000 lookup 5150 priority 5150
rule6 fwmark 0x1000000/0x1000000 lookup 5150 priority 5150
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
${MARKING(4)}
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
${MARKING(6)}
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT: -s fd00::/64 -o eth0 -j MASQUERADE`,
    sysctl: `
sysctl net.ipv4.ip_forward=1
sysctl net.ipv6.conf.all.forwarding=1`,
  },
  {
    name:
      "a key rotation cancelled: the next device, its marks, rule and reply table go; the old device stays",
    from: ROTATING6,
    desired: { interfaces: [ROTATING6.interfaces[0]!], forwarding: ROTATING6.forwarding },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 fd00::1/64
  wg key S port 51820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
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
    name:
      "a key rotation's marks, rule and reply table go at the finish; another program's mangle rule and policy rule stay",
    from: ROTATING,
    meanwhile: (host) => {
      host.foreignRule(4, "mangle", "PREROUTING", "-i eth0 -j MARK --set-xmark 0x80000/0xff0000");
      host.rules[4].push("fwmark 0x80000/0xff0000 lookup 52 priority 5210");
    },
    desired: {
      interfaces: [{ ...ROTATING.interfaces[1]!, addresses: ["10.0.0.1/24"], routes: [], masquerade: true }],
      forwarding: { ipv4: true, ipv6: false },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0r tun up mtu 1420 10.0.0.1/24
  wg key T port 52820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
rule4 fwmark 0x80000/0xff0000 lookup 52 priority 5210
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
fw4 mangle PREROUTING: -i eth0 -j MARK --set-xmark 0x80000/0xff0000
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
  {
    name:
      "a key rotation's finish: the old device goes, the next one takes the full address, its client routes go",
    from: ROTATING,
    desired: {
      interfaces: [{ ...ROTATING.interfaces[1]!, addresses: ["10.0.0.1/24"], routes: [], masquerade: true }],
      forwarding: { ipv4: true, ipv6: false },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0r tun up mtu 1420 10.0.0.1/24
  wg key T port 52820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
  peer B 10.0.0.3/32 psk - endpoint - keepalive 0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0r -j ACCEPT | -o wg0r -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
  // --- one row per engine bug found so far ------------------------------------------------------------
  {
    name: "an MTU set earlier goes back to 1420 when none is wanted (7007d25)",
    from: { interfaces: [{ ...WG0, mtu: 1380 }], forwarding: NO_FORWARDING },
    desired: { interfaces: [WG0], forwarding: NO_FORWARDING },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
${EMPTY_CHAINS}`,
  },
  {
    name: "a wanted route the kernel drops with the interface's last IPv4 address is added again (ab818c5)",
    from: { interfaces: [{ ...WG0, routes: ["192.0.2.128/25"] }], forwarding: NO_FORWARDING },
    desired: {
      interfaces: [{ ...WG0, addresses: ["10.0.5.1/24"], routes: ["192.0.2.128/25"] }],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.5.1/24
  wg key S port 51820
route 192.0.2.128/25 dev wg0
${EMPTY_CHAINS}`,
  },
  {
    name:
      "a route no longer wanted, dropped by the kernel with its address, is removed without an error (7007d25)",
    from: { interfaces: [{ ...WG0, routes: ["192.0.2.128/25"] }], forwarding: NO_FORWARDING },
    desired: { interfaces: [{ ...WG0, addresses: ["10.0.5.1/24"] }], forwarding: NO_FORWARDING },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.5.1/24
  wg key S port 51820
${EMPTY_CHAINS}`,
  },
  {
    name: "a link or an address already gone when we delete it counts as deleted (ab818c5)",
    exec: deletedFirst,
    from: { interfaces: [WG0, WG1], forwarding: NO_FORWARDING },
    desired: { interfaces: [{ ...WG0, addresses: ["10.0.5.1/24"] }], forwarding: NO_FORWARDING },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.5.1/24
  wg key S port 51820
${EMPTY_CHAINS}`,
  },
  {
    name:
      "`wg show all dump` fails while a userspace device is torn down: devices are read one by one (5e29d9e)",
    exec: wgDumpFails,
    from: {
      interfaces: [{
        ...WG0,
        peers: [
          { publicKey: A, presharedKey: P, allowedIps: ["10.0.0.2/32"] },
          { publicKey: B, allowedIps: ["10.0.0.3/32"] },
        ],
      }],
      forwarding: NO_FORWARDING,
    },
    desired: {
      interfaces: [
        {
          ...WG0,
          peers: [
            { publicKey: A, allowedIps: ["10.0.0.2/32", "10.9.0.0/24"] },
            { publicKey: C, allowedIps: ["10.0.0.4/32"] },
          ],
        },
        WG1,
      ],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer A 10.0.0.2/32,10.9.0.0/24 psk - endpoint - keepalive 0
  peer C 10.0.0.4/32 psk - endpoint - keepalive 0
link wg1 tun up mtu 1420 10.1.0.1/24
  wg key T port 51822
${EMPTY_CHAINS}`,
  },
  {
    name:
      "IPv6 as the kernel prints it: the longest zero run as ::, the first of equal runs, no :: for one zero (c84fb98)",
    desired: {
      interfaces: [{
        ...WG0,
        addresses: ["10.0.0.1/24", "2001:DB8:0:0:1:0:0:1/64"],
        peers: [{
          publicKey: A,
          allowedIps: ["2001:db8:0:0:1:0:0:2/128", "2001:0db8:1:2:3:4:0:6/128", "2001:db8:0:0:5:0:0:0/96"],
        }],
        routes: ["2001:db8:7:0:0:0:0:0/48"],
        forward: true,
        masquerade: true,
      }],
      forwarding: { ipv4: true, ipv6: true },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 2001:db8::1:0:0:1/64
  wg key S port 51820
  peer A 2001:db8::1:0:0:2/128,2001:db8:1:2:3:4:0:6/128,2001:db8:0:0:5::/96 psk - endpoint - keepalive 0
route 2001:db8:7::/48 dev wg0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT: -s 2001:db8::/64 -o eth0 -j MASQUERADE`,
  },
  {
    name:
      "canonical IPv4 hosts take the fast path next to a prefix with host bits, and match what wg prints (33163af)",
    desired: {
      interfaces: [{
        ...WG0,
        peers: [{ publicKey: A, allowedIps: ["10.0.0.2/32", "10.0.0.255/32", "10.0.0.7/30", "10.0.1.0/32"] }],
      }],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer A 10.0.0.2/32,10.0.0.255/32,10.0.0.4/30,10.0.1.0/32 psk - endpoint - keepalive 0
${EMPTY_CHAINS}`,
  },
  {
    name:
      "foreign interfaces are read and left alone: an IPv4-mapped IPv6 address core input refuses, an admin's WireGuard",
    meanwhile: (host) => {
      host.links.set("eth1", {
        name: "eth1",
        kind: "dummy",
        up: true,
        mtu: 1500,
        addresses: ["192.0.2.5/32", "::ffff:192.0.2.5/128"],
      });
      host.links.set("wgadmin", {
        name: "wgadmin",
        kind: "wireguard",
        up: true,
        mtu: 1420,
        addresses: ["10.99.0.1/24"],
        wg: {
          privateKey: T,
          port: 51999,
          peers: new Map([[B, {
            psk: null,
            endpoint: "198.51.100.77:51820",
            allowed: ["0.0.0.0/0"],
            keepalive: 0,
            handshake: 0,
          }]]),
        },
      });
    },
    desired: {
      interfaces: [{
        ...WG0,
        peers: [{ publicKey: A, allowedIps: ["10.0.0.2/32"] }],
        forward: true,
        masquerade: true,
      }],
      forwarding: { ipv4: true, ipv6: false },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link eth1 dummy up mtu 1500 192.0.2.5/32 ::ffff:192.0.2.5/128
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer A 10.0.0.2/32 psk - endpoint - keepalive 0
link wgadmin wireguard up mtu 1420 10.99.0.1/24
  wg key T port 51999
  peer B 0.0.0.0/0 psk - endpoint 198.51.100.77:51820 keepalive 0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
  },
  {
    name: "a peer's roamed endpoint is left alone while the desired endpoint is unchanged",
    from: {
      interfaces: [{
        ...WG0,
        peers: [{
          publicKey: C,
          allowedIps: ["10.0.0.4/32"],
          endpoint: "192.0.2.7:51820",
          persistentKeepalive: 25,
        }],
      }],
      forwarding: NO_FORWARDING,
    },
    meanwhile: (host) => host.connect("wg0", C, "203.0.113.9:40000"),
    desired: {
      interfaces: [{
        ...WG0,
        peers: [{
          publicKey: C,
          allowedIps: ["10.0.0.4/32"],
          endpoint: "192.0.2.7:51820",
          persistentKeepalive: 25,
        }],
      }],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer C 10.0.0.4/32 psk - endpoint 203.0.113.9:40000 keepalive 25
${EMPTY_CHAINS}`,
  },
  {
    name: "a changed desired endpoint replaces the one the peer roamed to",
    from: {
      interfaces: [{
        ...WG0,
        peers: [{
          publicKey: C,
          allowedIps: ["10.0.0.4/32"],
          endpoint: "192.0.2.7:51820",
          persistentKeepalive: 25,
        }],
      }],
      forwarding: NO_FORWARDING,
    },
    meanwhile: (host) => host.connect("wg0", C, "203.0.113.9:40000"),
    desired: {
      interfaces: [{
        ...WG0,
        peers: [{
          publicKey: C,
          allowedIps: ["10.0.0.4/32"],
          endpoint: "192.0.2.8:51820",
          persistentKeepalive: 25,
        }],
      }],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24
  wg key S port 51820
  peer C 10.0.0.4/32 psk - endpoint 192.0.2.8:51820 keepalive 25
${EMPTY_CHAINS}`,
  },
  {
    name:
      "NAT covers only the masqueraded interfaces' own subnets: not routes, not peers, not other interfaces",
    desired: {
      interfaces: [
        {
          ...WG0,
          addresses: ["10.0.0.1/24", "fd00::1/64"],
          peers: [{ publicKey: A, allowedIps: ["10.0.0.2/32", "10.9.0.0/24"] }],
          routes: ["192.0.2.128/25"],
          forward: true,
          masquerade: true,
        },
        { ...WG1, addresses: ["10.1.0.1/24", "fd01::1/64"], forward: true },
      ],
      forwarding: { ipv4: true, ipv6: true },
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 fd00::1/64
  wg key S port 51820
  peer A 10.0.0.2/32,10.9.0.0/24 psk - endpoint - keepalive 0
link wg1 tun up mtu 1420 10.1.0.1/24 fd01::1/64
  wg key T port 51822
route 192.0.2.128/25 dev wg0
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg1 -j ACCEPT | -o wg1 -j ACCEPT
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o eth0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD: -i wg0 -j ACCEPT | -o wg0 -j ACCEPT | -i wg1 -j ACCEPT | -o wg1 -j ACCEPT
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT: -s fd00::/64 -o eth0 -j MASQUERADE`,
  },
  {
    name: "NAT leaves through each family's default-route interface, and a family without one gets none",
    meanwhile: (host) => host.defaults = { 4: "ppp0", 6: null },
    desired: {
      interfaces: [{ ...WG0, addresses: ["10.0.0.1/24", "fd00::1/64"], masquerade: true }],
      forwarding: NO_FORWARDING,
    },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
link wg0 tun up mtu 1420 10.0.0.1/24 fd00::1/64
  wg key S port 51820
fw4 filter FORWARD: -j WIREBUDDY-FWD | -s 192.0.2.66/32 -j DROP
fw4 filter WIREBUDDY-FWD:
fw4 nat POSTROUTING: -j WIREBUDDY-NAT | -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
fw4 nat WIREBUDDY-NAT: -s 10.0.0.0/24 -o ppp0 -j MASQUERADE
fw6 filter FORWARD: -j WIREBUDDY-FWD | -s 2001:db8:66::/48 -j DROP
fw6 filter WIREBUDDY-FWD:
fw6 nat POSTROUTING: -j WIREBUDDY-NAT
fw6 nat WIREBUDDY-NAT:`,
    warning: /No IPv6 default route: traffic from fd00::\/64 is not masqueraded/,
  },
  {
    name: "forwarding once turned on is never turned off (other software relies on it)",
    from: { interfaces: [WG0], forwarding: { ipv4: true, ipv6: true } },
    desired: { interfaces: [], forwarding: NO_FORWARDING },
    host: `
link docker0 bridge down mtu 1500
link eth0 veth up mtu 1500 198.51.100.1/24
${FOREIGN.join("\n")}`,
    sysctl: `
sysctl net.ipv4.ip_forward=1
sysctl net.ipv6.conf.all.forwarding=1`,
  },
];

function render(host: FakeHost): string {
  return host.render(KEY_NAMES, { sysctl: false });
}

function sysctlOf(host: FakeHost): string {
  return host.render(KEY_NAMES).split("\n").filter((l) => l.startsWith("sysctl ")).join("\n");
}

/** A host where `wg show all dump` fails, as it does while a userspace device is being torn down. */
function wgDumpFails(host: FakeHost): Exec {
  const dying = "wg9"; // its UAPI socket is still listed; its link is gone
  return {
    async run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
      const line = argv.join(" ");
      const fail = (stderr: string): ExecResult => ({ code: 1, stdout: "", stderr });
      if (line === "wg show all dump") {
        return fail(`Unable to access interface ${dying}: No such file or directory`);
      }
      if (line === "wg show interfaces") {
        const names = [...host.links.values()].filter((l) => l.wg).map((l) => l.name);
        return { code: 0, stdout: [...names, dying].join(" ") + "\n", stderr: "" };
      }
      const one = line.match(/^wg show (\S+) dump$/);
      if (one) {
        if (!host.links.get(one[1]!)?.wg) return fail("Unable to access interface: No such device");
        const all = await host.run(["wg", "show", "all", "dump"]);
        const mine = all.stdout.split("\n").filter((l) => l.startsWith(`${one[1]}\t`));
        return { code: 0, stdout: mine.map((l) => l.slice(one[1]!.length + 1) + "\n").join(""), stderr: "" };
      }
      return host.run(argv, options);
    },
  };
}

/** A host where somebody else deletes a link or an address just before the engine does. */
function deletedFirst(host: FakeHost): Exec {
  return {
    async run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
      if (/^ip (link delete|address del) /.test(argv.join(" "))) await host.run(argv, options);
      return host.run(argv, options);
    },
  };
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
  const start = row.from || row.meanwhile || row.exec ? "" : "from an empty host: ";
  Deno.test(`plan() ${start}${row.name}`, async () => {
    const host = foreignHost();
    const engine = createEngine({ exec: row.exec?.(host) ?? host, fs: new MemFs(), log: memoryLogger() }, {
      statePath: "/var/lib/wb/state.json",
      wgImpl: "auto",
    });
    if (row.from) {
      const before = await engine.reconcileOnce(row.from);
      assert.ok(before.ok, `the earlier state: ${before.error?.message}`);
    }
    row.meanwhile?.(host);
    const r = await engine.reconcileOnce(row.desired);
    assert.ok(r.ok, r.error?.message ?? "");
    assert.equal(render(host), row.host.trim());
    if (row.sysctl !== undefined) assert.equal(sysctlOf(host), row.sysctl.trim());
    if (row.warning) assert.ok(r.warnings.some((w) => row.warning!.test(w)), r.warnings.join("; "));
    const again = await engine.reconcileOnce(row.desired);
    assert.deepEqual([again.planned, again.commands], [0, 0], "planning after applying gives []");
  });
}

Deno.test("plan() converges from any earlier state: the table replayed in random order", async () => {
  const rows = ROWS.filter((r) => !r.meanwhile && !r.exec);
  for (let seed = 1; seed <= 25; seed++) {
    const random = prng(seed);
    const host = foreignHost();
    const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
      statePath: "/var/lib/wb/state.json",
      wgImpl: "auto",
    });
    const order: string[] = [];
    for (let i = 0; i < 12; i++) {
      const row = rows[Math.floor(random() * rows.length)]!;
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

Deno.test("plan() a key rotation's reply routing is crash-safe: recorded before it is made, forgotten after it is gone; read only while wanted or owned", async () => {
  const host = foreignHost();
  const fs = new MemFs();
  const reads: string[] = [];
  const exec: Exec = {
    run(argv, options) {
      if (/ (rule|route) show/.test(argv.join(" "))) reads.push(argv.join(" "));
      return host.run(argv, options);
    },
  };
  const statePath = "/var/lib/wb/state.json";
  const start = () => createEngine({ exec, fs, log: memoryLogger() }, { statePath, wgImpl: "auto" });
  const state = async () => JSON.parse((await fs.readText(statePath)) ?? "{}").replies;
  const rotating = ROWS.find((r) => r.desired === ROTATING)!.host.trim();
  const finish: HostState = {
    interfaces: [{ ...ROTATING.interfaces[1]!, addresses: ["10.0.0.1/24"], routes: [], masquerade: true }],
    forwarding: { ipv4: true, ipv6: false },
  };

  const idle = await start().reconcileOnce({ interfaces: [WG0], forwarding: NO_FORWARDING });
  assert.ok(idle.ok, idle.error?.message ?? "");
  assert.deepEqual(reads, ["ip -j route show table main", "ip -6 -j route show table main"], "no rule reads");

  // The node dies between recording the rule and making it: the record over-claims, the next run makes it.
  host.failNext = { match: /rule add/, stderr: "RTNETLINK answers: Operation not permitted" };
  const crashed = await start().reconcileOnce(ROTATING);
  assert.equal(crashed.ok, false);
  assert.deepEqual(await state(), { rules: [4], routes: [{ cidr: "10.0.0.0/24", dev: "wg0r" }] });
  assert.ok(!render(host).includes("rule4"));
  const engine = start();
  assert.ok((await engine.reconcileOnce(ROTATING)).ok);
  assert.equal(render(host), rotating);
  assert.ok(reads.includes("ip -j rule show") && reads.includes("ip -j route show table 5150"));

  // The finish stops before the rule is deleted (the rule goes before its table's routes): both are
  // still recorded, so the next tick deletes the rule and forgets the route the kernel already dropped.
  host.failNext = { match: /rule del/, stderr: "RTNETLINK answers: Operation not permitted" };
  assert.equal((await engine.reconcileOnce(finish)).ok, false);
  assert.deepEqual(await state(), { rules: [4], routes: [{ cidr: "10.0.0.0/24", dev: "wg0r" }] });
  assert.ok(render(host).includes("rule4 fwmark 0x1000000/0x1000000 lookup 5150 priority 5150"));
  reads.length = 0;
  const done = await start().reconcileOnce(finish);
  assert.ok(done.ok, done.error?.message ?? "");
  assert.ok(reads.includes("ip -j rule show"), "owned, so read although no overlap is wanted");
  assert.equal(await state(), undefined, "nothing recorded: the state file is as before any rotation");
  assert.ok(!/rule4|table 5150|WIREBUDDY-MARK/.test(render(host)), render(host));
  reads.length = 0;
  const again = await start().reconcileOnce(finish);
  assert.deepEqual([again.planned, again.commands], [0, 0]);
  assert.deepEqual(reads, ["ip -j route show table main", "ip -6 -j route show table main"], "no rule reads");
});

// A foreign rule in our reply table's place, or our table's routes through a device another overlap
// now names, are left or replaced as the table says: nothing but what the state file records is deleted.
Deno.test("plan() a key rotation's reply routing leaves a policy rule it did not make", async () => {
  const host = foreignHost();
  host.rules[4].push("fwmark 0x2000000/0x2000000 lookup 5150 priority 5150");
  const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
    statePath: "/var/lib/wb/state.json",
    wgImpl: "auto",
  });
  assert.ok((await engine.reconcileOnce(ROTATING)).ok);
  assert.ok((await engine.reconcileOnce({ interfaces: [WG0], forwarding: NO_FORWARDING })).ok);
  assert.deepEqual(host.rules[4], ["fwmark 0x2000000/0x2000000 lookup 5150 priority 5150"]);
});

// The incremental path (issue 18 item 4): between full observes, a change to peers alone is planned
// against the last observe plus what was applied since. Each variant below differs from BASE in peers
// only; after an incremental apply, a full plan of the same host must be [] (incremental and full agree).
const BASE: HostState = {
  interfaces: [{ ...WG0, forward: true, masquerade: true }, { ...WG1 }],
  forwarding: { ipv4: true, ipv6: false },
};
const PEER_VARIANTS: { name: string; wg0: InterfaceSpec["peers"]; wg1: InterfaceSpec["peers"] }[] = [
  { name: "no peers", wg0: [], wg1: [] },
  { name: "one peer", wg0: [{ publicKey: A, allowedIps: ["10.0.0.2/32"] }], wg1: [] },
  {
    name: "two peers, one with a psk, an endpoint and keepalive",
    wg0: [
      { publicKey: A, allowedIps: ["10.0.0.2/32"] },
      {
        publicKey: B,
        presharedKey: P,
        allowedIps: ["10.0.0.3/32", "fd00::3/128"],
        endpoint: "192.0.2.7:51820",
        persistentKeepalive: 25,
      },
    ],
    wg1: [],
  },
  {
    name: "the psk changed and removed, allowed IPs replaced, endpoint moved",
    wg0: [
      { publicKey: A, presharedKey: Q, allowedIps: ["10.0.0.9/32", "10.9.0.7/24"] },
      { publicKey: B, allowedIps: ["10.0.0.3/32"], endpoint: "192.0.2.8:51820" },
    ],
    wg1: [{ publicKey: C, allowedIps: ["10.1.0.2/32"] }],
  },
  {
    name: "the same peers in another order, keepalive off, endpoint dropped",
    wg0: [{ publicKey: B, allowedIps: ["10.0.0.3/32"] }, { publicKey: A, allowedIps: ["10.0.0.2/32"] }],
    wg1: [{ publicKey: C, allowedIps: ["10.1.0.2/32"], persistentKeepalive: 5 }],
  },
  {
    name: "every peer moved to the other interface",
    wg0: [{ publicKey: C, allowedIps: ["10.0.0.4/32"] }],
    wg1: [{ publicKey: A, allowedIps: ["10.1.0.2/32"] }, { publicKey: B, allowedIps: ["10.1.0.3/32"] }],
  },
];
const variant = (v: (typeof PEER_VARIANTS)[number]): HostState => ({
  ...BASE,
  interfaces: [{ ...BASE.interfaces[0]!, peers: v.wg0 }, { ...BASE.interfaces[1]!, peers: v.wg1 }],
});

/** An engine on the incremental path (a drift interval that never passes) and a full one beside it. */
function incrementalPair(host: FakeHost) {
  const fs = new MemFs();
  const opts = { statePath: "/var/lib/wb/state.json", wgImpl: "auto" as const };
  return {
    incremental: createEngine({ exec: host, fs, log: memoryLogger(), now: () => 0 }, {
      ...opts,
      driftIntervalMs: 60_000,
    }),
    full: createEngine({ exec: host, fs, log: memoryLogger() }, opts),
  };
}

const readsOf = (host: FakeHost, from: number) =>
  host.commands.slice(from).filter((c) =>
    /^(wg show|ip -j|ip -\d -j|iptables-save|ip6tables-save|sysctl -a|sysctl net)/.test(c)
  );

for (const v of PEER_VARIANTS) {
  Deno.test(`plan() incrementally: ${v.name}, then a full plan is []`, async () => {
    const host = foreignHost();
    const { incremental, full } = incrementalPair(host);
    const first = await incremental.reconcileOnce(BASE);
    assert.ok(first.ok && first.observed, first.error?.message ?? "the first tick observes");
    const settled = await incremental.reconcileOnce(BASE);
    assert.deepEqual(
      [settled.commands, settled.observed],
      [0, true],
      "the converged tick makes the baseline",
    );
    const before = host.commands.length;
    const r = await incremental.reconcileOnce(variant(v));
    assert.ok(r.ok, r.error?.message ?? "");
    assert.equal(r.observed, false, "a change to peers alone does not read the host");
    assert.deepEqual(readsOf(host, before), [], "no observe command ran");
    const check = await full.reconcileOnce(variant(v));
    assert.ok(check.observed);
    assert.deepEqual(
      [check.planned, check.commands],
      [0, 0],
      "the full plan after the incremental apply is []",
    );
    const noop = await incremental.reconcileOnce(variant(v));
    assert.deepEqual(
      [noop.planned, noop.commands, noop.observed],
      [0, 0, false],
      "a no-op tick runs nothing",
    );
  });
}

Deno.test("plan() incrementally: the peer variants replayed in random order agree with a full plan", async () => {
  for (let seed = 1; seed <= 25; seed++) {
    const random = prng(seed);
    const host = foreignHost();
    const { incremental, full } = incrementalPair(host);
    assert.ok((await incremental.reconcileOnce(BASE)).ok);
    assert.equal((await incremental.reconcileOnce(BASE)).commands, 0);
    const order: string[] = [];
    for (let i = 0; i < 12; i++) {
      const v = PEER_VARIANTS[Math.floor(random() * PEER_VARIANTS.length)]!;
      order.push(v.name);
      const where = `seed ${seed}, order: ${order.join(" → ")}`;
      const r = await incremental.reconcileOnce(variant(v));
      assert.ok(r.ok && r.observed === false, `${where}: ${r.error?.message ?? "observed the host"}`);
      const check = await full.reconcileOnce(variant(v));
      assert.deepEqual([check.planned, check.commands], [0, 0], `${where}: the full plan is []`);
    }
  }
});

Deno.test("plan() incrementally: anything beyond peers, or the drift interval passing, observes again", async () => {
  const host = foreignHost();
  let t = 0;
  const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger(), now: () => t }, {
    statePath: "/var/lib/wb/state.json",
    wgImpl: "auto",
    driftIntervalMs: 60_000,
  });
  await engine.reconcileOnce(BASE);
  assert.equal((await engine.reconcileOnce(BASE)).observed, true);
  assert.equal((await engine.reconcileOnce(variant(PEER_VARIANTS[1]!))).observed, false);
  const mtu = { ...BASE, interfaces: [{ ...BASE.interfaces[0]!, mtu: 1380 }, BASE.interfaces[1]!] };
  const r = await engine.reconcileOnce(mtu);
  assert.deepEqual([r.ok, r.observed], [true, true], "an MTU change takes the full path");
  assert.equal((await engine.reconcileOnce(mtu)).observed, true, "after commands, the next tick observes");
  assert.equal((await engine.reconcileOnce(mtu)).observed, false, "converged: incremental again");
  // A peer removed by hand is not seen by incremental ticks, and is restored by the first full one.
  host.run(["wg", "set", "wg0", "peer", A, "remove"]);
  const withA = {
    ...mtu,
    interfaces: [{ ...mtu.interfaces[0]!, peers: PEER_VARIANTS[1]!.wg0 }, mtu.interfaces[1]!],
  };
  await engine.reconcileOnce(withA);
  assert.ok(host.peer("wg0", A));
  host.run(["wg", "set", "wg0", "peer", A, "remove"]);
  assert.equal((await engine.reconcileOnce(withA)).observed, false);
  assert.equal(host.peer("wg0", A), undefined, "not seen before the drift interval");
  t += 60_000;
  const repaired = await engine.reconcileOnce(withA);
  assert.deepEqual([repaired.observed, repaired.commands], [true, 1], "the drift interval passed: observed");
  assert.ok(host.peer("wg0", A), "the peer is back");
});
