// A pool member's takeover handshake removes each named client's peer and adds it back (pools/takeover.ts):
// the removal takes the peer's counters with it, so the peers are sampled first and that sample is queued
// before the first `wg set … remove`: the bytes since the last interval's sample reach the master.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { DataPlane } from "../../../src/node/dataplane.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { sampleOnce } from "../../../src/node/metrics/sample.ts";
import { takeover, TAKEOVER_KEEPALIVE_MS } from "../../../src/node/pools/takeover.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { FakeClock, MemFs } from "../../support/fakes.ts";
import { foreignHost, key } from "./fixtures.ts";

const A = key(11), B = key(12), C = key(13);

const config: NodeConfig = {
  node_id: 7,
  config_version: 1,
  issued_at: 0,
  interfaces: [
    {
      name: "wgp1",
      addresses: ["10.77.0.1/24"],
      listen_port: 51900,
      mtu: null,
      private_key: key(1),
      peers: [A, B, C].map((k, j) => ({
        public_key: k,
        preshared_key: null,
        allowed_ips: [`10.77.0.${2 + j}/32`],
        endpoint: null,
        persistent_keepalive: null,
      })),
      master_peer: null,
      masquerade: true,
      pool: {
        id: 1,
        name: "pool-1",
        announce: { kind: "vrrp", address: "198.51.100.50/24", priority: 200 },
        drained: false,
        handover: [
          { public_key: A, endpoint: "198.51.100.10:40000" },
          { public_key: B, endpoint: "198.51.100.11:40000" },
        ],
      },
    } as NodeConfig["interfaces"][number],
  ],
};

Deno.test("takeover() queues a sample of the clients it removes and adds back, taken before the removal", async () => {
  const host = foreignHost();
  host.kernelWireguard = true;
  const clock = new FakeClock();
  const log = memoryLogger();
  const queue = new MetricsQueue(":memory:", 10_000);
  try {
    const engine = createEngine({ exec: host, fs: new MemFs(), log }, {
      statePath: "/var/lib/wb/state.json",
      wgImpl: "kernel",
    });
    const dataplane = new DataPlane(engine, { wgKeys: () => Promise.resolve({}) });
    assert.ok((await dataplane.apply(config)).ok);
    const peers = host.links.get("wgp1")!.wg!.peers;
    [peers.get(A)!.rx, peers.get(A)!.tx] = [5_000, 700];
    [peers.get(B)!.rx, peers.get(B)!.tx] = [9_000, 1_100];
    [peers.get(C)!.rx, peers.get(C)!.tx] = [3, 3];
    /** The peers' counters on the device when the sample was taken. */
    const seen: [string, number | undefined][][] = [];
    const asked = takeover({
      exec: host,
      clock,
      log,
      sample: async (keys) => {
        seen.push([...keys].map((k) => [k, peers.get(k)?.rx]));
        await sampleOnce({ exec: host, clock, log, queue, queueMax: 10_000 }, keys);
      },
    }, config.interfaces[0]!);
    const deadline = Date.now() + 5_000;
    while (clock.pendingSleeps === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    assert.equal(clock.pendingSleeps, 1, "the takeover waits with its keepalive on");
    assert.equal(peers.get(A)!.rx ?? 0, 0, "the peer was removed and added back: its counters start over");
    clock.advance(TAKEOVER_KEEPALIVE_MS);
    assert.equal(await asked, 2);
    assert.deepEqual(
      seen,
      [[[A, 5_000], [B, 9_000]]],
      "sampled once, while the peers still had their counters",
    );
    assert.deepEqual(
      queue.batch().map((s) => [s.peer, s.rx, s.tx]).sort(),
      [[A, 5_000, 700], [B, 9_000, 1_100]].sort(),
      "the handover clients only (C is not kicked)",
    );
  } finally {
    queue.close();
  }
});
