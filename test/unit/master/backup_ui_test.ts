// The backup page: admins download an encrypted backup (audited, never cached); viewers cannot.
import assert from "node:assert/strict";
import { Secret } from "../../../src/core/secret.ts";
import { BackupService } from "../../../src/master/service/backup.ts";
import { openBackup, readEnvelope } from "../../../src/master/service/backup_format.ts";
import { MemFs } from "../../support/fakes.ts";
import { testMaster } from "../../support/master.ts";

const PASS = "correct horse battery staple";

async function withBackups() {
  const m = await testMaster();
  m.services.backups = new BackupService({
    clock: m.clock,
    log: m.log,
    audit: m.services.audit,
    fs: new MemFs(),
    snapshot: () => Promise.resolve(new TextEncoder().encode("the database")),
    schema: 7,
    appVersion: "1.2.3",
    secretKey: new Secret("s".repeat(40)),
    tls: { cert: "CERT", key: "KEY" },
    listDir: () => Promise.resolve([]),
    schedule: { intervalMs: 86_400_000, keep: 7, dir: "/var/lib/wirebuddy/backups", passphraseFile: "/p" },
  });
  await m.addUser("root", "admin");
  await m.addUser("watcher", "viewer");
  return m;
}

Deno.test("an admin downloads an encrypted backup from the backup page; it is audited and not cached", async () => {
  const m = await withBackups();
  try {
    const cookie = await m.login("root");
    const page = await m.request("/ui/backup", { cookie });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /id="backup-form"/);
    assert.match(html, /Scheduled backups: every 1d, keeping 7, in \/var\/lib\/wirebuddy\/backups/);
    const res = await m.form("/ui/backup", { passphrase: PASS, passphrase_confirm: PASS }, { cookie });
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get("content-disposition") ?? "",
      /^attachment; filename="wirebuddy-\d{8}T\d{6}Z\.wbbackup"$/,
    );
    assert.equal(res.headers.get("cache-control"), "no-store");
    const { manifest, ct } = await readEnvelope(await res.text());
    const payload = await openBackup(manifest, ct, PASS);
    assert.equal(atob(payload.db), "the database");
    assert.deepEqual(payload.tls, { cert: "CERT", key: "KEY" });
    const entry = m.services.audit.list({ action: "backup.create" })[0];
    assert.equal(entry?.actor, "root");
    assert.ok(!JSON.stringify(entry).includes(PASS), "the passphrase is not in the audit log");
  } finally {
    m.close();
  }
});

Deno.test("the backup form refuses different or short passphrases with 422 and a viewer with 403", async () => {
  const m = await withBackups();
  try {
    const cookie = await m.login("root");
    const differ = await m.form("/ui/backup", { passphrase: PASS, passphrase_confirm: PASS + "!" }, {
      cookie,
    });
    assert.equal(differ.status, 422);
    assert.match(await differ.text(), /does not match the passphrase/);
    const short = await m.form("/ui/backup", { passphrase: "short", passphrase_confirm: "short" }, {
      cookie,
    });
    assert.equal(short.status, 422);
    assert.match(await short.text(), /at least 12 characters/);
    const viewer = await m.login("watcher");
    const page = await m.request("/ui/backup", { cookie: viewer });
    assert.match(await page.text(), /Only admins can download backups/);
    const denied = await m.form("/ui/backup", { passphrase: PASS, passphrase_confirm: PASS }, {
      cookie: viewer,
    });
    assert.equal(denied.status, 403);
    assert.equal(m.services.audit.list({ action: "backup.create" }).length, 0);
  } finally {
    m.close();
  }
});
