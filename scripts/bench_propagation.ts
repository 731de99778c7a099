// deno-lint-ignore-file no-console
// scripts/bench-propagation: the time from an API change to the node having applied it, over 50 changes
// (p50, p99), with the real master and node agent talking HTTPS on loopback. Goal: p50 < 1 s (the
// original polls every 30 s).
import { startHarness } from "./lib/sync_harness.ts";

const CHANGES = 50;
const h = await startHarness({ heartbeatMs: 30_000, configWaitMs: 50_000, metricsMs: 3_600_000 });
const samples: number[] = [];
try {
  for (let i = 0; i < CHANGES; i++) {
    const t0 = performance.now();
    const r = await h.api("POST", "/peers", { interface_id: h.iface.id, name: `p${i}`, node_id: h.node.id });
    if (r.status !== 201) throw new Error(`create failed: ${JSON.stringify(r.body)}`);
    const key = r.body.public_key as string;
    const t1 = await h.engine.until((s) =>
      s.interfaces.some((x) => x.peers.some((p) => p.publicKey === key))
    );
    samples.push(t1 - t0);
  }
} finally {
  await h.stop();
}
samples.sort((a, b) => a - b);
const pct = (p: number) => samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)]!;
console.log(
  `${CHANGES} changes (create a peer on the node → the node's engine called with it), HTTPS on loopback`,
);
console.log(
  `p50 ${pct(50).toFixed(1)} ms   p99 ${pct(99).toFixed(1)} ms   max ${
    samples[samples.length - 1]!.toFixed(1)
  } ms`,
);
console.log(
  `vs. polling every 30 s (mean wait 15 000 ms): p50 is ${
    (15_000 / pct(50)).toFixed(0)
  }x faster; goal p50 < 1000 ms: ${pct(50) < 1000 ? "ok" : "MISSED"}`,
);
