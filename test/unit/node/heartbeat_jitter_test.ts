// Heartbeats drift apart: each wait is a random 80–100 % of the interval, so a fleet that applied one
// change together does not beat in step forever after.
import assert from "node:assert/strict";
import { heartbeatWait } from "../../../src/node/jitter.ts";
import { heartbeatLoop } from "../../../src/node/loops.ts";
import { key } from "./fixtures.ts";
import { TIMING, until, world } from "./loops_harness.ts";

Deno.test("heartbeatWait() is 80–100 % of the interval, never more", () => {
  assert.equal(heartbeatWait(30_000, () => 0), 24_000);
  assert.equal(heartbeatWait(30_000, () => 0.5), 27_000);
  assert.equal(heartbeatWait(30_000, () => 0.999_999), 30_000);
});

Deno.test("heartbeatLoop waits a jittered interval between beats", async () => {
  const w = world();
  w.master.heartbeatAnswers.push(
    { kind: "ok", acked_seq: 0, config_version: 0 },
    { kind: "removed", node_id: 7 },
  );
  const loop = heartbeatLoop({
    ...w.base,
    ...w,
    keys: { publicKeys: () => Promise.resolve({ wg0: key(2) }) },
    queue: { batch: () => [], ack: () => 0, stats: () => ({ size: 0, dropped: 0 }) },
    timing: TIMING,
    random: () => 0,
  });
  await until("first beat answered", () => w.master.beats.length === 1 && w.clock.pendingSleeps === 1);
  w.clock.advance(TIMING.heartbeatMs * 0.8); // 24 s: the shortest wait
  await until("the second beat, 24 s after the first", () => w.master.beats.length === 2);
  await loop; // told "removed": the loop ends
});
