import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";

Deno.test("GET /api/health is public and says healthy", async () => {
  const m = await testMaster();
  const res = await m.api("/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "healthy", service: "wirebuddy" });
  m.close();
});

Deno.test("GET /api/ready checks the database and the secret key", async () => {
  const m = await testMaster();
  const res = await m.api("/ready");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ready", checks: { database: "ok", secret_key: "ok" } });
  m.db.run("UPDATE meta SET value = 'v1.AAAA' WHERE key = 'key_check'");
  const broken = await m.api("/ready");
  assert.equal(broken.status, 503);
  assert.equal((await broken.json()).checks.secret_key, "mismatch");
  m.close();
});

Deno.test("the API refuses requests without a valid bearer token", async () => {
  const m = await testMaster();
  const none = await m.api("/users");
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /Bearer/);
  assert.equal((await none.json()).error.code, "unauthorized");
  assert.equal((await m.api("/users", { token: "wbt_forged" })).status, 401);
  assert.equal((await m.api("/users", { token: "not-even-a-token" })).status, 401);
  m.close();
});

Deno.test("a read-scoped token can list but not write", async () => {
  const m = await testMaster();
  const read = await m.token("read");
  const list = await m.api("/users", { token: read });
  assert.equal(list.status, 200);
  assert.deepEqual((await list.json()).users.map((u: { username: string }) => u.username), ["api-admin"]);
  const create = await m.api("/users", {
    method: "POST",
    token: read,
    json: { username: "eve", password: "0123456789ab", role: "admin" },
  });
  assert.equal(create.status, 403);
  assert.match((await create.json()).error.message, /only read/);
  assert.equal(m.services.accounts.list().length, 1, "nothing changed");
  m.close();
});

Deno.test("a write token creates users, and a duplicate name is a 409 naming the field", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const res = await m.api("/users", {
    method: "POST",
    token: write,
    json: { username: "alice", password: "0123456789ab", role: "viewer" },
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.username, "alice");
  assert.equal(body.role, "viewer");
  assert.equal(body.password_hash, undefined);
  const dup = await m.api("/users", {
    method: "POST",
    token: write,
    json: { username: "ALICE", password: "0123456789ab", role: "viewer" },
  });
  assert.equal(dup.status, 409);
  assert.deepEqual((await dup.json()).error.fields, [{ field: "username", message: "is already taken" }]);
  m.close();
});

Deno.test("invalid user input gets a 422 naming every bad field and changes nothing", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const cases: [unknown, string[]][] = [
    [{ username: "a", password: "short", role: "root" }, ["username", "password", "role"]],
    [{ username: "x".repeat(10_000), password: "0123456789ab", role: "admin" }, ["username"]],
    [{ username: 42, password: ["x"], role: null }, ["username", "password", "role"]],
    [{ username: "bad name!", password: "0123456789ab", role: "viewer" }, ["username"]],
    [[], ["body"]],
  ];
  for (const [json, fields] of cases) {
    const res = await m.api("/users", { method: "POST", token: write, json });
    assert.equal(res.status, 422, JSON.stringify(json).slice(0, 80));
    const err = (await res.json()).error;
    assert.equal(err.code, "validation");
    assert.deepEqual(err.fields.map((f: { field: string }) => f.field).sort(), fields.sort());
  }
  assert.equal(m.services.accounts.list().length, 1);
  m.close();
});

Deno.test("malformed bodies get a 400, oversized ones a 413", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const bad = await m.app.request("https://wb.test:8443/api/users", {
    method: "POST",
    headers: { authorization: `Bearer ${write}`, "content-type": "application/json" },
    body: "{not json",
  }, { remoteAddr: "198.51.100.8" });
  assert.equal(bad.status, 400);
  const form = await m.app.request("https://wb.test:8443/api/users", {
    method: "POST",
    headers: { authorization: `Bearer ${write}`, "content-type": "text/plain" },
    body: "username=x",
  }, { remoteAddr: "198.51.100.8" });
  assert.equal(form.status, 400);
  const huge = await m.api("/users", {
    method: "POST",
    token: write,
    json: { username: "a".repeat(300_000) },
  });
  assert.equal(huge.status, 413);
  m.close();
});

Deno.test("PATCH /api/users/{id} changes a role, but never demotes the last admin", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const bob = await m.addUser("bob", "viewer");
  const up = await m.api(`/users/${bob.id}`, { method: "PATCH", token: write, json: { role: "admin" } });
  assert.equal(up.status, 200);
  assert.equal((await up.json()).role, "admin");
  await m.api(`/users/${bob.id}`, { method: "PATCH", token: write, json: { role: "viewer" } });
  const admin = m.services.accounts.list().find((u) => u.username === "api-admin")!;
  const last = await m.api(`/users/${admin.id}`, { method: "PATCH", token: write, json: { role: "viewer" } });
  assert.equal(last.status, 409);
  assert.match((await last.json()).error.message, /last admin/);
  const unknown = await m.api(`/users/${bob.id}`, { method: "PATCH", token: write, json: { is_root: true } });
  assert.equal(unknown.status, 422);
  assert.equal(
    (await m.api("/users/999", { method: "PATCH", token: write, json: { role: "admin" } })).status,
    404,
  );
  assert.equal((await m.api("/users/abc", { token: write })).status, 404);
  m.close();
});

