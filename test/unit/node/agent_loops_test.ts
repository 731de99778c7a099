// The agent's loops one by one, each with only the deps it names: a fake master link, a fake engine,
// an in-memory queue and a fake clock (time moves only when the test says; no timers).
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { configLoop, heartbeatLoop, reconcileLoop, takeDown } from "../../../src/node/loops.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { sampleOnce, samplesFromDump } from "../../../src/node/metrics/sample.ts";
import { SyncError } from "../../../src/node/sync_client.ts";
import { FakeClock, ScriptedExec } from "../../support/fakes.ts";
import { key } from "./fixtures.ts";
import { config, NODE, TIMING, until, world } from "./loops_harness.ts";

Deno.test("configLoop applies a newer config, saves the signed answer and wakes the heartbeat", async () => {
  const w = world();
  w.master.configAnswers.push({ kind: "config", config: config(3) });
  const loop = configLoop({ ...w.base, ...w, nodeId: NODE, timing: TIMING });
  await until("saved", () => w.saved.length === 1);
  assert.equal(w.master.gets[0], "/api/sync/config?have=0&wait=50");
  assert.equal(w.engine.states.length, 1);
  assert.equal(w.engine.states[0]!.interfaces[0]!.name, "wg0");
  assert.deepEqual(w.saved[0], {
    body: JSON.stringify({ kind: "config", config: config(3) }),
    signature: "sig",
    nonce: "n1",
    node_id: NODE,
  });
  assert.equal(w.state.applied, 3);
  await until(
    "applied and logged",
    () => w.log.lines.includes("<6>config applied (version=3, interfaces=1, peers=1, commands=0)"),
  );
  await until("next long-poll", () => w.master.gets.length === 2);
  assert.equal(w.master.gets[1], "/api/sync/config?have=3&wait=50");
  // The wake is kept for the heartbeat's next sleep: it returns without time passing.
  await w.heartbeatNow.sleep(w.clock, 30_000, w.base.stop);
  w.stopAll.abort();
  await loop;
});

Deno.test("configLoop refuses an older config and a config for another node, and stops on 'removed'", async () => {
  const w = world();
  w.state.configApplied(config(5), { ok: true });
  w.master.configAnswers.push(
    { kind: "config", config: config(4) },
    { kind: "unchanged", node_id: NODE, config_version: 5 },
    { kind: "config", config: config(6, 99) },
  );
  const loop = configLoop({ ...w.base, ...w, nodeId: NODE, timing: TIMING });
  await until("refused the other node's config", () => w.clock.pendingSleeps === 1);
  assert.equal(w.engine.states.length, 0, "nothing was applied");
  const text = w.log.lines.join("\n");
  assert.match(text, /<4>refusing an older config have=5 got=4/);
  assert.match(text, /<3>refusing a config meant for another node node_id=99/);
  w.master.configAnswers.push({ kind: "removed", node_id: NODE });
  w.clock.advance(5_000);
  await loop;
  assert.equal(w.removals.length, 1);
  assert.equal(w.state.current?.config_version, 5);
});

Deno.test("configLoop: an apply failure is reported and the same version is taken again", async () => {
  const w = world();
  w.engine.next.push({ ok: false, planned: 1, commands: 1, warnings: [], error: undefined });
  w.master.configAnswers.push({ kind: "config", config: config(3) }, { kind: "config", config: config(3) });
  const loop = configLoop({ ...w.base, ...w, nodeId: NODE, timing: TIMING });
  await until("second apply", () => w.saved.length === 1);
  assert.equal(w.engine.states.length, 2);
  assert.match(
    w.log.lines.join("\n"),
    /<3>config apply failed; the next tick tries again version=3 error="?apply failed/,
  );
  assert.equal(w.state.lastError, null);
  w.stopAll.abort();
  await loop;
});

Deno.test("configLoop backs off while the master is unreachable, then asks again", async () => {
  const w = world();
  w.master.configAnswers.push(new SyncError(0, "master unreachable: connection refused"));
  const loop = configLoop({ ...w.base, ...w, nodeId: NODE, timing: TIMING });
  await until("backing off", () => w.clock.pendingSleeps === 1);
  assert.match(
    w.log.lines.join("\n"),
    /<4>lost contact with the master: master unreachable: connection refused; retrying in [3-5]s \(serving the last good config\)/,
  );
  assert.equal(w.master.gets.length, 1, "no retry before the backoff");
  w.clock.advance(5_000);
  await until("asked again", () => w.master.gets.length === 2);
  w.stopAll.abort();
  await loop;
});

