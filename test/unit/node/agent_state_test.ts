// The agent's shared state and its transitions, and the Wakeable sleep the loops use to poke each
// other: pure, driven by a fake clock, no timers.
import assert from "node:assert/strict";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { AgentState } from "../../../src/node/agent_state.ts";
import { pause, Wakeable } from "../../../src/node/sleep.ts";
import { FakeClock } from "../../support/fakes.ts";

const config = (version: number): NodeConfig => ({
  node_id: 7,
  config_version: version,
  issued_at: 0,
  interfaces: [],
});
const ok = { ok: true };
const failed = (message?: string) => ({ ok: false, ...(message ? { error: { message } } : {}) });

/** Lets pending promise callbacks run; fails (instead of hanging) when `cond` never holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await Promise.resolve();
  }
  throw new Error(`never happened: ${what}`);
}

Deno.test("AgentState starts with no config, version 0 applied and an online status", () => {
  const s = new AgentState();
  assert.equal(s.current, null);
  assert.equal(s.have, 0);
  assert.equal(s.applied, 0);
  assert.equal(s.lastError, null);
  assert.equal(s.removed, false);
  assert.deepEqual(s.status(), { status: "online", applied_version: 0 });
  assert.equal(s.isStale(config(0)), false, "with nothing served, any config is taken");
});

Deno.test("AgentState: a clean apply serves and marks the version applied, clearing an earlier error", () => {
  const s = new AgentState();
  s.configApplied(config(3), failed("wg exited 1"));
  assert.equal(s.lastError, "wg exited 1");
  s.configApplied(config(4), ok);
  assert.equal(s.current?.config_version, 4);
  assert.equal(s.have, 4);
  assert.equal(s.applied, 4);
  assert.equal(s.lastError, null);
  assert.deepEqual(s.status(), { status: "online", applied_version: 4 });
});

Deno.test("AgentState: a failed apply serves the new config, keeps the applied version and reports the error", () => {
  const s = new AgentState();
  s.configApplied(config(4), ok);
  s.configApplied(config(5), failed("ip exited 2: RTNETLINK answers: File exists"));
  assert.equal(s.current?.config_version, 5);
  assert.equal(s.have, 5, "the long-poll asks for what comes after the served config");
  assert.equal(s.applied, 4);
  assert.deepEqual(s.status(), {
    status: "error",
    applied_version: 4,
    error: "ip exited 2: RTNETLINK answers: File exists",
  });
  s.configApplied(config(6), failed());
  assert.equal(s.lastError, "apply failed", "an error without a message still reads as one");
});

Deno.test("AgentState refuses an older or equal config only while the served one applied cleanly", () => {
  const s = new AgentState();
  s.configApplied(config(5), ok);
  assert.equal(s.isStale(config(4)), true);
  assert.equal(s.isStale(config(5)), true);
  assert.equal(s.isStale(config(6)), false);
  s.configApplied(config(6), failed("boom"));
  assert.equal(s.isStale(config(6)), false, "the same version again is a retry of a failed apply");
  assert.equal(s.isStale(config(2)), false);
});

Deno.test("AgentState: the restored last good config is served; a failed restore marks nothing applied", () => {
  const s = new AgentState();
  s.restored(config(9), failed("no wireguard-go"));
  assert.equal(s.current?.config_version, 9);
  assert.equal(s.applied, 0);
  assert.equal(s.lastError, null, "a failed restore is retried by the loops, not reported as an error");
  const t = new AgentState();
  t.restored(config(9), ok);
  assert.equal(t.applied, 9);
  assert.equal(t.isStale(config(9)), true);
});

Deno.test("AgentState: a clean reconcile clears a failure and marks the served version applied", () => {
  const s = new AgentState();
  s.configApplied(config(2), ok);
  s.configApplied(config(3), failed("busy"));
  s.reconciled(failed("still busy"));
  assert.equal(s.lastError, "still busy");
  assert.equal(s.applied, 2);
  s.reconciled(ok);
  assert.equal(s.lastError, null);
  assert.equal(s.applied, 3);
  s.reconciled(ok);
  assert.equal(s.applied, 3, "a clean tick without an earlier failure changes nothing");
});

Deno.test("AgentState.markRemoved() is true the first time only", () => {
  const s = new AgentState();
  assert.equal(s.markRemoved(), true);
  assert.equal(s.removed, true);
  assert.equal(s.markRemoved(), false);
});

Deno.test("Wakeable: a wake cuts a sleep short without time passing", async () => {
  const clock = new FakeClock();
  const w = new Wakeable();
  let done = false;
  const sleeping = w.sleep(clock, 30_000, new AbortController().signal).then(() => (done = true));
  await until("the sleep started", () => clock.pendingSleeps === 1);
  assert.equal(done, false);
  w.wake();
  await sleeping;
  assert.equal(clock.pendingSleeps, 0);
});

Deno.test("Wakeable: a wake while nobody sleeps ends the next sleep at once, and only that one", async () => {
  const clock = new FakeClock();
  const w = new Wakeable();
  const stop = new AbortController();
  w.wake();
  await w.sleep(clock, 30_000, stop.signal);
  assert.equal(clock.pendingSleeps, 0, "it never slept");
  let done = false;
  const second = w.sleep(clock, 30_000, stop.signal).then(() => (done = true));
  await until("the second sleep started", () => clock.pendingSleeps === 1);
  clock.advance(29_999);
  await Promise.resolve();
  assert.equal(done, false);
  clock.advance(1);
  await second;
});

Deno.test("Wakeable and pause() end early, without throwing, when the agent stops", async () => {
  const clock = new FakeClock();
  const stop = new AbortController();
  const sleeping = Promise.all([
    new Wakeable().sleep(clock, 30_000, stop.signal),
    pause(clock, 30_000, stop.signal),
  ]);
  await until("both sleep", () => clock.pendingSleeps === 2);
  stop.abort();
  await sleeping;
  assert.equal(clock.pendingSleeps, 0);
  await pause(clock, 30_000, stop.signal);
});
