// A node whose disk is full (issue 17, items 2 and 3): it keeps serving the config it applied, says
// "disk full" to the master instead of crashing into a restart loop, counts the samples it could not
// store as dropped, and keeps the original SQLite error. SQLite's max_page_count makes an in-memory
// queue "full" without any permission; the node's data directory is a memory filesystem that fills up.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { memoryLogger } from "../../../src/core/logger.ts";
import { heartbeatLoop } from "../../../src/node/loops.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { sampleOnce } from "../../../src/node/metrics/sample.ts";
import { FakeClock, MemFs, ScriptedExec } from "../../support/fakes.ts";
import { startNode, waitFor, world } from "./agent_harness.ts";
import { key } from "./fixtures.ts";
import { config, TIMING, until, world as loopsWorld } from "./loops_harness.ts";

const ENOSPC = "No space left on device (os error 28)";

/** A memory filesystem that refuses every write while `full`. */
class FillingFs extends MemFs {
  full = false;
  override writeTextAtomic(path: string, text: string, mode?: number): Promise<void> {
    if (this.full) return Promise.reject(new Error(`${ENOSPC}: writing '${path}.tmp'`));
    return super.writeTextAtomic(path, text, mode);
  }
}

const sample = (i: number) => ({ at: i, peer: key(11), rx: i, tx: i, handshake: 0, endpoint: null });

/** Caps the database at its current size: the next page it needs is "disk full". */
function fill(db: DatabaseSync): void {
  const pages = (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
  db.exec(`PRAGMA max_page_count = ${pages}`);
}

Deno.test("MetricsQueue on a full disk: the SQLite error itself (not 'cannot rollback'), unstored samples counted as dropped", () => {
  const db = new DatabaseSync(":memory:");
  const queue = new MetricsQueue(db, 10_000);
  try {
    queue.enqueue([sample(1), sample(2)]);
    fill(db);
    assert.throws(
      () => queue.enqueue(Array.from({ length: 2_000 }, (_, i) => sample(10 + i))),
      (err: Error) => /database or disk is full/.test(err.message) && !/rollback/.test(err.message),
    );
    assert.deepEqual(queue.stats(), { size: 2, dropped: 2_000 });
    // Space again: the next samples are stored, and the count of lost ones is kept with them.
    db.exec("PRAGMA max_page_count = 1073741823");
    assert.equal(queue.enqueue([sample(3)]), 0);
    assert.deepEqual(queue.stats(), { size: 3, dropped: 2_000 });
    assert.deepEqual(queue.batch().map((s) => s.at), [1, 2, 3]);
  } finally {
    queue.close();
  }
});

Deno.test("sampleOnce() on a full disk logs 'disk full' and counts the samples it lost as dropped", async () => {
  const db = new DatabaseSync(":memory:");
  const queue = new MetricsQueue(db, 10_000);
  try {
    const dump = `wg0\t${key(1)}\t${key(2)}\t51820\toff\n` +
      Array.from(
        { length: 200 },
        (_, i) =>
          `wg0\t${
            btoa(String.fromCharCode(...new Uint8Array(32).fill(i + 20)))
          }\t(none)\t(none)\t10.0.${i}.2/32\t0\t0\t0\toff`,
      )
        .join("\n");
    const exec = new ScriptedExec((argv) =>
      argv.join(" ") === "wg show all dump" ? { code: 0, stdout: dump, stderr: "" } : undefined
    );
    const log = memoryLogger();
    fill(db);
    await sampleOnce({ exec, clock: new FakeClock(), log, queue, queueMax: 10_000 });
    assert.equal(queue.stats().dropped, 200);
    assert.match(log.lines.join("\n"), /<4>metrics sample lost: disk full: .*database or disk is full/);
  } finally {
    queue.close();
  }
});

Deno.test("heartbeatLoop: a delivered heartbeat whose ack cannot be stored is not a failed heartbeat", async () => {
  const w = loopsWorld();
  w.state.configApplied(config(3), { ok: true });
  let acks = 0;
  const queue = {
    batch: () => [{ seq: 1, ...sample(1) }],
    ack: () => {
      acks++;
      throw new Error("database or disk is full");
    },
    stats: () => ({ size: 1, dropped: 0 }),
  };
  w.master.heartbeatAnswers.push(
    { kind: "ok", acked_seq: 1, config_version: 3 },
    { kind: "ok", acked_seq: 1, config_version: 3 },
  );
  const loop = heartbeatLoop({
    ...w.base,
    ...w,
    keys: { publicKeys: () => Promise.resolve({}) },
    queue,
    timing: TIMING,
  });
  await until("first beat answered", () => acks === 1 && w.clock.pendingSleeps === 1);
  const text = w.log.lines.join("\n");
  assert.doesNotMatch(text, /heartbeat.*(failed|retrying)/);
  assert.match(
    text,
    /<4>disk full: cannot delete acknowledged samples: database or disk is full \(they are sent again/,
  );
  w.clock.advance(TIMING.backoffMinMs);
  await Promise.resolve();
  assert.equal(w.master.beats.length, 1, "no retry with backoff: the heartbeat was delivered");
  w.clock.advance(TIMING.heartbeatMs - TIMING.backoffMinMs);
  await until("second beat", () => w.master.beats.length === 2);
  assert.equal(w.master.beats[1]!.status, "error");
  assert.match(String(w.master.beats[1]!.error), /disk full: cannot delete acknowledged samples/);
  w.stopAll.abort();
  await loop;
});

Deno.test("a full disk and a config change: the node keeps running, serves the new config and reports 'disk full' until it can save", async () => {
  const { m, token, iface, node } = await world();
  const fs = new FillingFs();
  const n = startNode(m, node.enrollment_token, { fs });
  let ended = false;
  n.done.then(() => ended = true, () => ended = true);
  await waitFor("the first config saved", () => fs.files.has("/var/lib/wirebuddy-node/last-config.json"));
  const savedBefore = fs.files.get("/var/lib/wirebuddy-node/last-config.json")!.text;
  fs.full = true;
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "phone", node_id: node.id },
  })).json();
  const served = await waitFor(
    "the new peer served",
    () => n.engine.last?.interfaces[0]?.peers.some((p) => p.publicKey === peer.public_key),
  );
  assert.ok(served);
  const shown = await waitFor("'disk full' on the master", () => {
    const v = m.services.nodes.get(node.id);
    return v.status === "error" && v.lastError?.includes("disk full") ? v.lastError : null;
  });
  assert.match(shown, /disk full: cannot save the config \(version \d+\): No space left on device/);
  assert.equal(ended, false, "the daemon is still running");
  assert.equal(fs.files.get("/var/lib/wirebuddy-node/last-config.json")!.text, savedBefore);
  const applies = n.engine.states.length;
  assert.ok(applies <= 3, `no re-apply loop: ${applies} applies`);
  // Space again: the config is saved and the error clears.
  fs.full = false;
  await waitFor(
    "saved after all",
    () => fs.files.get("/var/lib/wirebuddy-node/last-config.json")!.text !== savedBefore,
  );
  await waitFor("online again", () => m.services.nodes.get(node.id).status === "online");
  await n.stop();
  m.close();
});
