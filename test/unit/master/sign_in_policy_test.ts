import assert from "node:assert/strict";
import { parseMasterEnv } from "../../../src/master/config.ts";
import { roleFromClaim } from "../../../src/master/service/oidc.ts";
import { totpFor } from "../../../src/master/service/second_factor.ts";
import { PASSWORD, testMaster } from "../../support/master.ts";

const BASE = { WIREBUDDY_SECRET_KEY: "x".repeat(40) };
const OIDC = {
  WIREBUDDY_OIDC_ISSUER: "https://id.example.com/realms/main",
  WIREBUDDY_OIDC_CLIENT_ID: "wirebuddy",
  WIREBUDDY_OIDC_CLIENT_SECRET: "s3cret",
  WIREBUDDY_OIDC_ADMIN_VALUES: "wb-admins, ops",
};

Deno.test("sign-in settings: OIDC needs issuer, client id, secret and admin values; http only on loopback", () => {
  const ok = parseMasterEnv({ ...BASE, ...OIDC, WIREBUDDY_OIDC_VIEWER_VALUES: "staff" });
  assert.ok(ok.ok);
  const oidc = ok.value.signIn.oidc!;
  assert.deepEqual(oidc.adminValues, ["wb-admins", "ops"]);
  assert.deepEqual(oidc.viewerValues, ["staff"]);
  assert.equal(oidc.roleClaim, "groups");
  assert.equal(oidc.clientSecret.reveal(), "s3cret");
  const partial = parseMasterEnv({ ...BASE, WIREBUDDY_OIDC_ISSUER: OIDC.WIREBUDDY_OIDC_ISSUER });
  assert.ok(!partial.ok);
  assert.ok(partial.problems.some((p) => p.includes("go together")));
  assert.ok(partial.problems.some((p) => p.includes("WIREBUDDY_OIDC_ADMIN_VALUES is required")));
  const http = parseMasterEnv({ ...BASE, ...OIDC, WIREBUDDY_OIDC_ISSUER: "http://id.example.com" });
  assert.ok(!http.ok && http.problems.some((p) => p.includes("must be https")));
  assert.ok(parseMasterEnv({ ...BASE, ...OIDC, WIREBUDDY_OIDC_ISSUER: "http://127.0.0.1:9000" }).ok);
});

Deno.test("sign-in settings: SSO only needs single sign-on and a break-glass admin", () => {
  const none = parseMasterEnv({ ...BASE, WIREBUDDY_SSO_ONLY: "true" });
  assert.ok(!none.ok);
  assert.ok(none.problems.some((p) => p.includes("needs single sign-on")));
  assert.ok(none.problems.some((p) => p.includes("WIREBUDDY_BREAK_GLASS_ADMIN")));
  const ok = parseMasterEnv({
    ...BASE,
    ...OIDC,
    WIREBUDDY_SSO_ONLY: "true",
    WIREBUDDY_BREAK_GLASS_ADMIN: "root",
  });
  assert.ok(ok.ok);
  assert.equal(ok.value.signIn.passwordOnlyFor, "root");
  const plain = parseMasterEnv({ ...BASE });
  assert.ok(plain.ok);
  assert.deepEqual(plain.value.signIn, {
    requireAdminSecondFactor: false,
    passwordOnlyFor: null,
    oidc: null,
  });
});

Deno.test("roleFromClaim() maps a claim string or list to admin, viewer or nothing", () => {
  assert.equal(roleFromClaim(["staff", "wb-admins"], ["wb-admins"], ["staff"]), "admin");
  assert.equal(roleFromClaim("staff", ["wb-admins"], ["staff"]), "viewer");
  assert.equal(roleFromClaim(["other"], ["wb-admins"], ["staff"]), null);
  assert.equal(roleFromClaim(undefined, ["wb-admins"], []), null);
  assert.equal(roleFromClaim({ admin: true }, ["wb-admins"], []), null);
});

Deno.test("SSO only: local passwords are refused except for the break-glass admin", async () => {
  const m = await testMaster({ services: { signIn: { passwordOnlyFor: "root" } } });
  await m.addUser("root", "admin");
  await m.addUser("alice", "admin");
  const alice = await m.form("/login", { username: "alice", password: PASSWORD });
  assert.equal(alice.status, 401);
  assert.match(await alice.text(), /sign in with single sign-on/);
  assert.equal((await m.form("/login", { username: "root", password: PASSWORD })).status, 303);
  m.close();
});

Deno.test("policy: an admin without a second factor must enrol before anything else; a viewer need not", async () => {
  const m = await testMaster({ services: { signIn: { requireAdminSecondFactor: true } } });
  await m.addUser("root", "admin");
  await m.addUser("vera", "viewer");
  const root = await m.login("root");
  for (const path of ["/ui/dashboard", "/ui/users", "/ui/nodes", "/ui/tokens"]) {
    const res = await m.request(path, { cookie: root });
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("location"), "/ui/account", path);
  }
  const account = await (await m.request("/ui/account", { cookie: root })).text();
  assert.match(account, /id="must-enrol"/);
  assert.equal(
    (await m.form("/ui/users", { username: "x1x", password: PASSWORD, role: "admin" }, { cookie: root }))
      .status,
    303,
  );
  assert.equal(
    m.services.accounts.list().some((u) => u.username === "x1x"),
    false,
    "no change before enrolment",
  );
  // Enrol an authenticator app: everything opens.
  await m.form("/ui/account/totp/start", {}, { cookie: root });
  const secret = (await (await m.request("/ui/account/totp", { cookie: root })).text()).match(
    /id="totp-secret">([A-Z2-7]+)</,
  )![1]!;
  const code = totpFor(secret, "root").generate({ timestamp: m.clock.now() });
  assert.equal((await m.form("/ui/account/totp/confirm", { code }, { cookie: root })).status, 200);
  assert.equal((await m.request("/ui/users", { cookie: root })).status, 200);
  // A viewer is not held.
  const vera = await m.login("vera");
  assert.equal((await m.request("/ui/dashboard", { cookie: vera })).status, 200);
  m.close();
});
