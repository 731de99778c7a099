import assert from "node:assert/strict";
import { Db, migrate, openDb, schemaVersion } from "../../../src/master/db/db.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../../src/master/db/migrations.ts";
import { AppError } from "../../../src/core/errors.ts";

Deno.test("migrate applies every migration once and records it", () => {
  const db = new Db(":memory:");
  assert.deepEqual(migrate(db, 1), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(migrate(db, 2), []);
  assert.equal(schemaVersion(db), SCHEMA_VERSION);
  assert.equal(db.get<{ n: number }>("SELECT count(*) AS n FROM schema_migrations")!.n, MIGRATIONS.length);
  db.close();
});

Deno.test("openDb refuses a database from a newer schema", () => {
  const db = openDb(":memory:", 1);
  db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 1)");
  assert.throws(
    () => migrate(db, 2),
    (e) => e instanceof AppError && e.code === "config" && /newer than this program/.test(e.message),
  );
  db.close();
});

Deno.test("tx() rolls back everything on a throw", () => {
  const db = openDb(":memory:", 1);
  assert.throws(() =>
    db.tx(() => {
      db.run("INSERT INTO meta (key, value) VALUES ('a', '1')");
      throw new Error("boom");
    })
  );
  assert.equal(db.get("SELECT * FROM meta WHERE key = 'a'"), undefined);
  db.close();
});

Deno.test("a nested tx() rolls back only its own savepoint", () => {
  const db = openDb(":memory:", 1);
  db.tx(() => {
    db.run("INSERT INTO meta (key, value) VALUES ('outer', '1')");
    assert.throws(() =>
      db.tx(() => {
        db.run("INSERT INTO meta (key, value) VALUES ('inner', '1')");
        throw new Error("inner fails");
      })
    );
  });
  assert.deepEqual(db.all<{ key: string }>("SELECT key FROM meta").map((r) => r.key), ["outer"]);
  db.close();
});

Deno.test("foreign keys are enforced", () => {
  const db = openDb(":memory:", 1);
  assert.throws(() =>
    db.run(
      "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent) VALUES ('h', 42, 1, 2, 1, '', '')",
    ), /FOREIGN KEY/);
  db.close();
});
