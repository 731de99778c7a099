// Issue 16, the parts a unit test can show: bounded password hashing, an atomic login lock that a
// success does not reset, one audit row per lock, bodies refused while they stream in, CSRF against the
// configured origins only, and storage faults as 503 "storage full" with the original cause kept.
// (Races and connection limits against the real server: test/integration/master_abuse_test.ts.)
import assert from "node:assert/strict";
import { AppError } from "../../../src/core/errors.ts";
import { HashPool } from "../../../src/core/password.ts";
import { createApp } from "../../../src/master/app.tsx";
import { parseMasterEnv, trustedOrigins } from "../../../src/master/config.ts";
import { openDb } from "../../../src/master/db/db.ts";
import { ORIGIN, PASSWORD, testMaster } from "../../support/master.ts";

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

Deno.test("HashPool runs at most `concurrency` hashes, queues `queue` more and refuses the rest with 503", async () => {
  const pool = new HashPool({ concurrency: 2, queue: 3 });
  let running = 0;
  let peak = 0;
  const gates = Array.from({ length: 8 }, deferred);
  const results = gates.map((gate, i) =>
    pool.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
      return i;
    }).then((v) => ({ ok: v }), (err) => ({ err }))
  );
  await Promise.resolve();
  assert.deepEqual(pool.load, { active: 2, waiting: 3 });
  for (const gate of gates) gate.resolve();
  const settled = await Promise.all(results);
  assert.equal(peak, 2, "never more than two hashes at once");
  assert.deepEqual(settled.slice(0, 5).map((r) => "ok" in r ? r.ok : -1), [0, 1, 2, 3, 4]);
  for (const r of settled.slice(5)) {
    assert.ok("err" in r && r.err instanceof AppError);
    assert.equal((r.err as AppError).status, 503);
    assert.equal((r.err as AppError).retryAfter, 1);
  }
  assert.deepEqual(pool.load, { active: 0, waiting: 0 });
});

Deno.test("parallel wrong guesses for one user: five are evaluated, the rest get 429 before any hashing", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const statuses = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const res = await m.form("/login", { username: "root", password: `wrong ${i}` }, {
        ip: `203.0.113.${i + 1}`,
      });
      return res.status;
    }),
  );
  assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(","));
  assert.equal(statuses.filter((s) => s === 429).length, 15, statuses.join(","));
  assert.equal(m.services.audit.list({ action: "login.failure" }).length, 5);
  m.close();
});

Deno.test("a successful login does not reset its address's failures: spraying between own logins is still limited", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const statuses: number[] = [];
  let victim = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 4; i++) {
      const r = await m.form("/login", { username: `victim${victim++}`, password: "guess 123456" });
      statuses.push(r.status);
    }
    statuses.push((await m.form("/login", { username: "root", password: PASSWORD })).status);
  }
  // Round one: four failures and the own login. Round two: the fifth failure locks the address.
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 303]);
  assert.equal(statuses[5], 401);
  assert.deepEqual(statuses.slice(6), Array(statuses.length - 6).fill(429), statuses.join(","));
  m.close();
});

Deno.test("a refused login is audited once per lock, not once per request", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  for (let i = 0; i < 5; i++) await m.form("/login", { username: "root", password: `wrong ${i}` });
  for (let i = 0; i < 30; i++) {
    assert.equal((await m.form("/login", { username: "root", password: "again" })).status, 429);
  }
  assert.equal(m.services.audit.list({ action: "login.blocked" }).length, 1);
  // The lock ends; the next lock is audited once more.
  m.clock.advance(16 * 60_000);
  for (let i = 0; i < 5; i++) await m.form("/login", { username: "root", password: `wrong ${i}` });
  for (let i = 0; i < 10; i++) await m.form("/login", { username: "root", password: "again" });
  assert.equal(m.services.audit.list({ action: "login.blocked" }).length, 2);
  m.close();
});

/** A body of `total` bytes in 16 KiB chunks that records how much of it was pulled. */
function countingBody(total: number) {
  const chunk = new Uint8Array(16 * 1024).fill(0x61);
  const seen = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled >= total) return controller.close();
      seen.pulled += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { stream, seen };
}

