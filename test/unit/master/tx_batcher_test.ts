import assert from "node:assert/strict";
import { Db } from "../../../src/master/db/db.ts";
import { TxBatcher } from "../../../src/master/service/tx_batcher.ts";

/** A batcher flushed by hand, over a table `t`. */
function setup() {
  const db = new Db(":memory:");
  db.raw.exec("PRAGMA foreign_keys = ON");
  db.raw.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
  db.raw.exec(
    "CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY, " +
      "parent INTEGER REFERENCES t(id) DEFERRABLE INITIALLY DEFERRED)",
  );
  const flushes: (() => void)[] = [];
  const batcher = new TxBatcher(db, (f) => flushes.push(f));
  const flush = () => flushes.splice(0).forEach((f) => f());
  const insert = (v: string) => () =>
    Number(db.run("INSERT INTO t (v) VALUES (:v)", { v: String(v) }).lastInsertRowid);
  return { db, batcher, flush, flushes, insert };
}

const settle = <T>(p: Promise<T>) =>
  p.then((value) => ({ ok: true as const, value }), (err: Error) => ({ ok: false as const, err }));

Deno.test("TxBatcher runs the items queued in one turn in order, in one transaction", async () => {
  const { db, batcher, flush, flushes, insert } = setup();
  let begins = 0;
  const tx = db.tx.bind(db);
  db.tx = <T>(fn: () => T): T => {
    if (!db.raw.isTransaction) begins++;
    return tx(fn);
  };
  const ps = ["a", "b", "c"].map((v) => batcher.run(insert(v)));
  assert.equal(flushes.length, 1, "one flush scheduled for the batch");
  assert.equal(batcher.pending, 3);
  flush();
  assert.deepEqual(await Promise.all(ps), [1, 2, 3], "in the order queued");
  assert.equal(begins, 1, "one transaction for three items");
  assert.deepEqual(db.all<{ v: string }>("SELECT v FROM t ORDER BY id").map((r) => r.v), ["a", "b", "c"]);
  // The next item schedules a new flush.
  const d = batcher.run(insert("d"));
  assert.equal(flushes.length, 1);
  flush();
  assert.equal(await d, 4);
  db.close();
});

Deno.test("TxBatcher: a failing item rolls back only its own writes and fails only its own promise", async () => {
  const { db, batcher, flush, insert } = setup();
  const a = settle(batcher.run(insert("a")));
  const bad = settle(batcher.run(() => {
    db.run("INSERT INTO t (v) VALUES ('half-written')");
    db.run("INSERT INTO t (v) VALUES ('a')"); // UNIQUE violation
  }));
  const thrown = settle(batcher.run(() => {
    throw new Error("boom");
  }));
  const c = settle(batcher.run(insert("c")));
  flush();
  const [ra, rbad, rthrown, rc] = await Promise.all([a, bad, thrown, c]);
  assert.deepEqual(ra, { ok: true, value: 1 });
  assert.equal(rbad.ok, false);
  assert.match((rbad as { err: Error }).err.message, /UNIQUE/);
  assert.equal(rthrown.ok, false);
  assert.equal((rthrown as { err: Error }).err.message, "boom");
  assert.equal(rc.ok, true);
  assert.deepEqual(
    db.all<{ v: string }>("SELECT v FROM t ORDER BY id").map((r) => r.v),
    ["a", "c"],
    "the failing item's first insert was rolled back with it",
  );
  assert.equal(db.raw.isTransaction, false);
  db.close();
});

Deno.test("TxBatcher resolves only after COMMIT", async () => {
  const { db, batcher, flush, insert } = setup();
  const log: string[] = [];
  const exec = db.raw.exec.bind(db.raw);
  db.raw.exec = (sql: string) => {
    if (/^(BEGIN|COMMIT)/.test(sql)) log.push(sql);
    return exec(sql);
  };
  const done = [batcher.run(insert("a")), batcher.run(insert("b"))].map((p, i) =>
    p.then((id) => {
      log.push(`resolved ${i}`);
      assert.equal(db.raw.isTransaction, false, "the transaction has ended");
      return db.get<{ v: string }>("SELECT v FROM t WHERE id = :id", { id })?.v;
    })
  );
  await Promise.resolve();
  assert.deepEqual(log, [], "nothing runs or is acknowledged before the flush");
  flush();
  assert.deepEqual(await Promise.all(done), ["a", "b"]);
  assert.deepEqual(log, ["BEGIN IMMEDIATE", "COMMIT", "resolved 0", "resolved 1"]);
  db.close();
});

Deno.test("TxBatcher: when the COMMIT fails, every item of the batch fails and nothing is kept", async () => {
  const { db, batcher, flush, insert } = setup();
  const a = settle(batcher.run(insert("a")));
  // A deferred foreign key is checked at COMMIT: the savepoint is released, the COMMIT refused.
  const orphan = settle(batcher.run(() => db.run("INSERT INTO child (parent) VALUES (999)")));
  flush();
  const [ra, ro] = await Promise.all([a, orphan]);
  assert.equal(ra.ok, false, "not acknowledged: its write was not committed");
  assert.equal(ro.ok, false);
  assert.match((ra as { err: Error }).err.message, /FOREIGN KEY/);
  assert.equal(db.get<{ n: number }>("SELECT count(*) AS n FROM t")!.n, 0);
  assert.equal(db.raw.isTransaction, false);
  // The batcher keeps working after a failed batch.
  const b = batcher.run(insert("b"));
  flush();
  assert.equal(typeof (await b), "number");
  db.close();
});

Deno.test("TxBatcher by default flushes on a later turn of the event loop", async () => {
  const db = new Db(":memory:");
  db.raw.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const batcher = new TxBatcher(db);
  const ids = await Promise.all(
    [1, 2].map((v) =>
      batcher.run(() => Number(db.run("INSERT INTO t (v) VALUES (:v)", { v: String(v) }).lastInsertRowid))
    ),
  );
  assert.deepEqual(ids, [1, 2]);
  assert.equal(batcher.pending, 0);
  db.close();
});
