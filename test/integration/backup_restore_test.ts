// `wirebuddy-master backup` and `restore FILE` as an operator runs them: an online backup of a master
// that keeps its database open, restored onto a fresh install with another WIREBUDDY_SECRET_KEY; the
// refusals (damaged file, wrong passphrase, newer schema) with their exit codes and messages.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createLogger } from "../../src/core/logger.ts";
import { realClock, realFs } from "../../src/core/ports/real.ts";
import { bootMaster } from "../../src/master/boot.ts";
import { parseMasterEnv } from "../../src/master/config.ts";
import { freePort, runProgram } from "../support/programs.ts";

const SECRET_A = "backup-test-secret-a-0123456789-abcdefghij";
const SECRET_B = "backup-test-secret-b-0123456789-abcdefghij";
const PASS = "correct horse battery staple";
const system = { kind: "system" as const, name: "test" };
const quiet = createLogger({ sink: () => {}, format: "terminal", level: "error" });

/** A port nothing listens on: `restore` refuses while a master answers on its listen port. */
const PORT = freePort();

function envOf(dir: string, secret: string) {
  return {
    WIREBUDDY_DATA_DIR: dir,
    WIREBUDDY_SECRET_KEY: secret,
    WIREBUDDY_PUBLIC_URL: "https://vpn.test:8443",
    WIREBUDDY_LISTEN: `127.0.0.1:${PORT}`,
  };
}

async function boot(dir: string, secret: string) {
  const parsed = parseMasterEnv(envOf(dir, secret));
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return await bootMaster(parsed.value, { fs: realFs, clock: realClock, log: quiet });
}

function metaOf(dir: string, key: string): string | undefined {
  const db = new DatabaseSync(`${dir}/wirebuddy.db`, { readOnly: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)
      ?.value;
  } finally {
    db.close();
  }
}