Deno.test("DELETE /api/users/{id} removes a user but never the last admin", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const carol = await m.addUser("carol", "viewer");
  assert.equal((await m.api(`/users/${carol.id}`, { method: "DELETE", token: write })).status, 204);
  assert.equal((await m.api(`/users/${carol.id}`, { token: write })).status, 404);
  const admin = m.services.accounts.list()[0]!;
  const res = await m.api(`/users/${admin.id}`, { method: "DELETE", token: write });
  assert.equal(res.status, 409);
  assert.equal(m.services.accounts.list().length, 1);
  m.close();
});

Deno.test("PATCH with a password resets it and ends the user's sessions", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const dave = await m.addUser("dave", "viewer");
  const cookie = await m.login("dave");
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 200);
  const res = await m.api(`/users/${dave.id}`, {
    method: "PATCH",
    token: write,
    json: { password: "a brand new password" },
  });
  assert.equal(res.status, 200);
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 303, "old session ended");
  await m.login("dave", "a brand new password");
  m.close();
});

Deno.test("tokens are shown once, stored hashed, listed without their secret", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const res = await m.api("/tokens", {
    method: "POST",
    token: write,
    json: { name: "ci", scope: "read", expires_in_days: 7 },
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.token, /^wbt_/);
  assert.equal(created.scope, "read");
  const stored = m.db.all<{ token_hash: string }>("SELECT token_hash FROM api_tokens");
  assert.ok(stored.every((r) => !r.token_hash.includes(created.token) && r.token_hash.length === 64));
  const list = await (await m.api("/tokens", { token: write })).json();
  assert.ok(!JSON.stringify(list).includes(created.token));
  assert.equal(list.tokens.find((t: { name: string }) => t.name === "ci").prefix, created.token.slice(0, 10));
  const bad = await m.api("/tokens", {
    method: "POST",
    token: write,
    json: { name: "", scope: "admin", expires_in_days: -1 },
  });
  assert.equal(bad.status, 422);
  assert.deepEqual((await bad.json()).error.fields.map((f: { field: string }) => f.field).sort(), [
    "expires_in_days",
    "name",
    "scope",
  ]);
  m.close();
});

Deno.test("a revoked or expired token stops working; last use is recorded", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  const made = await (await m.api("/tokens", {
    method: "POST",
    token: write,
    json: { name: "short", scope: "read", expires_in_days: 1 },
  })).json();
  assert.equal((await m.api("/users", { token: made.token })).status, 200);
  const listed = await (await m.api("/tokens", { token: write })).json();
  assert.ok(listed.tokens.find((t: { id: number }) => t.id === made.id).last_used_at);
  m.clock.advance(86_400_000 + 1);
  const expired = await m.api("/users", { token: made.token });
  assert.equal(expired.status, 401);
  assert.match((await expired.json()).error.message, /expired/);
  const revoke = await m.api(`/tokens/${made.id}`, { method: "DELETE", token: write });
  assert.equal(revoke.status, 200);
  assert.equal((await revoke.json()).status, "revoked");
  const other = await m.token("write");
  const otherId = (await (await m.api("/tokens", { token: other })).json()).tokens[0].id;
  await m.api(`/tokens/${otherId}`, { method: "DELETE", token: write });
  const revoked = await m.api("/users", { token: other });
  assert.equal(revoked.status, 401);
  assert.match((await revoked.json()).error.message, /revoked/);
  m.close();
});

Deno.test("GET /api/audit lists changes with actor, time and source address", async () => {
  const m = await testMaster();
  const write = await m.token("write");
  await m.api("/users", {
    method: "POST",
    token: write,
    json: { username: "erin", password: "0123456789ab", role: "viewer" },
    ip: "203.0.113.9",
  });
  const res = await m.api("/audit?action=user.create", { token: write });
  const entries = (await res.json()).entries;
  const e = entries.find((x: { target: string }) => x.target === "erin");
  assert.ok(e, JSON.stringify(entries));
  assert.match(e.actor, /api-admin \(token write-/);
  assert.equal(e.ip, "203.0.113.9");
  assert.match(e.at, /^\d{4}-\d\d-\d\dT/);
  assert.equal((await m.api("/audit?limit=9999", { token: write })).status, 422);
  m.close();
});

Deno.test("unknown API endpoints are a JSON 404", async () => {
  const m = await testMaster();
  const read = await m.token("read");
  const res = await m.api("/nope", { token: read });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, "not_found");
  m.close();
});

Deno.test("GET /api/openapi.json documents every API route with its request schema", async () => {
  const m = await testMaster();
  const res = await m.api("/openapi.json");
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.equal(doc.openapi, "3.1.0");
  const routes = m.app.routes
    .filter((r) => r.path.startsWith("/api/") && r.method !== "ALL" && !r.path.includes("*"))
    .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
  for (const route of new Set(routes)) {
    const [method, path] = route.split(" ") as [string, string];
    assert.ok(doc.paths[path]?.[method], `${route} is documented`);
  }
  const peerBody = doc.paths["/api/peers"].post.requestBody.content["application/json"].schema;
  assert.ok(peerBody.properties.routing.enum.includes("split"));
  assert.deepEqual(peerBody.required.sort(), ["interface_id", "name"]);
  m.close();
});
