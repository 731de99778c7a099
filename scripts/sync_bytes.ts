// deno-lint-ignore-file no-console
// scripts/sync-bytes: the bytes a node exchanges with the master per heartbeat interval when nothing
// changes, HTTP headers and bodies included (TLS framing not included; estimated separately). The agent
// runs with the production ratio of heartbeat (30 s) to long-poll wait (50 s), scaled down 100x. Goal ≤ 1 KB.
// Then the answer to a one-peer change for a node with 10,000 peers: full config vs delta.
import { startHarness } from "./lib/sync_harness.ts";

let req = 0;
let res = 0;
let exchanges = 0;
const h = await startHarness({
  heartbeatMs: 300,
  configWaitMs: 500,
  metricsMs: 3_600_000,
  count: (a, b) => ((req += a), (res += b), exchanges++),
});
// Let the enrollment and first config settle, then measure a quiet period.
await new Promise((r) => setTimeout(r, 1500));
req = res = exchanges = 0;
const INTERVALS = 40;
await new Promise((r) => setTimeout(r, INTERVALS * 300));
const quiet = { req, res, exchanges };

// One peer added to a node that serves 10,000: the answer's body, full config (as before delta sync)
// vs the delta a node in a session asks for.
const wg1 =
  (await h.api("POST", "/interfaces", { name: "wg1", ipv4_pool: "10.20.0.0/16", listen_port: 51830 }))
    .body as { id: number };
const addPeer = (i: number) =>
  h.api("POST", "/peers", { interface_id: wg1.id, name: `c${i}`, node_id: h.node.id });
for (let i = 0; i < 10_000; i += 50) await Promise.all([...Array(50).keys()].map((j) => addPeer(i + j)));
const version = () => h.services.nodes.get(h.node.id).configVersion;
const before = version();
const fullBefore = await h.services.sync.configAnswer(h.node.id, 0, "changed");
await addPeer(10_000);
const full = await h.services.sync.configAnswer(h.node.id, before, "changed");
const delta = await h.services.sync.configAnswer(h.node.id, before, "changed", true);
await h.stop();
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log("");
console.log(`one peer added to a node serving 10,000 peers (config ${kb(fullBefore.length)} before):`);
console.log(
  `answer body: full config ${kb(full.length)} (as before delta sync) vs delta ${delta.length} B (${
    JSON.parse(delta).kind
  }) = ${(full.length / delta.length).toFixed(0)}x smaller`,
);
const perInterval = (quiet.req + quiet.res) / INTERVALS;
const tls = (quiet.exchanges / INTERVALS) * 2 * 29; // one TLS record each way per exchange: 5-byte header + 16-byte tag + 8
console.log(
  `${INTERVALS} quiet heartbeat intervals: ${quiet.exchanges} exchanges (heartbeats and long-polls), no metrics queued`,
);
console.log(
  `request ${(quiet.req / INTERVALS).toFixed(0)} B + answer ${(quiet.res / INTERVALS).toFixed(0)} B = ${
    perInterval.toFixed(0)
  } B per interval`,
);
console.log(
  `with TLS record overhead ≈ ${(perInterval + tls).toFixed(0)} B per interval; goal ≤ 1024 B: ${
    perInterval + tls <= 1024 ? "ok" : "MISSED"
  }`,
);
