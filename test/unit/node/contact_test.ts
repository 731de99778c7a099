// The agent's contact with the master across outages and partitions (issue 17, items 5 and 6): the
// heartbeat keeps probing at least once per interval, whichever loop gets through first wakes the
// other (a stuck long-poll is abandoned), and the log says once that contact is lost, reminds every
// 5 minutes, and says when it is back. Fake master link, fake clock: time moves only when told.
import assert from "node:assert/strict";
import { configLoop, heartbeatLoop } from "../../../src/node/loops.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { SyncError } from "../../../src/node/sync_client.ts";
import { config, NODE, TIMING, until, world } from "./loops_harness.ts";

const down = () => new SyncError(0, "master unreachable: Connection refused (os error 111)");

/** Both sync loops of one node, on the harness's fakes. */
function both(w: ReturnType<typeof world>) {
  const queue = new MetricsQueue(":memory:", 100);
  const loops = Promise.all([
    configLoop({ ...w.base, ...w, nodeId: NODE, timing: TIMING }),
    heartbeatLoop({
      ...w.base,
      ...w,
      keys: { publicKeys: () => Promise.resolve({}) },
      queue,
      timing: TIMING,
    }),
  ]);
  return { done: async () => (w.stopAll.abort(), await loops, queue.close()) };
}

const ok = (version = 0) => ({ kind: "ok", acked_seq: 0, config_version: version });

/** Moves the fake clock in steps until `cond` holds (at most `maxMs`); returns the time it took. */
async function passUntil(w: ReturnType<typeof world>, cond: () => boolean, maxMs: number, step = 250) {
  const t0 = w.clock.now();
  while (!cond() && w.clock.now() - t0 < maxMs) await pass(w, step, step);
  assert.ok(cond(), `not within ${maxMs} ms`);
  return w.clock.now() - t0;
}

/** Moves the fake clock in steps (so every loop that wakes gets to run), `ms` in all. */
async function pass(w: ReturnType<typeof world>, ms: number, step = 1_000) {
  for (let t = 0; t < ms; t += step) {
    w.clock.advance(Math.min(step, ms - t));
    for (let i = 0; i < 50; i++) await Promise.resolve();
  }
}

Deno.test("heartbeat retries never wait longer than one heartbeat interval, however long the outage", async () => {
  const w = world();
  for (let i = 0; i < 40; i++) w.master.heartbeatAnswers.push(down());
  const n = both(w);
  w.master.configAnswers.push(down());
  await pass(w, 10 * 60_000);
  const beats = w.master.beats.length;
  // 10 minutes: with the 5 s → 5 min backoff that would be a handful; capped at 30 s it is 20 or more.
  assert.ok(beats >= 20, `${beats} heartbeats in 10 minutes of outage`);
  await pass(w, TIMING.heartbeatMs);
  assert.ok(w.master.beats.length > beats, "one more within one interval");
  await n.done();
});

Deno.test("after an outage the first heartbeat that gets through wakes the config loop at once", async () => {
  const w = world();
  w.state.configApplied(config(4), { ok: true });
  for (let i = 0; i < 40; i++) w.master.heartbeatAnswers.push(down());
  let configFailures = 0;
  for (let i = 0; i < 40; i++) w.master.configAnswers.push(() => (configFailures++, down()));
  const n = both(w);
  // Seven failed pulls: the config loop now waits 150–300 s before its next try.
  await passUntil(w, () => configFailures === 7, 10 * 60_000);
  // The master is back, with a new config.
  w.master.heartbeatAnswers.length = 0;
  w.master.heartbeatAnswers.push(...Array.from({ length: 5 }, () => ok(5)));
  w.master.configAnswers.length = 0;
  w.master.configAnswers.push({ kind: "config", config: config(5) });
  const took = await passUntil(w, () => w.state.applied === 5, 5 * 60_000);
  assert.ok(took <= TIMING.heartbeatMs, `current ${took} ms after the master's return`);
  await n.done();
});

