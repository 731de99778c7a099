// The backup file format, the scheduled backups' retention, and the restore's list of sealed columns.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { Secret } from "../../../src/core/secret.ts";
import { openDb } from "../../../src/master/db/db.ts";
import { textColumns } from "../../../src/master/db/backup_repo.ts";
import { AuditService } from "../../../src/master/service/audit.ts";
import { backupFileName, BackupService } from "../../../src/master/service/backup.ts";
import { openBackup, readEnvelope, sealBackup } from "../../../src/master/service/backup_format.ts";
import { SEALED } from "../../../src/master/service/restore.ts";
import { AppError } from "../../../src/core/errors.ts";
import { FakeClock, MemFs } from "../../support/fakes.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const PASS = "correct horse battery staple";
const payload = {
  db_sha256: "5fa7c0bd4ed1b0f2ef0e1e6b0e87c4e6dd8b2ff50db24d1cd2e6bbb0b6f7e5d2",
  db: "",
  secret_key: "x".repeat(40),
  tls: { cert: "CERT", key: "KEY" },
};

async function sample() {
  const dbBytes = new TextEncoder().encode("SQLite format 3\u0000 pretend");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", dbBytes));
  const p = {
    ...payload,
    db: btoa(String.fromCharCode(...dbBytes)),
    db_sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
  };
  return { p, text: await sealBackup(p, { appVersion: "1.2.3", schema: 7, createdAt: new Date(0) }, PASS) };
}

async function rejects(fn: () => Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("a backup opens with its passphrase and keeps a readable manifest", async () => {
  const { p, text } = await sample();
  const { manifest, ct } = await readEnvelope(text);
  assert.equal(manifest.app_version, "1.2.3");
  assert.equal(manifest.schema, 7);
  assert.equal(manifest.created_at, "1970-01-01T00:00:00.000Z");
  assert.ok(!text.includes(p.secret_key) && !text.includes("CERT"), "contents are encrypted");
  assert.deepEqual(await openBackup(manifest, ct, PASS), p);
});

Deno.test("a wrong passphrase, a damaged body and an edited manifest are told apart", async () => {
  const { text } = await sample();
  const { manifest, ct } = await readEnvelope(text);
  await rejects(() => openBackup(manifest, ct, "another passphrase!"), "unauthorized", /Wrong passphrase/);
  const lines = text.split("\n");
  const body = lines[2]!;
  lines[2] = (body[0] === "A" ? "B" : "A") + body.slice(1);
  await rejects(() => readEnvelope(lines.join("\n")), "validation", /does not match its checksum/);
  const edited = text.replace('"app_version":"1.2.3"', '"app_version":"9.9.9"');
  const e = await readEnvelope(edited);
  await rejects(() => openBackup(e.manifest, e.ct, PASS), "validation", /does not decrypt/);
  await rejects(() => readEnvelope("SQLite format 3"), "validation", /does not start with WIREBUDDY-BACKUP/);
});

Deno.test("a short backup passphrase is refused", async () => {
  await rejects(
    () => sealBackup(payload, { appVersion: "1", schema: 1, createdAt: new Date(0) }, "short"),
    "validation",
    /at least 12 characters/,
  );
});

Deno.test("every sealed column of the schema has a re-sealing context in restore", () => {
  const db = openDb(":memory:", 0);
  const sealed = textColumns(db).filter((c) => c.column.endsWith("_sealed")).map((c) =>
    `${c.table}.${c.column}`
  );
  assert.ok(sealed.length >= 5, sealed.join(", "));
  for (const col of sealed) {
    assert.ok(col in SEALED, `${col} must be listed in SEALED (src/master/service/restore.ts)`);
  }
  db.close();
});

Deno.test("scheduled backups keep the newest N files and only ours", async () => {
  const clock = new FakeClock();
  const fs = new MemFs();
  const db = openDb(":memory:", clock.now());
  await fs.writeTextAtomic("/secrets/pass", PASS + "\n");
  await fs.writeTextAtomic("/b/notes.txt", "mine");
  const list = (dir: string) =>
    Promise.resolve(
      [...fs.files.keys()].filter((k) => k.startsWith(dir + "/")).map((k) => k.slice(dir.length + 1)),
    );
  const audit = new AuditService(db, clock);
  const service = new BackupService({
    clock,
    log: memoryLogger(),
    audit,
    fs,
    snapshot: () => Promise.resolve(new TextEncoder().encode("db bytes")),
    schema: 7,
    appVersion: "1.2.3",
    secretKey: new Secret("k".repeat(40)),
    tls: null,
    listDir: list,
  });
  const written: string[] = [];
  for (let i = 0; i < 4; i++) {
    written.push(await service.scheduled({ dir: "/b", keep: 2, passphraseFile: "/secrets/pass" }));
    clock.advance(3_600_000);
  }
  assert.deepEqual(
    (await list("/b")).sort(),
    [
      "notes.txt",
      backupFileName(new Date(clock.now() - 2 * 3_600_000)),
      backupFileName(new Date(clock.now() - 3_600_000)),
    ].sort(),
  );
  assert.equal(written[3], `/b/${backupFileName(new Date(clock.now() - 3_600_000))}`);
  const actions = audit.list().map((a) => `${a.actor} ${a.action}`);
  assert.equal(actions.filter((a) => a === "scheduler backup.create").length, 4);
  db.close();
});

Deno.test("only an admin may make a backup", async () => {
  const clock = new FakeClock();
  const db = openDb(":memory:", clock.now());
  const service = new BackupService({
    clock,
    log: memoryLogger(),
    audit: new AuditService(db, clock),
    fs: new MemFs(),
    snapshot: () => Promise.resolve(new Uint8Array()),
    schema: 7,
    appVersion: "1",
    secretKey: new Secret("k".repeat(40)),
    tls: null,
    listDir: () => Promise.resolve([]),
  });
  const viewer = {
    kind: "user" as const,
    userId: 2,
    username: "v",
    role: "viewer" as const,
    sessionHash: "",
  };
  await rejects(() => service.create(viewer, null, PASS), "forbidden", /Only an admin/);
  db.close();
});

Deno.test("a node holding a newer config than a restored database moves the master's version past it", async () => {
  const m = await testMaster();
  try {
    const n = await enrolled(m, "tokyo");
    const row = () =>
      m.db.get<{ config_version: number }>("SELECT config_version FROM nodes WHERE id = :id", {
        id: n.node.id,
      })!;
    const restored = row().config_version;
    const hb = await sendHeartbeat(m, n, { applied_version: restored + 40 });
    assert.equal(hb.res.status, 200, hb.text);
    assert.equal(row().config_version, restored + 41, "the next config is newer than what the node holds");
    const again = await sendHeartbeat(m, n, { applied_version: restored + 41 });
    assert.equal(again.res.status, 200, again.text);
    assert.equal(row().config_version, restored + 41, "an up-to-date node changes nothing");
  } finally {
    m.close();
  }
});
