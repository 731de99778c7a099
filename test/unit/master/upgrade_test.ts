// Upgrades: a database written by the previous schema (test/fixtures/db, made by scripts/gen_db_fixture.ts
// from that schema's own migrations) opens and migrates forward, and the fleet in it is intact: peers and
// their sealed keys, nodes, traffic history, webhooks, audit.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { Db, migrate, SCHEMA_VERSION } from "../../../src/master/db/db.ts";
import { recordedSchema } from "../../../src/master/db/backup_repo.ts";
import { initSecrets } from "../../../src/master/service/secrets.ts";
import { createServices } from "../../../src/master/service/services.ts";
import previous from "../../fixtures/db/schema_v5.sql" with { type: "text" };
import gap from "../../fixtures/db/schema_v7_without_v6.sql" with { type: "text" };
import { FakeClock } from "../../support/fakes.ts";
import { TEST_SECRET } from "../../support/master.ts";

const FIXTURE_SCHEMA = 5;
const system = { kind: "system" as const, name: "test" };
const count = (db: Db, from: string) => db.get<{ n: number }>(`SELECT count(*) AS n FROM ${from}`)!.n;

Deno.test("a database from the previous schema migrates forward and keeps the fleet", async () => {
  const clock = new FakeClock();
  const db = new Db(":memory:");
  try {
    db.raw.exec(previous);
    assert.equal(recordedSchema(db), FIXTURE_SCHEMA);
    assert.ok(SCHEMA_VERSION > FIXTURE_SCHEMA, "the fixture is from an older schema");
    const before = {
      peers: count(db, "peers"),
      nodes: count(db, "nodes"),
      metrics: count(db, "peer_metrics"),
    };

    const applied = migrate(db, clock.now());
    assert.deepEqual(
      applied,
      Array.from({ length: SCHEMA_VERSION - FIXTURE_SCHEMA }, (_, i) => FIXTURE_SCHEMA + 1 + i),
    );
    assert.equal(recordedSchema(db), SCHEMA_VERSION);
    assert.deepEqual(migrate(db, clock.now()), [], "a second start migrates nothing");
    assert.deepEqual(
      { peers: count(db, "peers"), nodes: count(db, "nodes"), metrics: count(db, "peer_metrics") },
      before,
    );

    // The same secret key opens the migrated database; the services start on it and read the sealed keys.
    const keys = await initSecrets(db, TEST_SECRET);
    const s = await createServices(db, clock, keys, memoryLogger(), {
      sessionTtlMs: 3_600_000,
      publicHost: "vpn.example.com",
      publicUrl: new URL("https://vpn.example.com:8443"),
      tls: null,
    });
    const conf = await s.clientConfigs.forPeer(system, null, 1, "conf");
    assert.match(conf.text, /^PrivateKey = [A-Za-z0-9+/]{43}=$/m);
    assert.match(conf.text, /^PresharedKey = [A-Za-z0-9+/]{43}=$/m);
    const nodes = s.nodes.list().map((n) => n.name).sort();
    assert.deepEqual(nodes, ["local", "tokyo"]);
    const tokyo = await s.sync.config(2);
    assert.ok(tokyo.config_version >= 7, "the node's config version did not go backwards");
    assert.equal(s.audit.list({ action: "peer.create" }).length, 1);
  } finally {
    db.close();
  }
});

Deno.test("a database from a newer schema is refused, naming both versions", () => {
  const db = new Db(":memory:");
  try {
    db.raw.exec(previous);
    db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, 'from the future', 0)", {
      v: SCHEMA_VERSION + 1,
    });
    assert.throws(
      () => migrate(db, 0),
      new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this program's ${SCHEMA_VERSION}`),
    );
  } finally {
    db.close();
  }
});

Deno.test("a database that recorded v7 without v6 (two branches appended at once) gets v6 at the next start", () => {
  const db = new Db(":memory:");
  try {
    db.raw.exec(gap); // written at commit 59f2a48, whose migrations went 1..5, 7
    assert.equal(recordedSchema(db), 7);
    assert.equal(count(db, "sqlite_master WHERE name = 'sync_sessions'"), 0);
    const applied = migrate(db, 0);
    assert.ok(applied.includes(6), `applied ${applied.join(", ")}`);
    assert.equal(count(db, "sqlite_master WHERE name = 'sync_sessions'"), 1);
    assert.deepEqual(migrate(db, 0), []);
  } finally {
    db.close();
  }
});
