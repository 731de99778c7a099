// A node that removes a peer (deleted, a drained pool member's clients once safe to stop, a rotation's
// old device) samples it first: the bytes since the last interval's sample are queued before the engine
// removes the peer and its counters, so every byte this host counted reaches the master.
import assert from "node:assert/strict";
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { DataPlane, removedPeers } from "../../../src/node/dataplane.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { sampleOnce } from "../../../src/node/metrics/sample.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { FakeClock, MemFs } from "../../support/fakes.ts";
import { foreignHost, key } from "./fixtures.ts";

const A = key(11), B = key(12), C = key(13);

const config = (version: number, devices: Record<string, string[]>): NodeConfig => ({
  node_id: 7,
  config_version: version,
  issued_at: 0,
  interfaces: Object.entries(devices).map(([name, peers], i) => ({
    name,
    addresses: [`10.${13 + i}.13.250/24`],
    listen_port: 51821 + i,
    mtu: null,
    private_key: key(1),
    peers: peers.map((k, j) => ({
      public_key: k,
      preshared_key: null,
      allowed_ips: [`10.${13 + i}.13.${2 + j}/32`],
      endpoint: null,
      persistent_keepalive: null,
    })),
    master_peer: null,
    masquerade: true,
  })),
});

function setup() {
  const host = foreignHost();
  host.kernelWireguard = true;
  const clock = new FakeClock();
  const log = memoryLogger();
  const queue = new MetricsQueue(":memory:", 10_000);
  const engine = createEngine({ exec: host, fs: new MemFs(), log }, {
    statePath: "/var/lib/wb/state.json",
    wgImpl: "kernel",
  });
  /** What the host had when each sample was taken: the peers of wg0 then. */
  const seen: string[][] = [];
  const dataplane = new DataPlane(
    engine,
    { wgKeys: () => Promise.resolve({}) },
    () => clock.now(),
    null,
    null,
    null,
    async (peers) => {
      seen.push([...host.links.get("wg0")?.wg?.peers.keys() ?? []]);
      await sampleOnce({ exec: host, clock, log, queue, queueMax: 10_000 }, peers);
    },
  );
  /** Traffic through a peer: its counters on the fake host grow. */
  const traffic = (dev: string, k: string, rx: number, tx: number) => {
    const p = host.links.get(dev)!.wg!.peers.get(k)!;
    p.rx = (p.rx ?? 0) + rx;
    p.tx = (p.tx ?? 0) + tx;
  };
  const queued = () => queue.batch().map((s) => [s.peer, s.rx, s.tx, s.at]);
  return { host, clock, queue, dataplane, traffic, queued, seen };
}

Deno.test("apply() queues a sample of the peers it is about to remove, taken while they still exist", async () => {
  const { host, clock, queue, dataplane, traffic, queued, seen } = setup();
  try {
    assert.ok((await dataplane.apply(config(1, { wg0: [A, B, C] }))).ok);
    assert.deepEqual(queued(), [], "nothing removed, nothing sampled");
    traffic("wg0", A, 5_000, 700);
    traffic("wg0", B, 9_000, 1_100);
    clock.advance(1_500);
    // A peer deleted, another unchanged: only the deleted one is sampled, before its removal.
    const r = await dataplane.apply(config(2, { wg0: [B, C] }));
    assert.ok(r.ok, r.error?.message ?? "");
    assert.deepEqual(queued(), [[A, 5_000, 700, clock.now()]]);
    assert.deepEqual(seen, [[A, B, C]], "sampled while the peer was still on the device");
    assert.ok(!host.links.get("wg0")!.wg!.peers.has(A), "then removed");
    // The same config again removes nothing: no sample.
    assert.ok((await dataplane.apply(config(2, { wg0: [B, C] }))).ok);
    assert.equal(queue.batch().length, 1);
  } finally {
    queue.close();
  }
});

Deno.test("apply() samples every peer of a device it removes (a drained pool's device, a rotation's old one)", async () => {
  const { host, queue, dataplane, traffic, queued } = setup();
  try {
    assert.ok((await dataplane.apply(config(1, { wg0: [A], pool0: [B, C] }))).ok);
    traffic("pool0", B, 40_000, 41_000);
    traffic("pool0", C, 384, 0);
    assert.ok((await dataplane.apply(config(2, { wg0: [A] }))).ok);
    assert.deepEqual(queued().map((s) => s.slice(0, 3)).sort(), [[B, 40_000, 41_000], [C, 384, 0]]);
    assert.ok(!host.links.has("pool0"), "the device is gone");
  } finally {
    queue.close();
  }
});

Deno.test("removedPeers() names the peers a device no longer has, and nothing before the first apply", () => {
  const state = (devices: Record<string, string[]>): HostState => ({
    interfaces: Object.entries(devices).map(([name, peers]) => ({
      name,
      privateKey: key(1),
      addresses: ["10.0.0.1/24"],
      peers: peers.map((k) => ({ publicKey: k, allowedIps: [] })),
      routes: [],
      forward: true,
      masquerade: true,
    })),
    forwarding: { ipv4: true, ipv6: false },
  });
  assert.deepEqual([...removedPeers(null, state({ wg0: [A] }))], []);
  assert.deepEqual([...removedPeers(state({ wg0: [A, B] }), state({ wg0: [B, C] }))], [A]);
  // A rotation's finish: the old device goes, its peers stay on the next one; both devices' counters
  // are in the sample taken before.
  assert.deepEqual([...removedPeers(state({ wg0: [A, B], wg0r: [A, B] }), state({ wg0r: [A, B] }))], [A, B]);
  assert.deepEqual(
    [...removedPeers(state({ wg0: [A] }), state({ wg1: [A] }))],
    [A],
    "moved to another device",
  );
});