async function withDirs(fn: (a: string, b: string, work: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "wb-backup-" });
  try {
    await fn(`${root}/old-vps`, `${root}/new-vps`, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("a backup restored onto a fresh install with another secret key keeps peers, keys, TLS pin and signing key", async () => {
  await withDirs(async (a, b, work) => {
    // The old VPS: a master with an interface, a peer and a webhook secret, still running (DB open).
    const old = await boot(a, SECRET_A);
    let aliceConf: string, pin: string;
    try {
      await old.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
      const alice = await old.services.peers.create(system, null, { interface_id: 1, name: "alice" });
      await old.services.webhooks.create(system, null, {
        name: "ops",
        url: "https://hooks.test/x",
        secret: "s3cret-hook",
      });
      aliceConf = (await old.services.clientConfigs.forPeer(system, null, alice.id, "conf")).text;
      pin = old.tls!.fingerprint;
      const file = `${work}/master.wbbackup`;
      const made = await runProgram("master", ["backup", "--out", file], envOf(a, SECRET_A), PASS + "\n");
      assert.equal(made.code, 0, made.output);
      assert.match(
        await Deno.readTextFile(file),
        /^WIREBUDDY-BACKUP 1\n\{"format":1,"app_version":"[^"]+","schema":\d+/,
      );
      assert.ok(!(await Deno.readTextFile(file)).includes(SECRET_A), "the secret key is encrypted");
    } finally {
      old.close();
    }
    const verifyKey = metaOf(a, "sync_verify_key");

    // The new VPS: a fresh install (its own secret key, certificate and database; its local node enrolled).
    const fresh = await runProgram("master", ["node", "local-token"], envOf(b, SECRET_B));
    assert.equal(fresh.code, 0, fresh.output);
    assert.notEqual(metaOf(b, "sync_verify_key"), verifyKey);

    // `restore -`: the passphrase line, then the backup, on stdin (as root pipes it to the master's user).
    const backup = await Deno.readTextFile(`${work}/master.wbbackup`);
    const restored = await runProgram("master", ["restore", "-"], envOf(b, SECRET_B), `${PASS}\n${backup}`);
    assert.equal(restored.code, 0, restored.output);
    assert.match(restored.output, /backup restored/);
    assert.match(restored.output, /local_node_kept=false/, "another master's local node must enroll again");
    assert.ok(await realFs.exists(`${b}/wirebuddy.db.before-restore`), "the replaced database is kept");

    const now = await boot(b, SECRET_B);
    try {
      assert.equal(now.tls!.fingerprint, pin, "the TLS pin in every node's token still matches");
      assert.equal(metaOf(b, "sync_verify_key"), verifyKey, "the answer-signing key is the old master's");
      const conf = (await now.services.clientConfigs.forPeer(system, null, 1, "conf")).text;
      assert.equal(conf, aliceConf, "the client's config (its private key and PSK) opens under the new key");
    } finally {
      now.close();
    }
  });
});

Deno.test("restore refuses a damaged file (65), a wrong passphrase (77) and a newer schema (78), changing nothing", async () => {
  await withDirs(async (a, b, work) => {
    const made = await runProgram(
      "master",
      ["backup", "--out", `${work}/ok.wbbackup`],
      envOf(a, SECRET_A),
      PASS,
    );
    assert.equal(made.code, 0, made.output);
    const text = await Deno.readTextFile(`${work}/ok.wbbackup`);
    const [magic, header, ...body] = text.split("\n");
    const flipped = body[0]!.startsWith("A") ? "B" + body[0]!.slice(1) : "A" + body[0]!.slice(1);
    const cases: { name: string; text: string; pass: string; code: number; message: RegExp }[] = [
      { name: "foreign", text: "hello\n", pass: PASS, code: 65, message: /not a readable WireBuddy backup/ },
      {
        name: "damaged",
        text: [magic, header, flipped, ...body.slice(1)].join("\n"),
        pass: PASS,
        code: 65,
        message: /does not match its checksum \(damaged or truncated\)/,
      },
      {
        name: "truncated",
        text: [magic, header, ...body.slice(0, 1)].join("\n"),
        pass: PASS,
        code: 65,
        message: /damaged or truncated/,
      },
      { name: "wrong", text, pass: "not the passphrase at all", code: 77, message: /Wrong passphrase/ },
      {
        name: "newer",
        text: [magic, header!.replace(/"schema":\d+/, '"schema":999'), ...body].join("\n"),
        pass: PASS,
        code: 78,
        message: /backup has schema v999 .* newer than this WireBuddy .* Install WireBuddy .* or later/,
      },
    ];
    const fresh = await runProgram("master", ["node", "local-token"], envOf(b, SECRET_B));
    assert.equal(fresh.code, 0, fresh.output);
    const before = await Deno.readFile(`${b}/wirebuddy.db`);
    for (const c of cases) {
      await Deno.writeTextFile(`${work}/${c.name}.wbbackup`, c.text);
      const r = await runProgram(
        "master",
        ["restore", `${work}/${c.name}.wbbackup`],
        envOf(b, SECRET_B),
        c.pass,
      );
      assert.equal(r.code, c.code, `${c.name}: ${r.output}`);
      assert.match(r.output, c.message, c.name);
    }
    assert.deepEqual(await Deno.readFile(`${b}/wirebuddy.db`), before, "a refused restore changes nothing");
    assert.ok(!(await realFs.exists(`${b}/wirebuddy.db.restoring`)));
  });
});

Deno.test("the passphrase never comes from argv: backup without stdin or --passphrase-file is refused", async () => {
  await withDirs(async (a) => {
    const r = await runProgram("master", ["backup", "--passphrase", "x"], envOf(a, SECRET_A));
    assert.equal(r.code, 64, r.output);
    const empty = await runProgram("master", ["backup"], envOf(a, SECRET_A), "");
    assert.notEqual(empty.code, 0);
    assert.match(empty.output, /passphrase is empty/);
  });
});

Deno.test("restored over the same master (a rollback), the local node beside it keeps its enrollment", async () => {
  await withDirs(async (a, _b, work) => {
    const made = await runProgram(
      "master",
      ["backup", "--out", `${work}/before.wbbackup`],
      envOf(a, SECRET_A),
      PASS,
    );
    assert.equal(made.code, 0, made.output);
    const db = new DatabaseSync(`${a}/wirebuddy.db`);
    db.exec(
      "UPDATE nodes SET node_secret_hash = 'local-hash', verify_key = 'local-key', config_version = 9 WHERE is_local = 1",
    );
    db.close();
    const r = await runProgram("master", ["restore", `${work}/before.wbbackup`], envOf(a, SECRET_A), PASS);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /local_node_kept=true/);
    const after = new DatabaseSync(`${a}/wirebuddy.db`, { readOnly: true });
    const row = after.prepare(
      "SELECT node_secret_hash, verify_key, config_version FROM nodes WHERE is_local = 1",
    ).get();
    after.close();
    assert.deepEqual({ ...row }, {
      node_secret_hash: "local-hash",
      verify_key: "local-key",
      config_version: 10,
    });
  });
});

Deno.test("restore refuses while a master answers on the listen port, changing nothing", async () => {
  await withDirs(async (a, _b, work) => {
    const made = await runProgram(
      "master",
      ["backup", "--out", `${work}/b.wbbackup`],
      envOf(a, SECRET_A),
      PASS,
    );
    assert.equal(made.code, 0, made.output);
    const before = await Deno.readFile(`${a}/wirebuddy.db`);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: PORT });
    try {
      const r = await runProgram("master", ["restore", `${work}/b.wbbackup`], envOf(a, SECRET_A), PASS);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, new RegExp(`A master is running on 127\\.0\\.0\\.1:${PORT}: stop it first`));
    } finally {
      listener.close();
    }
    assert.deepEqual(await Deno.readFile(`${a}/wirebuddy.db`), before);
  });
});
