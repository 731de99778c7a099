// A node's WireGuard key rotation and its traffic counters: during the overlap a client's sample is both
// devices' counters; when one device goes (the old one at the finish, the next one at a cancel) its last
// counters are carried to the device that stays, so the counter the master sees never goes down (the
// master would count a drop as a reset and the remaining device's earlier bytes twice), also after a
// restart. A carry ends when its device's counters are reset (the master then sees a real reset).
import assert from "node:assert/strict";
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig, NodeInterfaceConfig } from "../../../src/core/sync.ts";
import { DataPlane, rotationEnds } from "../../../src/node/dataplane.ts";
import { TrafficCarry } from "../../../src/node/metrics/carry.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { sampleOnce } from "../../../src/node/metrics/sample.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { NodeState } from "../../../src/node/state.ts";
import { NodeWgRotation } from "../../../src/node/wg_key_rotation.ts";
import { FakeClock, MemFs } from "../../support/fakes.ts";
import { foreignHost, key } from "./fixtures.ts";

const A = key(11), B = key(12);
const NEXT = { id: 1, name: "wg0r", listen_port: 52820 };

const iface = (name: string, next?: typeof NEXT): NodeInterfaceConfig => ({
  name,
  addresses: ["10.13.13.1/24"],
  listen_port: 51820,
  mtu: null,
  private_key: null,
  peers: [A, B].map((k, j) => ({
    public_key: k,
    preshared_key: null,
    allowed_ips: [`10.13.13.${2 + j}/32`],
    endpoint: null,
    persistent_keepalive: null,
  })),
  master_peer: null,
  masquerade: true,
  ...(next ? { next } : {}),
});
const config = (version: number, i: NodeInterfaceConfig): NodeConfig => ({
  node_id: 7,
  config_version: version,
  issued_at: 0,
  interfaces: [i],
});

function setup() {
  const host = foreignHost();
  host.kernelWireguard = true;
  const clock = new FakeClock();
  const log = memoryLogger();
  const fs = new MemFs();
  const disk = new NodeState(fs, "/var/lib/wb");
  const queue = new MetricsQueue(":memory:", 10_000);
  const engine = createEngine({ exec: host, fs, log }, {
    statePath: "/var/lib/wb/state.json",
    wgImpl: "kernel",
  });
  const sample = { exec: host, clock, log, queue, queueMax: 10_000, carry: new TrafficCarry(disk, log) };
  const dataplane = new DataPlane(
    engine,
    disk,
    () => clock.now(),
    null,
    null,
    new NodeWgRotation(disk, log),
    (peers, ends) => sampleOnce(sample, peers, ends),
  );
  const traffic = (dev: string, k: string, rx: number, tx: number) => {
    const p = host.links.get(dev)!.wg!.peers.get(k)!;
    p.rx = (p.rx ?? 0) + rx;
    p.tx = (p.tx ?? 0) + tx;
  };
  /** The periodic sampler (a fresh carry reads the disk: a restarted agent). */
  const tick = async (restarted = false) => {
    clock.advance(1_000);
    if (restarted) sample.carry = new TrafficCarry(disk, log);
    await sampleOnce(sample);
  };
  /** Each client's reported counters in queue order. */
  const series = (k: string) => queue.batch(10_000).filter((s) => s.peer === k).map((s) => [s.rx, s.tx]);
  /** What the master counts: the sum of increases, a counter that went down counting from zero. */
  const counted = (k: string) => {
    let last = [0, 0], rx = 0, tx = 0;
    for (const [r, t] of series(k) as [number, number][]) {
      rx += r >= last[0]! ? r - last[0]! : r;
      tx += t >= last[1]! ? t - last[1]! : t;
      last = [r, t];
    }
    return [rx, tx];
  };
  const monotonic = (k: string) => {
    const s = series(k);
    for (let i = 1; i < s.length; i++) {
      assert.ok(
        s[i]![0]! >= s[i - 1]![0]! && s[i]![1]! >= s[i - 1]![1]!,
        `${k === A ? "A" : "B"}'s counters went down: ${JSON.stringify(s)}`,
      );
    }
  };
  return { host, disk, queue, dataplane, traffic, tick, series, counted, monotonic };
}

