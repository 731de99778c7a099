import assert from "node:assert/strict";
import * as OTPAuth from "otpauth";
import { totpFor } from "../../../src/master/service/second_factor.ts";
import { PASSWORD, type TestMaster, testMaster } from "../../support/master.ts";

// RFC 6238 appendix B, SHA-1 seed "12345678901234567890".
const RFC_SECRET = OTPAuth.Secret.fromLatin1("12345678901234567890");
const RFC_VECTORS: [number, string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

Deno.test("TOTP matches the RFC 6238 test vectors (8 digits, and our 6-digit codes are their tail)", () => {
  for (const [seconds, code] of RFC_VECTORS) {
    const eight = new OTPAuth.TOTP({ secret: RFC_SECRET, digits: 8, algorithm: "SHA1", period: 30 });
    assert.equal(eight.generate({ timestamp: seconds * 1000 }), code, `T=${seconds}`);
    assert.equal(totpFor(RFC_SECRET.base32, "x").generate({ timestamp: seconds * 1000 }), code.slice(2));
  }
});

const cookies = (res: Response) =>
  Object.fromEntries(res.headers.getSetCookie().map((c) => c.split(";")[0]!.split("=") as [string, string]));
const cookieHeader = (jar: Record<string, string>) =>
  Object.entries(jar).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join("; ");

/** Enrols `root` in TOTP through the UI; returns the secret, the recovery codes and the session cookie. */
async function enrol(m: TestMaster) {
  await m.addUser("root", "admin");
  const session = await m.login("root");
  const start = await m.form("/ui/account/totp/start", {}, { cookie: session });
  assert.equal(start.status, 303);
  const page = await (await m.request("/ui/account/totp", { cookie: session })).text();
  const secret = page.match(/id="totp-secret">([A-Z2-7]+)</)![1]!;
  assert.match(page, /src="data:image\/svg\+xml;base64,/, "a QR code");
  const wrong = await m.form("/ui/account/totp/confirm", { code: "000000" }, { cookie: session });
  assert.equal(wrong.status, 422);
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  const ok = await m.form("/ui/account/totp/confirm", { code }, { cookie: session });
  assert.equal(ok.status, 200);
  const html = await ok.text();
  const block = html.match(/<pre class="secret"><code>([^<]*)<\/code>/)![1]!;
  const recovery = block.split("\n").filter((line) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(line));
  assert.equal(recovery.length, 10);
  return { secret, recovery, session };
}

/** The password step: returns the pending cookie (and asserts the redirect to the code page). */
async function passwordStep(m: TestMaster, ip?: string) {
  const res = await m.form(
    "/login",
    { username: "root", password: PASSWORD, next: "/ui/users" },
    ip ? { ip } : {},
  );
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login/code?next=%2Fui%2Fusers");
  const jar = cookies(res);
  assert.ok(jar["__Host-wb_pending"], "a pending sign-in cookie");
  assert.equal(jar["__Host-wb_session"], undefined, "no session before the code");
  return cookieHeader(jar);
}

const codeStep = (m: TestMaster, pending: string, code: string, ip?: string) =>
  m.form("/login/code", { code, next: "/ui/users" }, { cookie: pending, ...(ip ? { ip } : {}) });

Deno.test("TOTP: enrolment stores the secret sealed and recovery codes hashed", async () => {
  const m = await testMaster();
  const { secret, recovery } = await enrol(m);
  const row = m.db.get<{ secret_sealed: string; confirmed_at: number }>("SELECT * FROM user_totp")!;
  assert.ok(row.confirmed_at);
  assert.ok(!row.secret_sealed.includes(secret), "the secret is sealed at rest");
  const hashes = m.db.all<{ code_hash: string }>("SELECT code_hash FROM recovery_codes");
  assert.equal(hashes.length, 10);
  for (const h of hashes) assert.ok(!recovery.some((r) => h.code_hash.includes(r.replace("-", ""))));
  assert.equal(m.services.audit.list({ action: "totp.enable" }).length, 1);
  m.close();
});

Deno.test("TOTP: login asks for the code after the password; a used code is refused", async () => {
  const m = await testMaster();
  const { secret } = await enrol(m);
  m.clock.advance(60_000);
  const pending = await passwordStep(m);
  assert.match(
    await (await m.request("/login/code?next=/ui/users", { cookie: pending })).text(),
    /Enter your code/,
  );
  const wrong = await codeStep(m, pending, "123456");
  assert.equal(wrong.status, 401);
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  const ok = await codeStep(m, pending, code);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get("location"), "/ui/users");
  const session = cookies(ok)["__Host-wb_session"];
  assert.ok(session);
  assert.equal((await m.request("/ui/users", { cookie: `__Host-wb_session=${session}` })).status, 200);
  // The same code again (a replay within its 30 s step) is refused.
  const again = await passwordStep(m);
  assert.equal((await codeStep(m, again, code)).status, 401);
  // The next step's code works.
  m.clock.advance(30_000);
  const next = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  assert.equal((await codeStep(m, again, next)).status, 303);
  const success = m.services.audit.list({ action: "login.success" })[0]!;
  assert.equal(success.detail, "method=totp");
  m.close();
});

Deno.test("TOTP: a recovery code signs in once", async () => {
  const m = await testMaster();
  const { recovery } = await enrol(m);
  const first = await passwordStep(m);
  assert.equal((await codeStep(m, first, recovery[3]!.toUpperCase())).status, 303);
  const second = await passwordStep(m);
  assert.equal((await codeStep(m, second, recovery[3]!)).status, 401, "a used recovery code is refused");
  assert.equal((await codeStep(m, second, recovery[4]!)).status, 303);
  assert.equal(m.services.factors.status(1).recoveryRemaining, 8);
  m.close();
});

Deno.test("TOTP: throttling covers the code step (a known password does not reset the budget)", async () => {
  const m = await testMaster();
  const { secret } = await enrol(m);
  const pending = await passwordStep(m, "203.0.113.9");
  for (let i = 0; i < 4; i++) {
    assert.equal((await codeStep(m, pending, String(100000 + i), "203.0.113.9")).status, 401);
  }
  // The password again, then one more wrong code: the fifth failure locks the username.
  const again = await passwordStep(m, "203.0.113.9");
  assert.equal((await codeStep(m, again, "100009", "203.0.113.9")).status, 401);
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  assert.equal((await codeStep(m, again, code, "203.0.113.9")).status, 429, "even the right code waits");
  const other = await m.form("/login", { username: "root", password: PASSWORD }, { ip: "203.0.113.10" });
  assert.equal(other.status, 429, "the password step is locked too");
  assert.equal(m.services.audit.list({ action: "login.second_factor_failure" }).length, 5);
  m.clock.advance(15 * 60_000 + 1);
  const later = await passwordStep(m, "203.0.113.10");
  assert.equal(
    (await codeStep(m, later, totpFor(secret, "root").generate({ timestamp: m.clock.now() }))).status,
    303,
  );
  m.close();
});

Deno.test("TOTP: a pending sign-in expires, and without the password step there is no code page", async () => {
  const m = await testMaster();
  const { secret } = await enrol(m);
  assert.equal((await m.request("/login/code")).status, 303);
  const pending = await passwordStep(m);
  m.clock.advance(5 * 60_000 + 1);
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  const late = await codeStep(m, pending, code);
  assert.equal(late.status, 303);
  assert.match(late.headers.get("location")!, /^\/login\?/);
  assert.equal(
    m.services.audit.list({ action: "login.success" }).filter((e) => e.detail === "method=totp").length,
    0,
  );
  m.close();
});

Deno.test("TOTP: an admin resets another user's second factor, audited; their sessions end", async () => {
  const m = await testMaster();
  await enrol(m);
  await m.addUser("alice", "admin");
  const alice = await m.login("alice");
  const victimSession = cookieHeader(cookies(await codeStep(m, await passwordStep(m), "x")));
  assert.equal(victimSession, "", "a wrong code gives no session");
  const res = await m.form("/ui/users/1/second-factor/reset", {}, { cookie: alice });
  assert.equal(res.status, 303);
  assert.equal(m.services.factors.hasTotp(1), false);
  const entry = m.services.audit.list({ action: "user.second_factor_reset" })[0]!;
  assert.equal(entry.actor, "alice");
  assert.equal(entry.target, "root");
  // root signs in with the password alone again.
  const login = await m.form("/login", { username: "root", password: PASSWORD });
  assert.ok(cookies(login)["__Host-wb_session"]);
  // The API does the same (viewers and read tokens may not).
  const token = await m.token("write", "alice");
  assert.equal((await m.api("/users/1/second-factor", { method: "DELETE", token })).status, 204);
  const read = await m.token("read", "alice");
  assert.equal((await m.api("/users/1/second-factor", { method: "DELETE", token: read })).status, 403);
  m.close();
});

Deno.test("TOTP: removing the app needs a current code", async () => {
  const m = await testMaster();
  const { secret, session } = await enrol(m);
  assert.equal(
    (await m.form("/ui/account/totp/disable", { code: "111111" }, { cookie: session })).status,
    422,
  );
  assert.equal(m.services.factors.hasTotp(1), true);
  m.clock.advance(30_000);
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  assert.equal((await m.form("/ui/account/totp/disable", { code }, { cookie: session })).status, 303);
  assert.equal(m.services.factors.hasTotp(1), false);
  assert.equal(m.services.audit.list({ action: "totp.disable" }).length, 1);
  m.close();
});