Deno.test("unauthenticated routes stop reading a body as soon as it crosses its limit (413)", async () => {
  const m = await testMaster();
  const cases = [
    { path: "/login", limit: 64 * 1024, type: "application/x-www-form-urlencoded" },
    { path: "/setup", limit: 64 * 1024, type: "application/x-www-form-urlencoded" },
    { path: "/api/sync/enroll", limit: 512 * 1024, type: "application/json" },
    { path: "/api/sync/heartbeat", limit: 512 * 1024, type: "application/json" },
    { path: "/api/users", limit: 256 * 1024, type: "application/json" },
  ];
  for (const c of cases) {
    const { stream, seen } = countingBody(8 << 20);
    const res = await m.request(c.path, {
      method: "POST",
      body: stream,
      headers: { "content-type": c.type },
    });
    assert.equal(res.status, 413, `${c.path}: ${res.status}`);
    await res.body?.cancel();
    // A little read-ahead by the stream is fine; reading the whole 8 MiB is not.
    assert.ok(seen.pulled <= c.limit + 64 * 1024, `${c.path} pulled ${seen.pulled} bytes`);
  }
  m.close();
});

Deno.test("a declared Content-Length over the limit is refused without reading the body", async () => {
  const m = await testMaster();
  const { stream, seen } = countingBody(1 << 20);
  const res = await m.request("/login", {
    method: "POST",
    body: stream,
    headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(1 << 20) },
  });
  assert.equal(res.status, 413);
  assert.match(await res.text(), /too large/);
  assert.ok(seen.pulled <= 32 * 1024, `pulled ${seen.pulled} bytes`);
  m.close();
});

Deno.test("bodies under the limits pass: a 60 KiB form, a 300 KiB sync request", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const form = await m.form("/login", { username: "root", password: PASSWORD, pad: "x".repeat(9_000) });
  assert.equal(form.status, 303);
  const sync = await m.request("/api/sync/heartbeat", {
    method: "POST",
    body: JSON.stringify({ pad: "x".repeat(300 * 1024) }),
    headers: { "content-type": "application/json" },
  });
  assert.notEqual(sync.status, 413);
  await sync.body?.cancel();
  m.close();
});

Deno.test("a body that stops arriving is refused after the body timeout", async () => {
  const m = await testMaster();
  const app = createApp(m.services, {
    publicUrl: new URL(ORIGIN),
    trustProxy: false,
    bodies: { formBytes: 64 * 1024, apiBytes: 256 * 1024, syncBytes: 512 * 1024, timeoutMs: 100 },
  });
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("username=root&pass"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const res = await app.request(`${ORIGIN}/login`, {
    method: "POST",
    body: stream,
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
  }, { remoteAddr: "198.51.100.7" });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /did not arrive within 100 ms/);
  assert.ok(cancelled, "the stalled body is cancelled");
  m.close();
});

Deno.test("csrf refuses an origin that only matches the request's Host header (DNS rebinding)", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const res = await m.form("/login", { username: "root", password: PASSWORD }, {
    origin: "https://rebound.example:8443",
    headers: { host: "rebound.example:8443" },
  });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /CSRF protection/);
  m.close();
});

Deno.test("csrf accepts the public URL's origin and the listen addresses' origins", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const app = createApp(m.services, {
    publicUrl: new URL(ORIGIN),
    trustProxy: false,
    origins: ["https://127.0.0.1:8443"],
  });
  for (const origin of [ORIGIN, "https://127.0.0.1:8443"]) {
    const res = await app.request(`${ORIGIN}/login`, {
      method: "POST",
      body: new URLSearchParams({ username: "root", password: PASSWORD }),
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
    }, { remoteAddr: "198.51.100.7" });
    assert.equal(res.status, 303, origin);
  }
  m.close();
});

Deno.test("trustedOrigins: the public URL and the listen address, loopback for a wildcard listen", () => {
  const env = { WIREBUDDY_SECRET_KEY: "x".repeat(40) };
  const wildcard = parseMasterEnv({ ...env, WIREBUDDY_PUBLIC_URL: "https://vpn.example.com" });
  assert.ok(wildcard.ok);
  assert.deepEqual(trustedOrigins(wildcard.value), [
    "https://vpn.example.com",
    "https://127.0.0.1:8443",
    "https://[::1]:8443",
    "https://localhost:8443",
  ]);
  const plain = parseMasterEnv({ ...env, WIREBUDDY_LISTEN: "[::1]:8080", WIREBUDDY_TLS: "off" });
  assert.ok(plain.ok);
  assert.deepEqual(trustedOrigins(plain.value), ["http://[::1]:8080"]);
});