Deno.test("a rotation's finish carries the old device's counters: never down, every byte counted once, also after a restart", async () => {
  const { host, disk, queue, dataplane, traffic, tick, series, counted, monotonic } = setup();
  try {
    assert.ok((await dataplane.apply(config(1, iface("wg0")))).ok);
    traffic("wg0", A, 1_000, 100);
    await tick();
    assert.ok((await dataplane.apply(config(2, iface("wg0", NEXT)))).ok);
    assert.ok(host.links.has("wg0r"), "the overlap runs the next device");
    traffic("wg0", A, 500, 50);
    traffic("wg0r", A, 3_000, 300); // A moved
    traffic("wg0", B, 7_000, 70); // B did not
    await tick();
    assert.deepEqual(series(A).at(-1), [4_500, 450], "both devices' counters during the overlap");
    traffic("wg0", A, 200, 20);
    traffic("wg0r", A, 100, 10);
    // The finish: the config names the next device as the interface; the old device goes.
    assert.ok((await dataplane.apply(config(3, iface("wg0r")))).ok);
    assert.ok(!host.links.has("wg0"), "the old device is gone");
    assert.deepEqual(series(A).at(-1), [4_800, 480], "the removal sample: both devices just before");
    await tick();
    assert.deepEqual(series(A).at(-1), [4_800, 480], "at the finish: the old device's bytes carried");
    assert.deepEqual(series(B).at(-1), [7_000, 70]);
    traffic("wg0r", A, 50, 5);
    traffic("wg0r", B, 9, 1);
    await tick();
    // A restart right after the finish: the carry comes from the disk.
    await tick(true);
    assert.deepEqual(series(A).at(-1), [4_850, 485]);
    assert.deepEqual(series(B).at(-1), [7_009, 71]);
    monotonic(A);
    monotonic(B);
    // The bytes both devices counted: wg0 1,700/170 and wg0r 3,150/315 for A; wg0 7,000/70, wg0r 9/1 for B.
    assert.deepEqual(counted(A), [4_850, 485]);
    assert.deepEqual(counted(B), [7_009, 71]);

    // The device made again (a reboot): its counters start over, the carry ends, the master sees a reset.
    for (const p of host.links.get("wg0r")!.wg!.peers.values()) [p.rx, p.tx] = [0, 0];
    traffic("wg0r", A, 10, 1);
    await tick(true);
    assert.deepEqual(series(A).at(-1), [10, 1]);
    assert.deepEqual(series(B).at(-1), [0, 0], "B counted nothing there when carried: ended with the device");
    assert.deepEqual(await disk.wgCarries(), {}, "the carries that ended are forgotten");
  } finally {
    queue.close();
  }
});

Deno.test("a cancelled rotation carries the next device's counters to the old one", async () => {
  const { host, queue, dataplane, traffic, tick, series, counted, monotonic } = setup();
  try {
    assert.ok((await dataplane.apply(config(1, iface("wg0", NEXT)))).ok);
    traffic("wg0", A, 1_000, 100);
    traffic("wg0r", A, 2_000, 200);
    await tick();
    assert.ok((await dataplane.apply(config(2, iface("wg0")))).ok);
    assert.ok(!host.links.has("wg0r"), "the next device is gone");
    await tick();
    traffic("wg0", A, 5, 5);
    await tick();
    assert.deepEqual(series(A).at(-1), [3_005, 305]);
    monotonic(A);
    assert.deepEqual(counted(A), [3_005, 305]);
  } finally {
    queue.close();
  }
});

Deno.test("rotationEnds() names the device an apply drops from a running overlap and the one it keeps", () => {
  const state = (names: string[], overlaps?: { old: string; next: string }[]): HostState => ({
    interfaces: names.map((name) => ({
      name,
      privateKey: key(1),
      addresses: ["10.0.0.1/24"],
      peers: [],
      routes: [],
      forward: true,
      masquerade: true,
    })),
    forwarding: { ipv4: true, ipv6: false },
    ...(overlaps ? { overlaps } : {}),
  });
  const overlap = state(["wg0", "wg0r"], [{ old: "wg0", next: "wg0r" }]);
  assert.deepEqual(rotationEnds(null, state(["wg0r"])), [], "nothing served yet");
  assert.deepEqual(rotationEnds(overlap, overlap), [], "still running");
  assert.deepEqual(rotationEnds(overlap, state(["wg0r"])), [{ gone: "wg0", stays: "wg0r" }], "finished");
  assert.deepEqual(rotationEnds(overlap, state(["wg0"])), [{ gone: "wg0r", stays: "wg0" }], "cancelled");
  assert.deepEqual(rotationEnds(overlap, state([])), [], "the interface deleted: nothing stays");
  assert.deepEqual(rotationEnds(state(["wg0"]), state(["wg1"])), [], "no rotation");
});