Deno.test("heartbeatLoop sends status, keys when they change and queued samples, deleting them once acked", async () => {
  const w = world();
  const queue = new MetricsQueue(":memory:", 10_000);
  try {
    w.state.configApplied(config(3), { ok: true });
    queue.enqueue([
      { at: 1, peer: key(11), rx: 1, tx: 2, handshake: 0, endpoint: null },
      { at: 2, peer: key(11), rx: 3, tx: 4, handshake: 0, endpoint: null },
    ]);
    w.master.heartbeatAnswers.push(
      { kind: "ok", acked_seq: 2, config_version: 3 },
      { kind: "ok", acked_seq: 2, config_version: 3 },
    );
    const loop = heartbeatLoop({
      ...w.base,
      ...w,
      keys: { publicKeys: () => Promise.resolve({ wg0: key(2) }) },
      queue,
      timing: TIMING,
    });
    await until("first beat answered", () => w.clock.pendingSleeps === 1);
    assert.equal(queue.stats().size, 0);
    const first = w.master.beats[0]!;
    assert.equal(first.status, "online");
    assert.equal(first.applied_version, 3);
    assert.deepEqual(first.interfaces, [{ name: "wg0", public_key: key(2), listen_port: 51821, peers: 1 }]);
    assert.equal((first.metrics as unknown[]).length, 2);
    assert.ok(w.log.lines.includes("<6>ACK received: deleted 2 metrics (up to seq 2)"));
    assert.ok(w.log.lines.includes("<6>heartbeat sent (status=online)"));
    w.clock.advance(30_000);
    await until("second beat answered", () => w.master.beats.length === 2 && w.clock.pendingSleeps === 1);
    assert.deepEqual(w.master.beats[1], { status: "online", applied_version: 3 }, "a quiet heartbeat");
    assert.ok(w.log.lines.includes("<7>heartbeat sent (status=online)"), "the same status again is debug");
    // A failed apply shows at the next beat, which the config loop asks for at once.
    w.state.configApplied(config(4), { ok: false, error: { message: "wg exited 1" } });
    w.master.heartbeatAnswers.push({ kind: "removed", node_id: NODE });
    w.heartbeatNow.wake();
    await loop;
    assert.equal(w.master.beats[2]!.status, "error");
    assert.equal(w.master.beats[2]!.error, "wg exited 1");
    assert.equal(w.removals.length, 1);
  } finally {
    queue.close();
  }
});

Deno.test("takeDown() takes the host down once, forgets the enrollment and stops every loop", async () => {
  const w = world();
  let forgotten = 0;
  const d = { ...w, disk: { forget: () => (forgotten++, Promise.resolve()) } };
  await Promise.all([takeDown(d), takeDown(d)]);
  assert.deepEqual(w.engine.states, [{ interfaces: [], forwarding: { ipv4: false, ipv6: false } }]);
  assert.equal(forgotten, 1);
  assert.equal(w.stopAll.signal.aborted, true);
  assert.ok(w.log.lines.some((l) => l.includes("this node was removed on the master")));
});

Deno.test("reconcileLoop re-applies the served config every interval, logs repairs and clears a failure", async () => {
  const w = world();
  const loop = reconcileLoop({ ...w.base, ...w, intervalMs: 30_000 });
  await until("first wait", () => w.clock.pendingSleeps === 1);
  w.clock.advance(30_000);
  await until("nothing served yet", () => w.clock.pendingSleeps === 1);
  assert.equal(w.engine.states.length, 0);
  w.state.configApplied(config(3), { ok: true });
  w.state.configApplied(config(4), { ok: false, error: { message: "busy" } });
  w.engine.next.push({ ok: true, planned: 2, commands: 2, warnings: [] });
  w.clock.advance(30_000);
  await until("repaired", () => w.engine.states.length === 1 && w.clock.pendingSleeps === 1);
  assert.ok(w.log.lines.includes("<6>repaired the host commands=2"));
  assert.equal(w.state.lastError, null);
  assert.equal(w.state.applied, 4);
  w.state.markRemoved();
  w.clock.advance(30_000);
  await until("next wait", () => w.clock.pendingSleeps === 1);
  assert.equal(w.engine.states.length, 1, "a removed node is not re-applied");
  w.stopAll.abort();
  await loop;
});

Deno.test("sampleOnce() queues one sample per peer of `wg show all dump`, at the clock's time", async () => {
  const clock = new FakeClock();
  const log = memoryLogger();
  const queue = new MetricsQueue(":memory:", 10);
  try {
    const dump = [
      `wg0\t${key(1)}\t${key(2)}\t51820\toff`,
      `wg0\t${key(11)}\t(none)\t198.51.100.5:40000\t10.13.13.2/32\t1700000000\t92\t148\t25`,
      `wg0\t${key(12)}\t(none)\t(none)\t10.13.13.3/32\t0\t0\t0\toff`,
    ].join("\n");
    const exec = new ScriptedExec((argv) =>
      argv.join(" ") === "wg show all dump" ? { code: 0, stdout: dump, stderr: "" } : undefined
    );
    await sampleOnce({ exec, clock, log, queue, queueMax: 10 });
    assert.deepEqual(queue.batch().map(({ seq: _, ...s }) => s), [
      {
        at: clock.now(),
        peer: key(11),
        rx: 92,
        tx: 148,
        handshake: 1700000000,
        endpoint: "198.51.100.5:40000",
      },
      { at: clock.now(), peer: key(12), rx: 0, tx: 0, handshake: 0, endpoint: null },
    ]);
    for (let i = 0; i < 4; i++) await sampleOnce({ exec, clock, log, queue, queueMax: 10 });
    assert.equal(queue.stats().dropped, 0);
    await sampleOnce({ exec, clock, log, queue, queueMax: 10 });
    assert.ok(log.lines.includes("<4>metrics queue full: dropped the oldest samples dropped=2 cap=10"));
    const broken = new ScriptedExec();
    await sampleOnce({ exec: broken, clock, log, queue, queueMax: 10 });
    assert.ok(
      log.lines.some((l) => l.startsWith("<4>metrics sample failed")),
      "a failure is logged, not thrown",
    );
    assert.deepEqual(samplesFromDump("", 0), []);
  } finally {
    queue.close();
  }
});
