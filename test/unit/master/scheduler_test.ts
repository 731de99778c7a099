import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { runScheduler } from "../../../src/master/scheduler.ts";
import { FakeClock } from "../../support/fakes.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("the scheduler runs each job at start and then on its own interval", async () => {
  const clock = new FakeClock();
  const log = memoryLogger();
  const runs: string[] = [];
  const stop = new AbortController();
  const done = runScheduler(
    [
      { name: "fast", everyMs: 10_000, run: () => runs.push("fast") },
      { name: "slow", everyMs: 60_000, run: () => runs.push("slow") },
    ],
    { clock, log },
    stop.signal,
  );
  await tick();
  assert.deepEqual(runs.sort(), ["fast", "slow"]);
  for (let i = 0; i < 6; i++) {
    clock.advance(10_000);
    await tick();
  }
  assert.equal(runs.filter((r) => r === "fast").length, 7);
  assert.equal(runs.filter((r) => r === "slow").length, 2);
  stop.abort();
  await done;
});

Deno.test("a failing job is logged and runs again on its next tick", async () => {
  const clock = new FakeClock();
  const log = memoryLogger();
  let calls = 0;
  const stop = new AbortController();
  const done = runScheduler(
    [{
      name: "flaky",
      everyMs: 1000,
      run: () => {
        calls++;
        if (calls === 1) throw new Error("database is locked");
      },
    }],
    { clock, log },
    stop.signal,
  );
  await tick();
  clock.advance(1000);
  await tick();
  assert.equal(calls, 2);
  assert.ok(
    log.lines.some((l) => l.includes("scheduled job failed job=flaky") && l.includes("database is locked")),
  );
  stop.abort();
  await done;
});
