// The real wirebuddy-master program: configuration errors, the key check, the admin CLI, TLS.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { freePort, runProgram, startProgram, tlsClient } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const SECRET = "integration-secret-0123456789-abcdefghijkl";

async function withDataDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "wb-master-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wirebuddy-master version and --help", async () => {
  const v = await runProgram("master", ["version"], {});
  assert.equal(v.code, 0);
  assert.match(v.output, /^wirebuddy-master \d+\.\d+\.\d+ \(deno 2\.9\.\d+, schema v\d+\)/);
  const h = await runProgram("master", ["--help"], {});
  assert.equal(h.code, 0);
  assert.match(h.output, /admin reset-password --username NAME/);
  const bad = await runProgram("master", ["--frobnicate"], {});
  assert.equal(bad.code, 64);
});

Deno.test("bad configuration lists every problem and exits 78", async () => {
  const r = await runProgram("master", ["serve"], {
    WIREBUDDY_LISTEN: "nowhere",
    WIREBUDDY_TLS: "sometimes",
    WIREBUDDY_SECRET_KEY: "short",
  });
  assert.equal(r.code, 78);
  const lines = r.output.trim().split("\n").filter((l) => l.includes("configuration:"));
  assert.equal(lines.length, 3, r.output);
  assert.ok(!r.output.includes('short"'), "the secret is not echoed");
});

Deno.test("restarting with a different WIREBUDDY_SECRET_KEY stops with a clear error and exit 78", async () => {
  await withDataDir(async (dir) => {
    const env = { WIREBUDDY_DATA_DIR: dir, WIREBUDDY_SECRET_KEY: SECRET };
    const created = await runProgram(
      "master",
      ["admin", "create", "--username", "root"],
      env,
      "a good long password\n",
    );
    assert.equal(created.code, 0, created.output);
    const other = await runProgram("master", ["serve"], {
      ...env,
      WIREBUDDY_SECRET_KEY: "another-secret-0123456789-abcdefghijklmn",
    });
    assert.equal(other.code, 78, other.output);
    assert.match(other.output, /WIREBUDDY_SECRET_KEY does not match the key this database was created with/);
    const mode = (await Deno.stat(`${dir}/wirebuddy.db`)).mode! & 0o777;
    assert.equal(mode, 0o600, "the database is private");
  });
});

Deno.test("the master refuses a database from a newer schema with exit 78", async () => {
  await withDataDir(async (dir) => {
    const env = { WIREBUDDY_DATA_DIR: dir, WIREBUDDY_SECRET_KEY: SECRET };
    assert.equal(
      (await runProgram("master", ["admin", "create", "--username", "root"], env, "a good long password"))
        .code,
      0,
    );
    const db = new DatabaseSync(`${dir}/wirebuddy.db`);
    db.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from the future', 0)");
    db.close();
    const r = await runProgram("master", ["serve"], env);
    assert.equal(r.code, 78);
    assert.match(r.output, /schema version 9999, newer than this program/);
  });
});

Deno.test("admin create and reset-password take the password from stdin", async () => {
  await withDataDir(async (dir) => {
    const env = { WIREBUDDY_DATA_DIR: dir, WIREBUDDY_SECRET_KEY: SECRET };
    const weak = await runProgram("master", ["admin", "create", "--username", "root"], env, "short");
    assert.notEqual(weak.code, 0);
    assert.match(weak.output, /password: must be at least 10 characters/);
    assert.equal(
      (await runProgram("master", ["admin", "create", "--username", "root"], env, "first long password"))
        .code,
      0,
    );
    const dup = await runProgram(
      "master",
      ["admin", "create", "--username", "root"],
      env,
      "first long password",
    );
    assert.notEqual(dup.code, 0);
    assert.match(dup.output, /already exists/);
    const reset = await runProgram(
      "master",
      ["admin", "reset-password", "--username", "root"],
      env,
      "second long password\n",
    );
    assert.equal(reset.code, 0, reset.output);
    assert.ok(!reset.output.includes("second long password"), "the password is never logged");
    const missing = await runProgram(
      "master",
      ["admin", "reset-password", "--username", "nobody"],
      env,
      "whatever password",
    );
    assert.notEqual(missing.code, 0);
  });
});

Deno.test("serve answers over HTTPS with its self-signed certificate and prints a setup link", async () => {
  await withDataDir(async (dir) => {
    const port = freePort();
    const master = await startProgram("master", ["serve"], {
      WIREBUDDY_DATA_DIR: dir,
      WIREBUDDY_SECRET_KEY: SECRET,
      WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
    });
    try {
      const link = await waitFor(
        "the setup link",
        () => master.output().match(/(https:\/\/127\.0\.0\.1:\d+\/setup\?token=[\w-]+)/)?.[1],
        { timeoutMs: 15_000 },
      );
      const cert = await Deno.readTextFile(`${dir}/tls/cert.pem`);
      assert.equal((await Deno.stat(`${dir}/tls/key.pem`)).mode! & 0o777, 0o600);
      const client = tlsClient(cert);
      try {
        const health = await fetch(`https://127.0.0.1:${port}/api/health`, { client });
        assert.deepEqual(await health.json(), { status: "healthy", service: "wirebuddy" });
        const setup = await fetch(link, { client });
        assert.equal(setup.status, 200);
        await setup.body?.cancel();
      } finally {
        client.close();
      }
      assert.match(master.output(), /tls_sha256=[0-9a-f]{64}/);
    } finally {
      const status = await master.stop("SIGTERM");
      assert.equal(status.code, 0, "SIGTERM is a clean shutdown");
    }
  });
});

Deno.test("admin token prints a working API token for automation", async () => {
  await withDataDir(async (dir) => {
    const env = { WIREBUDDY_DATA_DIR: dir, WIREBUDDY_SECRET_KEY: SECRET };
    assert.equal(
      (await runProgram("master", ["admin", "create", "--username", "root"], env, "a good long password"))
        .code,
      0,
    );
    const r = await runProgram("master", [
      "admin",
      "token",
      "--username",
      "root",
      "--scope",
      "read",
      "--name",
      "ci",
    ], env);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^wbt_[A-Za-z0-9_-]{43}$/m);
    const bad = await runProgram("master", ["admin", "token", "--username", "root", "--scope", "root"], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /scope: must be read or write/);
  });
});
