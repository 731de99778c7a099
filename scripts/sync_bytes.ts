// deno-lint-ignore-file no-console
// scripts/sync-bytes: the bytes a node exchanges with the master per heartbeat interval when nothing
// changes, HTTP headers and bodies included (TLS framing not included; estimated separately). The agent
// runs with the production ratio of heartbeat (30 s) to long-poll wait (50 s), scaled down 100x. Goal ≤ 1 KB.
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
await h.stop();
const perInterval = (req + res) / INTERVALS;
const tls = (exchanges / INTERVALS) * 2 * 29; // one TLS record each way per exchange: 5-byte header + 16-byte tag + 8
console.log(
  `${INTERVALS} quiet heartbeat intervals: ${exchanges} exchanges (heartbeats and long-polls), no metrics queued`,
);
console.log(
  `request ${(req / INTERVALS).toFixed(0)} B + answer ${(res / INTERVALS).toFixed(0)} B = ${
    perInterval.toFixed(0)
  } B per interval`,
);
console.log(
  `with TLS record overhead ≈ ${(perInterval + tls).toFixed(0)} B per interval; goal ≤ 1024 B: ${
    perInterval + tls <= 1024 ? "ok" : "MISSED"
  }`,
);