Deno.test("the connection, body and hashing limits are configurable, with defaults", () => {
  const env = { WIREBUDDY_SECRET_KEY: "x".repeat(40) };
  const d = parseMasterEnv(env);
  assert.ok(d.ok);
  assert.deepEqual(d.value.hashing, { concurrency: 2, queue: 16 });
  assert.deepEqual(d.value.bodies, {
    formBytes: 65536,
    apiBytes: 262144,
    syncBytes: 524288,
    timeoutMs: 30_000,
  });
  assert.deepEqual(d.value.connections, {
    handshakeTimeoutMs: 10_000,
    headerTimeoutMs: 15_000,
    idleTimeoutMs: 60_000,
    maxTotal: 16384,
    maxPerAddress: 64,
  });
  const set = parseMasterEnv({
    ...env,
    WIREBUDDY_MAX_FORM_BODY: "32KiB",
    WIREBUDDY_MAX_SYNC_BODY: "1MiB",
    WIREBUDDY_IDLE_TIMEOUT: "2s",
    WIREBUDDY_MAX_CONNECTIONS_PER_ADDRESS: "8",
  });
  assert.ok(set.ok);
  assert.equal(set.value.bodies.formBytes, 32 * 1024);
  assert.equal(set.value.bodies.syncBytes, 1 << 20);
  assert.equal(set.value.connections.idleTimeoutMs, 2000);
  assert.equal(set.value.connections.maxPerAddress, 8);
  const bad = parseMasterEnv({ ...env, WIREBUDDY_MAX_API_BODY: "lots", WIREBUDDY_HEADER_TIMEOUT: "0s" });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.problems.length, 2, bad.problems.join("\n"));
});

Deno.test("Db.tx keeps the original error when SQLite already rolled back (disk full)", () => {
  const db = openDb(":memory:", 0);
  db.raw.exec("CREATE TABLE filler (x BLOB)");
  const pages = db.get<{ page_count: number }>("PRAGMA page_count")!.page_count;
  db.raw.exec(`PRAGMA max_page_count = ${pages + 2}`);
  assert.throws(
    () => db.tx(() => db.run("INSERT INTO filler (x) VALUES (randomblob(100000))")),
    (err: Error) => {
      assert.doesNotMatch(err.message, /cannot rollback/);
      assert.match(err.message, /database or disk is full/);
      assert.ok(err instanceof AppError && err.status === 503, `status ${(err as AppError).status}`);
      return true;
    },
  );
  assert.equal(db.raw.isTransaction, false);
  db.close();
});

Deno.test("a full disk answers 503 'storage full', logs the cause, and /api/ready is 503 until writes work", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  // A disk with no room left: the database may not grow by a single page.
  const pages = m.db.get<{ page_count: number }>("PRAGMA page_count")!.page_count;
  m.db.raw.exec(`PRAGMA max_page_count = ${pages}`);
  let res: Response | null = null;
  for (let i = 0; i < 500; i++) {
    res = await m.api("/tokens", {
      method: "POST",
      token,
      json: { name: `t${i}`.padEnd(60, "x"), scope: "read" },
    });
    if (res.status !== 201) break;
    await res.body?.cancel();
  }
  assert.equal(res!.status, 503);
  const body = await res!.json();
  assert.match(body.error.message, /^Storage full/);
  assert.ok(res!.headers.get("retry-after"));
  const logged = m.log.lines.join("\n");
  assert.match(logged, /database or disk is full/);
  assert.doesNotMatch(logged, /cannot rollback/);

  const ready = await m.api("/ready");
  assert.equal(ready.status, 503);
  assert.notEqual((await ready.json()).checks.database, "ok");

  m.db.raw.exec("PRAGMA max_page_count = 1073741823");
  const again = await m.api("/ready");
  assert.equal(again.status, 200, JSON.stringify(await again.clone().json()));
  await again.body?.cancel();
  const created = await m.api("/tokens", { method: "POST", token, json: { name: "after", scope: "read" } });
  assert.equal(created.status, 201);
  await created.body?.cancel();
  m.close();
});

Deno.test("a form post on a full disk shows the storage-full page with 503", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const pages = m.db.get<{ page_count: number }>("PRAGMA page_count")!.page_count;
  m.db.raw.exec(`PRAGMA max_page_count = ${pages + 1}`);
  let status = 0;
  let text = "";
  for (let i = 0; i < 200 && status !== 503; i++) {
    const res = await m.form("/ui/users", {
      username: `user${i}`.padEnd(60, "x"),
      password: PASSWORD,
      role: "viewer",
    }, { cookie });
    status = res.status;
    text = await res.text();
  }
  assert.equal(status, 503);
  assert.match(text, /Storage full/);
  m.close();
});
