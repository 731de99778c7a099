// Delta sync, as a table: for each change, applying diffConfigs(from, to) to `from` gives `to` (peers
// compared as a set), and the delta's size follows the change, not the node's peers.
import assert from "node:assert/strict";
import type { NodeConfig, NodeInterfaceConfig } from "../../../src/core/sync.ts";
import { applyDelta, ConfigDeltaSchema, diffConfigs } from "../../../src/core/sync_delta.ts";

const key = (n: number) =>
  btoa(String.fromCharCode(...new Uint8Array(32).fill(n % 256).map((x, i) => i === 0 ? n >> 8 : x)));
const peer = (n: number, ip = `10.9.${n >> 8}.${n & 255}/32`) => ({
  public_key: key(n),
  preshared_key: null,
  allowed_ips: [ip],
  endpoint: null,
  persistent_keepalive: null,
});
const iface = (
  name: string,
  peers: number[],
  extra: Partial<NodeInterfaceConfig> = {},
): NodeInterfaceConfig => ({
  name,
  addresses: ["10.13.13.250/24"],
  listen_port: 51821,
  mtu: null,
  private_key: null,
  peers: peers.map((n) => peer(n)),
  master_peer: null,
  masquerade: true,
  ...extra,
});
const cfg = (
  version: number,
  interfaces: NodeInterfaceConfig[],
  extra: Partial<NodeConfig> = {},
): NodeConfig => ({
  node_id: 7,
  config_version: version,
  issued_at: version * 1000,
  interfaces,
  ...extra,
});
const normal = (c: NodeConfig) => ({
  ...c,
  interfaces: c.interfaces.map((i) => ({
    ...i,
    peers: [...i.peers].sort((a, b) => a.public_key < b.public_key ? -1 : 1),
  })),
});

const base = cfg(3, [iface("wg0", [1, 2, 3]), iface("wg1", [4])]);
const rows: [string, NodeConfig][] = [
  ["nothing but the version", cfg(4, base.interfaces)],
  ["a peer added", cfg(4, [iface("wg0", [1, 2, 3, 5]), iface("wg1", [4])])],
  ["a peer removed", cfg(4, [iface("wg0", [1, 3]), iface("wg1", [4])])],
  [
    "a peer changed",
    cfg(4, [
      { ...iface("wg0", [1, 2, 3]), peers: [peer(1), peer(2, "10.99.0.2/32"), peer(3)] },
      iface("wg1", [4]),
    ]),
  ],
  ["an interface's MTU", cfg(4, [iface("wg0", [1, 2, 3], { mtu: 1380 }), iface("wg1", [4])])],
  ["an interface added", cfg(4, [...base.interfaces, iface("wg2", [8, 9])])],
  ["an interface removed", cfg(4, [base.interfaces[0]])],
  ["interfaces reordered", cfg(4, [base.interfaces[1], base.interfaces[0]])],
  ["a section added", cfg(4, base.interfaces, { dns: { files: [], log: true, nolog: [] } })],
];

for (const [what, to] of rows) {
  Deno.test(`applyDelta(diffConfigs()) rebuilds the config: ${what}`, () => {
    const delta = ConfigDeltaSchema.parse(JSON.parse(JSON.stringify(diffConfigs(base, to))));
    assert.deepEqual(normal(applyDelta(base, delta)!), normal(to));
  });
}

Deno.test("a section removed is removed", () => {
  const withDns = cfg(3, base.interfaces, { dns: { files: [], log: true, nolog: [] } });
  const out = applyDelta(withDns, diffConfigs(withDns, cfg(4, base.interfaces)))!;
  assert.equal(out.dns ?? null, null);
});

Deno.test("a delta applies only to the version and node it was made from", () => {
  const d = diffConfigs(base, rows[1][1]);
  assert.equal(applyDelta({ ...base, config_version: 2 }, d), null);
  assert.equal(applyDelta({ ...base, node_id: 8 }, d), null);
});

Deno.test("a one-peer change to 10,000 peers is a delta of one peer", () => {
  const many = [...Array(10_000).keys()].map((n) => n + 1);
  const from = cfg(3, [iface("wg0", many)]);
  const to = cfg(4, [iface("wg0", [...many, 10_001])]);
  const bytes = JSON.stringify(diffConfigs(from, to)).length;
  assert.ok(bytes < 600, `${bytes} bytes`);
  assert.ok(JSON.stringify(to).length > 1_000_000);
});