Deno.test("a config answer that gets through after failures wakes the heartbeat at once", async () => {
  const w = world();
  let back: { at: number; beats: number } | null = null;
  for (let i = 0; i < 60; i++) w.master.heartbeatAnswers.push(() => (back === null ? down() : ok(2)));
  for (let i = 0; i < 40; i++) w.master.configAnswers.push(down());
  const n = both(w);
  await pass(w, 2 * 60_000); // both loops back off; the heartbeat waits up to 30 s between tries
  // The master is back, and the config loop happens to ask first.
  w.master.configAnswers.length = 0;
  w.master.configAnswers.push(() => {
    back = { at: w.clock.now(), beats: w.master.beats.length };
    return { kind: "unchanged", node_id: NODE, config_version: 0 };
  });
  await passUntil(w, () => back !== null, 5 * 60_000);
  const took = await passUntil(w, () => w.master.beats.length > back!.beats, TIMING.heartbeatMs);
  assert.ok(took <= 250, `a heartbeat ${took} ms after the config answer, not at its own next try`);
  await n.done();
});

Deno.test("a long-poll stuck in a partition is abandoned as soon as a heartbeat gets through", async () => {
  const w = world();
  for (let i = 0; i < 40; i++) w.master.heartbeatAnswers.push(down());
  const n = both(w); // no config answer: the long-poll hangs, as a partition would hold it
  await until("the long-poll sent", () => w.master.gets.length === 1);
  await pass(w, 20_000);
  assert.equal(w.master.gets.length, 1);
  w.master.heartbeatAnswers.length = 0;
  w.master.heartbeatAnswers.push(ok(6), ok(6));
  w.master.configAnswers.push({ kind: "config", config: config(6) });
  const took = await passUntil(w, () => w.state.applied === 6, 5 * 60_000);
  assert.ok(took <= TIMING.heartbeatMs, `current ${took} ms after the heal`);
  assert.equal(w.master.gets[1], "/api/sync/config?have=0&wait=50", "a fresh long-poll after the heartbeat");
  await n.done();
});

Deno.test("lost contact is logged once with the error, then every 5 minutes, and its end is logged", async () => {
  const w = world();
  for (let i = 0; i < 60; i++) w.master.heartbeatAnswers.push(down());
  for (let i = 0; i < 60; i++) w.master.configAnswers.push(down());
  const n = both(w);
  await pass(w, 11 * 60_000);
  const warnings = () => w.log.lines.filter((l) => l.startsWith("<4>") || l.startsWith("<3>"));
  const lost = warnings().filter((l) => l.includes("lost contact with the master"));
  assert.equal(lost.length, 1, warnings().join("\n"));
  assert.match(lost[0]!, /lost contact with the master: .*master unreachable: Connection refused/);
  assert.equal(warnings().filter((l) => /still no contact with the master after (5|10)m/.test(l)).length, 2);
  assert.ok(warnings().length <= 4, `a quiet log while it lasts:\n${warnings().join("\n")}`);
  w.master.heartbeatAnswers.length = 0;
  w.master.heartbeatAnswers.push(
    ...Array.from({ length: 5 }, () => ({ kind: "ok", acked_seq: 0, config_version: 0 })),
  );
  w.master.configAnswers.length = 0;
  await pass(w, TIMING.heartbeatMs);
  assert.equal(
    w.log.lines.filter((l) => /<6>contact with the master restored after 11m/.test(l)).length,
    1,
    w.log.lines.slice(-5).join("\n"),
  );
  await n.done();
});

Deno.test("a request held across the heal that fails after the other loop got through does not report the contact lost again", () => {
  const w = world();
  const lost = () => w.log.lines.filter((l) => l.includes("lost contact with the master")).length;
  const heldSince = w.clock.now(); // the heartbeat sent just before the cut, held by the partition
  w.contact.failed("config", down(), 5_000, w.clock.now());
  assert.equal(lost(), 1);
  w.clock.advance(30_000);
  w.contact.succeeded("config"); // the heal: the config loop gets through first
  w.clock.advance(3_000);
  w.contact.failed("heartbeat", new SyncError(0, "no answer from the master within 3s"), 5_000, heldSince);
  assert.equal(lost(), 1, w.log.lines.join("\n"));
  assert.equal(w.contact.lost, false);
  // A request sent after the heal that fails is a real loss again.
  w.contact.failed("heartbeat", down(), 5_000, w.clock.now());
  assert.equal(lost(), 2);
  assert.equal(w.contact.lost, true);
});
