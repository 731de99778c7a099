// The signed NodeConfig as the engine's HostState: a failover pool's interface is an ordinary one (its
// shared key from the config, every pool peer, no endpoints set), and allowed IPs beyond an interface's
// own subnets become routes through it (the master's own node reaching pool clients via their holder).
import assert from "node:assert/strict";
import { hostStateFromNodeConfig, routesBeyond } from "../../../src/core/node_config.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";

const K = (c: string) => c.repeat(43) + "=";

Deno.test("routesBeyond(): allowed IPs outside the own subnets, normalized and sorted; never a default route", () => {
  const peer = (allowedIps: string[]) => ({ publicKey: K("A"), allowedIps });
  const rows: [string, string[], string[], string[]][] = [
    ["a node's clients inside the subnet: none", ["10.13.13.2/24"], ["10.13.13.7/32", "10.13.13.8/32"], []],
    ["pool clients held by a node: one route each", ["10.13.13.1/24"], [
      "10.13.13.3/32",
      "10.77.0.2/32",
      "10.77.0.9/32",
    ], [
      "10.77.0.2/32",
      "10.77.0.9/32",
    ]],
    ["default routes never", ["10.13.13.1/24"], ["0.0.0.0/0", "::/0"], []],
    ["IPv6 beyond the v6 subnet only", ["10.13.13.1/24", "fd13::1/64"], ["fd13::5/128", "fd77::2/128"], [
      "fd77::2/128",
    ]],
    ["a wider prefix than the subnet is beyond it", ["10.13.13.1/24"], ["10.13.0.0/16"], ["10.13.0.0/16"]],
    ["host bits normalized, duplicates once", ["10.13.13.1/24"], ["192.168.1.7/24", "192.168.1.0/24"], [
      "192.168.1.0/24",
    ]],
  ];
  for (const [name, addresses, allowed, want] of rows) {
    assert.deepEqual(routesBeyond(addresses, [peer(allowed)]), want, name);
  }
});

Deno.test("routesBeyond(): an explicit route covers the allowed IPs inside it; one outside still gets its own", () => {
  const peer = (allowedIps: string[]) => ({ publicKey: K("A"), allowedIps });
  const rows: [string, string[], string[], string[], string[]][] = [
    ["a pool's CIDR instead of one route per client", ["10.13.13.1/24"], ["10.77.0.0/24"], [
      "10.13.13.3/32",
      "10.77.0.2/32",
      "10.77.0.9/32",
    ], ["10.77.0.0/24"]],
    ["a /32 no explicit route covers keeps its route", ["10.13.13.1/24"], ["10.77.0.0/24"], [
      "10.77.0.2/32",
      "10.78.0.5/32",
    ], ["10.77.0.0/24", "10.78.0.5/32"]],
    ["a narrower explicit route covers only its part", ["10.13.13.1/24"], ["10.77.0.0/25"], [
      "10.77.0.2/32",
      "10.77.0.200/32",
    ], ["10.77.0.0/25", "10.77.0.200/32"]],
    ["an explicit route covers its own family only", ["10.13.13.1/24", "fd13::1/64"], ["10.77.0.0/24"], [
      "fd77::2/128",
    ], ["10.77.0.0/24", "fd77::2/128"]],
    ["IPv6 pool CIDR covers its clients", ["10.13.13.1/24", "fd13::1/64"], ["10.77.0.0/24", "fd77::/64"], [
      "10.77.0.4/32",
      "fd77::4/128",
    ], ["10.77.0.0/24", "fd77::/64"]],
    [
      "explicit routes normalized; never a default one nor one inside the own subnets",
      ["10.13.13.1/24"],
      [
        "10.77.0.1/24",
        "0.0.0.0/0",
        "10.13.13.0/25",
      ],
      [],
      ["10.77.0.0/24"],
    ],
    [
      "an explicit route with no client in it stays (the pool's future clients)",
      ["10.13.13.1/24"],
      [
        "10.77.0.0/24",
      ],
      [],
      ["10.77.0.0/24"],
    ],
  ];
  for (const [name, addresses, explicit, allowed, want] of rows) {
    assert.deepEqual(routesBeyond(addresses, [peer(allowed)], explicit), want, name);
  }
});

Deno.test("hostStateFromNodeConfig(): a pool interface runs with the pool's key, all its peers and no endpoints", () => {
  const config: NodeConfig = {
    node_id: 2,
    config_version: 3,
    issued_at: 0,
    interfaces: [{
      name: "edge",
      addresses: ["10.77.0.1/24"],
      listen_port: 51900,
      mtu: null,
      private_key: K("P"),
      peers: [
        {
          public_key: K("A"),
          preshared_key: K("S"),
          allowed_ips: ["10.77.0.2/32"],
          endpoint: null,
          persistent_keepalive: null,
        },
        {
          public_key: K("B"),
          preshared_key: null,
          allowed_ips: ["10.77.0.3/32"],
          endpoint: null,
          persistent_keepalive: null,
        },
      ],
      master_peer: null,
      masquerade: true,
      pool: {
        id: 4,
        name: "edge",
        announce: {
          kind: "vrrp",
          address: "198.51.100.50/24",
          vrid: 7,
          priority: 200,
          advert_ms: 200,
          link: null,
        },
        drained: false,
        handover: [{ public_key: K("A"), endpoint: "198.51.100.10:41000" }],
      },
    }],
  };
  const state = hostStateFromNodeConfig(config, {});
  const edge = state.interfaces[0]!;
  assert.equal(edge.privateKey, K("P"));
  assert.equal(edge.listenPort, 51900);
  assert.deepEqual(edge.peers.map((p) => p.publicKey), [K("A"), K("B")]);
  assert.ok(
    edge.peers.every((p) => p.endpoint === undefined),
    "the handover endpoints are the takeover's, never the engine's",
  );
  assert.deepEqual(edge.routes, []);
  assert.equal(edge.masquerade, true);
  assert.deepEqual(state.forwarding, { ipv4: true, ipv6: false });
});
