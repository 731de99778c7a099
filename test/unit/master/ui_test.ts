import assert from "node:assert/strict";
import { PASSWORD, testMaster } from "../../support/master.ts";

const setCookieOf = (res: Response) => res.headers.get("set-cookie") ?? "";

Deno.test("GET / sends a new install to setup and an installed one to login", async () => {
  const m = await testMaster();
  assert.equal((await m.request("/")).headers.get("location"), "/setup");
  await m.addUser("root", "admin");
  assert.equal((await m.request("/")).headers.get("location"), "/login");
  m.close();
});

Deno.test("the setup link creates the first admin once, and only once", async () => {
  const m = await testMaster();
  const setup = (await m.services.accounts.newSetupToken())!;
  const page = await m.request(`/setup?token=${setup.token}`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Create the first admin/);
  const res = await m.form("/setup", { token: setup.token, username: "root", password: PASSWORD });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login");
  assert.equal(m.services.accounts.list()[0]!.role, "admin");
  const again = await m.form("/setup", { token: setup.token, username: "mallory", password: PASSWORD });
  assert.equal(again.status, 410);
  assert.equal((await m.request(`/setup?token=${setup.token}`)).status, 410);
  assert.equal(m.services.accounts.list().length, 1);
  assert.equal(await m.services.accounts.newSetupToken(), null, "no new setup link once an admin exists");
  m.close();
});

Deno.test("a wrong or expired setup token is refused", async () => {
  const m = await testMaster();
  const setup = (await m.services.accounts.newSetupToken())!;
  assert.equal(
    (await m.form("/setup", { token: "guess", username: "root", password: PASSWORD })).status,
    410,
  );
  m.clock.advance(24 * 3_600_000 + 1);
  assert.equal(
    (await m.form("/setup", { token: setup.token, username: "root", password: PASSWORD })).status,
    410,
  );
  assert.equal(m.services.accounts.hasUsers(), false);
  m.close();
});

Deno.test("setup re-renders with a 422 naming the bad field", async () => {
  const m = await testMaster();
  const setup = (await m.services.accounts.newSetupToken())!;
  const res = await m.form("/setup", { token: setup.token, username: "root", password: "short" });
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.match(html, /data-field="password"/);
  assert.match(html, /value="root"/, "the username is kept");
  assert.ok(!html.includes('value="short"'), "the password is never echoed");
  m.close();
});

Deno.test("login sets an HttpOnly, Secure, SameSite session cookie and audits it", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const res = await m.form("/login", { username: "root", password: PASSWORD, next: "/ui/users" }, {
    ip: "203.0.113.50",
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/ui/users");
  const cookie = setCookieOf(res);
  assert.match(cookie, /^__Host-wb_session=/);
  for (const attr of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"]) {
    assert.ok(cookie.includes(attr), `${attr} in ${cookie}`);
  }
  const entry = m.services.audit.list({ action: "login.success" })[0]!;
  assert.equal(entry.ip, "203.0.113.50");
  assert.equal(entry.actor, "root");
  m.close();
});

Deno.test("login never redirects off-site through ?next", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  for (const next of ["//evil.example/x", "https://evil.example", "javascript:alert(1)"]) {
    const res = await m.form("/login", { username: "root", password: PASSWORD, next });
    assert.equal(res.headers.get("location"), "/ui/dashboard", next);
  }
  m.close();
});

Deno.test("a wrong password re-renders the form with 401 and audits the failure with its source", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const res = await m.form("/login", { username: "root", password: "wrong password" }, {
    ip: "203.0.113.66",
  });
  assert.equal(res.status, 401);
  assert.match(await res.text(), /Invalid username or password/);
  const e = m.services.audit.list({ action: "login.failure" })[0]!;
  assert.equal(e.ip, "203.0.113.66");
  assert.equal(e.target, "root");
  m.close();
});

Deno.test("six wrong passwords in a row get 429, and then even the right one waits", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const statuses = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await m.form("/login", { username: "root", password: `wrong ${i}` })).status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  const locked = await m.form("/login", { username: "root", password: PASSWORD });
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers.get("retry-after")) > 0);
  assert.match(await locked.text(), /Too many failed logins/);
  m.clock.advance(15 * 60_000 + 1);
  assert.equal(
    (await m.form("/login", { username: "root", password: PASSWORD })).status,
    303,
    "the lock expires",
  );
  m.close();
});

Deno.test("lockout is per username across addresses and per address across usernames", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.addUser("other", "viewer");
  for (let i = 0; i < 5; i++) {
    await m.form("/login", { username: "root", password: "nope" }, { ip: `203.0.113.${i + 1}` });
  }
  assert.equal(
    (await m.form("/login", { username: "root", password: PASSWORD }, { ip: "203.0.113.99" })).status,
    429,
  );
  for (let i = 0; i < 5; i++) {
    await m.form("/login", { username: `ghost${i}`, password: "nope" }, { ip: "198.51.100.200" });
  }
  assert.equal(
    (await m.form("/login", { username: "other", password: PASSWORD }, { ip: "198.51.100.200" })).status,
    429,
  );
  assert.equal(
    (await m.form("/login", { username: "other", password: PASSWORD }, { ip: "198.51.100.201" })).status,
    303,
  );
  m.close();
});

Deno.test("/ui pages need a session: browsers go to login, htmx gets HX-Redirect", async () => {
  const m = await testMaster();
  const res = await m.request("/ui/users");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login?next=%2Fui%2Fusers");
  const hx = await m.request("/ui/users", { headers: { "hx-request": "true" } });
  assert.equal(hx.status, 401);
  assert.equal(hx.headers.get("hx-redirect"), "/login?next=%2Fui%2Fusers");
  assert.equal((await m.request("/ui/users", { cookie: "__Host-wb_session=forged" })).status, 303);
  m.close();
});

Deno.test("csrf rejects a cross-site POST to /ui/users and changes nothing", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const res = await m.form("/ui/users", { username: "mallory", password: PASSWORD, role: "admin" }, {
    cookie,
    origin: "https://evil.example",
  });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /CSRF/);
  const noOrigin = await m.form("/ui/users", { username: "mallory", password: PASSWORD, role: "admin" }, {
    cookie,
    origin: null,
  });
  assert.equal(noOrigin.status, 403);
  const sameSite = await m.form("/ui/users", { username: "trent", password: PASSWORD, role: "viewer" }, {
    cookie,
    origin: null,
    headers: { "sec-fetch-site": "same-origin" },
  });
  assert.equal(sameSite.status, 303);
  assert.deepEqual(m.services.accounts.list().map((u) => u.username), ["root", "trent"]);
  m.close();
});

Deno.test("csrf also guards login and logout", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  assert.equal(
    (await m.form("/login", { username: "root", password: PASSWORD }, { origin: "https://evil.example" }))
      .status,
    403,
  );
  const cookie = await m.login("root");
  assert.equal(
    (await m.request("/logout", { method: "POST", cookie, origin: "https://evil.example" })).status,
    403,
  );
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 200, "still logged in");
  m.close();
});

Deno.test("an admin creates a viewer through the users form", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const res = await m.form("/ui/users", { username: "vera", password: PASSWORD, role: "viewer" }, { cookie });
  assert.equal(res.status, 303);
  assert.match(setCookieOf(res), /__Host-wb_flash=/);
  const page = await m.request("/ui/users", { cookie: `${cookie}; ${setCookieOf(res).split(";")[0]}` });
  const html = await page.text();
  assert.match(html, /User &quot;vera&quot; created as viewer|User "vera" created as viewer/);
  assert.match(html, /id="user-table"/);
  m.close();
});

Deno.test("the users form re-renders with 422 or 409 naming the field", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const bad = await m.form("/ui/users", { username: "x", password: PASSWORD, role: "viewer" }, { cookie });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /data-field="username"/);
  const dup = await m.form("/ui/users", { username: "ROOT", password: PASSWORD, role: "viewer" }, { cookie });
  assert.equal(dup.status, 409);
  assert.match(await dup.text(), /Username: is already taken/);
  m.close();
});

Deno.test("a viewer sees pages but every UI mutation is refused with 403", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const target = await m.addUser("victim", "viewer");
  await m.addUser("vera", "viewer");
  const cookie = await m.login("vera");
  for (const path of ["/ui/dashboard", "/ui/users", "/ui/tokens", "/ui/audit", "/ui/peers", "/ui/settings"]) {
    assert.equal((await m.request(path, { cookie })).status, 200, path);
  }
  const users = await (await m.request("/ui/users", { cookie })).text();
  assert.ok(!users.includes('action="/ui/users"'), "no add form for a viewer");
  const attempts: [string, Record<string, string>][] = [
    ["/ui/users", { username: "sneaky", password: PASSWORD, role: "admin" }],
    [`/ui/users/${target.id}/role`, { role: "admin" }],
    [`/ui/users/${target.id}/delete`, {}],
    ["/ui/tokens", { name: "t", scope: "write" }],
  ];
  for (const [path, fields] of attempts) {
    assert.equal((await m.form(path, fields, { cookie })).status, 403, path);
  }
  assert.equal(m.services.accounts.list().length, 3);
  assert.equal(m.services.tokens.list().length, 0);
  m.close();
});

Deno.test("logout revokes the session server-side", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const res = await m.request("/logout", { method: "POST", cookie });
  assert.equal(res.status, 303);
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 303, "the old cookie no longer works");
  assert.equal(m.services.audit.list({ action: "logout" }).length, 1);
  m.close();
});

Deno.test("changing your password ends your other sessions but keeps this one", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const here = await m.login("root");
  const elsewhere = await m.login("root", PASSWORD, "203.0.113.77");
  const wrong = await m.form("/ui/account/password", {
    current_password: "nope",
    new_password: "another good password",
  }, { cookie: here });
  assert.equal(wrong.status, 422);
  assert.match(await wrong.text(), /data-field="current_password"/);
  const ok = await m.form("/ui/account/password", {
    current_password: PASSWORD,
    new_password: "another good password",
  }, { cookie: here });
  assert.equal(ok.status, 303);
  assert.equal((await m.request("/ui/dashboard", { cookie: here })).status, 200);
  assert.equal((await m.request("/ui/dashboard", { cookie: elsewhere })).status, 303);
  await m.login("root", "another good password");
  m.close();
});

Deno.test("sessions expire after the configured lifetime", async () => {
  const m = await testMaster({ sessionTtlMs: 60 * 60_000 });
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  m.clock.advance(59 * 60_000);
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 200);
  m.clock.advance(2 * 60_000);
  assert.equal((await m.request("/ui/dashboard", { cookie })).status, 303);
  m.close();
});

Deno.test("the tokens page shows a new token once and revokes it", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const res = await m.form("/ui/tokens", { name: "deploy", scope: "write", expires_in_days: "30" }, {
    cookie,
  });
  assert.equal(res.status, 201);
  const html = await res.text();
  const token = html.match(/id="new-token-value">(wbt_[A-Za-z0-9_-]+)</)?.[1];
  assert.ok(token, "token shown");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await m.api("/users", { token })).status, 200);
  const again = await (await m.request("/ui/tokens", { cookie })).text();
  assert.ok(!again.includes(token), "never shown again");
  const id = m.services.tokens.list()[0]!.id;
  assert.equal((await m.form(`/ui/tokens/${id}/revoke`, {}, { cookie })).status, 303);
  assert.equal((await m.api("/users", { token })).status, 401);
  const bad = await m.form("/ui/tokens", { name: "", scope: "write", expires_in_days: "abc" }, { cookie });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /data-field="expires_in_days"/);
  m.close();
});

Deno.test("the audit page lists logins and user changes and filters by action", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.form("/login", { username: "root", password: "wrong one" }, { ip: "203.0.113.5" });
  const cookie = await m.login("root");
  await m.form("/ui/users", { username: "vera", password: PASSWORD, role: "viewer" }, { cookie });
  const all = await (await m.request("/ui/audit", { cookie })).text();
  for (const action of ["login.failure", "login.success", "user.create"]) {
    assert.ok(all.includes(action), action);
  }
  const filtered = await (await m.request("/ui/audit?action=login.failure", { cookie })).text();
  const table = filtered.slice(filtered.indexOf('id="audit-table"'));
  assert.ok(table.includes("203.0.113.5"));
  assert.ok(!table.includes("<code>user.create</code>"));
  const prefix = await (await m.request("/ui/audit?action=login", { cookie })).text();
  assert.ok(prefix.slice(prefix.indexOf('id="audit-table"')).includes("<code>login.success</code>"));
  m.close();
});

Deno.test("every navigation page renders inside the layout", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  for (
    const path of [
      "/ui/dashboard",
      "/ui/peers",
      "/ui/interfaces",
      "/ui/nodes",
      "/ui/users",
      "/ui/tokens",
      "/ui/audit",
      "/ui/settings",
      "/ui/account",
    ]
  ) {
    const res = await m.request(path, { cookie });
    assert.equal(res.status, 200, path);
    const html = await res.text();
    assert.match(html, /<nav class="sidenav"/, path);
    assert.ok(html.startsWith('<!DOCTYPE html><html lang="en">'), `${path}: standards mode, not quirks`);
    assert.match(html, /src="\/static\/htmx.min.js"/, path);
  }
  assert.equal((await m.request("/ui/nothing-here", { cookie })).status, 404);
  m.close();
});

Deno.test("static assets are embedded and pages carry security headers", async () => {
  const m = await testMaster();
  const js = await m.request("/static/htmx.min.js");
  assert.equal(js.status, 200);
  assert.match(await js.text(), /htmx/);
  assert.match((await m.request("/static/app.css")).headers.get("content-type") ?? "", /text\/css/);
  assert.equal((await m.request("/static/../deno.json")).status, 404);
  const page = await m.request("/login");
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(page.headers.get("strict-transport-security") ?? "", /max-age/);
  m.close();
});

Deno.test("user-supplied text is escaped in pages", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  await m.form("/ui/tokens", { name: "<script>alert(1)</script>", scope: "read", expires_in_days: "1" }, {
    cookie,
  });
  const html = await (await m.request("/ui/tokens", { cookie })).text();
  assert.ok(!html.includes("<script>alert(1)</script>"));
  assert.ok(html.includes("&lt;script&gt;"));
  m.close();
});

Deno.test("the settings page shows the effective configuration, read-only", async () => {
  const m = await testMaster({
    settings: [
      { label: "Public URL", value: "https://vpn.example.com:8443/", env: "WIREBUDDY_PUBLIC_URL" },
      { label: "TLS", value: "self-signed", env: "WIREBUDDY_TLS" },
    ],
  });
  await m.addUser("vera", "viewer");
  const cookie = await m.login("vera");
  const html = await (await m.request("/ui/settings", { cookie })).text();
  const table = html.slice(html.indexOf('id="settings-table"'));
  assert.match(table, /https:\/\/vpn\.example\.com:8443\//);
  assert.match(table, /WIREBUDDY_TLS/);
  assert.ok(!html.includes('<form method="post" action="/ui/settings'), "nothing to post");
  m.close();
});

Deno.test("every page links the favicon, which is served as SVG", async () => {
  const m = await testMaster();
  const page = await (await m.request("/login")).text();
  assert.match(page, /<link rel="icon" href="\/static\/favicon\.svg" type="image\/svg\+xml"\/>/);
  const icon = await m.request("/static/favicon.svg");
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get("content-type"), "image/svg+xml");
  assert.match(await icon.text(), /^<svg/);
  m.close();
});

Deno.test("settings warn when the public URL only reaches this machine", async () => {
  const m = await testMaster({
    settings: [{ label: "Public URL", value: "https://127.0.0.1:8443/", env: "WIREBUDDY_PUBLIC_URL" }],
  });
  await m.addUser("vera", "viewer");
  const cookie = await m.login("vera");
  const html = await (await m.request("/ui/settings", { cookie })).text();
  assert.match(
    html,
    /id="public-url-warning">The public URL is <code>https:\/\/127\.0\.0\.1:8443\/<\/code>, which only this machine can reach/,
  );
  const fine = await testMaster({
    settings: [{ label: "Public URL", value: "https://vpn.example.com:8443/", env: "WIREBUDDY_PUBLIC_URL" }],
  });
  await fine.addUser("vera", "viewer");
  const html2 = await (await fine.request("/ui/settings", { cookie: await fine.login("vera") })).text();
  assert.doesNotMatch(html2, /public-url-warning/);
  m.close();
  fine.close();
});

// --- feedback: confirmations, the login's next address, a session that ends mid-form ---------------

/** A cookie header from a response's Set-Cookie lines, added to `cookie`. */
function withCookies(cookie: string, res: Response): string {
  const set = res.headers.getSetCookie().map((c) => c.split(";")[0]!).filter((c) => !c.endsWith("="));
  return [cookie, ...set].filter(Boolean).join("; ");
}

Deno.test("every destructive action asks first, on a page of its own (no JavaScript) or in the dialog", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const viewer = await m.addUser("vera", "viewer");
  const cookie = await m.login("root");
  await m.form("/ui/interfaces", { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: "51820" }, {
    cookie,
  });
  await m.form("/ui/peers", { interface_id: "1", name: "alice", enabled: "on" }, { cookie });
  await m.form("/ui/tokens", { name: "ci", scope: "read", expires_in_days: "9" }, { cookie });
  const tokenId = m.services.tokens.list()[0]!.id;
  const cases = [
    ["/ui/peers", "/ui/peers/1/delete", "Delete peer alice?", "/ui/peers/1/delete"],
    ["/ui/interfaces", "/ui/interfaces/1/delete", "Delete interface wg0?", "/ui/interfaces/1/delete"],
    ["/ui/users", `/ui/users/${viewer.id}/delete`, "Delete user vera?", `/ui/users/${viewer.id}/delete`],
    ["/ui/tokens", `/ui/tokens/${tokenId}/revoke`, "Revoke token ci?", `/ui/tokens/${tokenId}/revoke`],
  ] as const;
  for (const [list, link, question, action] of cases) {
    const page = await (await m.request(list, { cookie })).text();
    assert.doesNotMatch(page, /hx-confirm/, `${list}: no browser confirm() box`);
    assert.match(
      page,
      new RegExp(`href="${link}" hx-get="${link}" hx-target="#modal"`),
      `${list}: a link to ask`,
    );
    const full = await m.request(link, { cookie });
    assert.equal(full.status, 200, link);
    const html = await full.text();
    assert.match(html, new RegExp(`<h1>${question.replace("?", "\\?")}</h1>`));
    assert.match(html, new RegExp(`<form method="post" action="${action}"`));
    assert.match(html, /class="warning"/);
    const dialog = await (await m.request(link, {
      cookie,
      headers: { "hx-request": "true", "hx-target": "modal" },
    })).text();
    assert.doesNotMatch(dialog, /<html/);
    assert.match(dialog, new RegExp(`<h2 id="modal-title">${question.replace("?", "\\?")}</h2>`));
    assert.match(dialog, /<form method="dialog" class="inline"><button type="submit">Cancel<\/button>/);
  }
  // Asking changes nothing; the POST does.
  assert.equal(m.services.peers.stats().total, 1);
  const del = await m.form("/ui/peers/1/delete", { back: "/ui/peers" }, { cookie });
  assert.equal(del.status, 303);
  assert.equal(m.services.peers.stats().total, 0);
  m.close();
});

Deno.test("the login keeps the whole address it was sent from, query included, and nothing off-site", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const res = await m.request("/ui/peers?q=bob+smith&node=local&page=2");
  assert.equal(res.status, 303);
  const location = res.headers.get("location")!;
  assert.equal(location, `/login?next=${encodeURIComponent("/ui/peers?q=bob+smith&node=local&page=2")}`);
  const login = await (await m.request(location)).text();
  assert.match(login, /name="next" value="\/ui\/peers\?q=bob\+smith&amp;node=local&amp;page=2"/);
  const done = await m.form("/login", {
    username: "root",
    password: PASSWORD,
    next: "/ui/peers?q=bob+smith&node=local&page=2",
  });
  assert.equal(done.headers.get("location"), "/ui/peers?q=bob+smith&node=local&page=2");
  for (const next of ["/\\evil.example", "/%0d%0aSet-Cookie:x", "/ui/a b"]) {
    const r = await m.form("/login", { username: "root", password: PASSWORD, next });
    const to = r.headers.get("location")!;
    assert.ok(to.startsWith("/") && !to.startsWith("//") && !/[\s\\]/.test(to), `${next} → ${to}`);
  }
  // An htmx request (a poll, a search) sends the browser to the login with the page it is on.
  const hx = await m.request("/ui/nodes", {
    headers: { "hx-request": "true", "hx-current-url": "https://wb.test:8443/ui/nodes?x=1" },
  });
  assert.equal(hx.status, 401);
  assert.equal(hx.headers.get("hx-redirect"), `/login?next=${encodeURIComponent("/ui/nodes?x=1")}`);
  m.close();
});

Deno.test("a form posted after the session ended comes back filled in after the login, with why, never a password", async () => {
  const m = await testMaster({ sessionTtlMs: 60 * 60_000 });
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  await m.form("/ui/interfaces", { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: "51820" }, {
    cookie,
  });
  m.clock.advance(61 * 60_000); // the session ends while the add-peer form is open

  const res = await m.form("/ui/peers", { interface_id: "1", name: "carol-tablet", routing: "split" }, {
    cookie,
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), `/login?next=${encodeURIComponent("/ui/peers/new")}`);
  assert.equal(m.services.peers.stats().total, 0, "nothing saved");
  let jar = withCookies("", res);
  const login = await (await m.request(res.headers.get("location")!, { cookie: jar })).text();
  assert.match(
    login,
    /Your session ended, so that was not saved\. Log in again: you will be back on the form/,
  );

  const signedIn = await m.form("/login", { username: "root", password: PASSWORD, next: "/ui/peers/new" }, {
    cookie: jar,
  });
  assert.equal(signedIn.headers.get("location"), "/ui/peers/new");
  jar = withCookies(jar, signedIn);
  const form = await m.request("/ui/peers/new", { cookie: jar });
  const html = await form.text();
  assert.match(html, /name="name" type="text" value="carol-tablet"/);
  assert.match(html, /<option value="split" selected="">/);
  assert.match(html, /This is what you typed before your session ended/);
  assert.match(form.headers.getSetCookie().join("\n"), /__Host-wb_draft=;/, "used once");

  // A password is never kept; an htmx post gets HX-Redirect.
  m.clock.advance(13 * 60 * 60_000);
  const users = await m.form(
    "/ui/users",
    { username: "dora", password: "a secret password", role: "viewer" },
    {
      cookie: jar,
      headers: { "hx-request": "true" },
    },
  );
  assert.equal(users.status, 401);
  assert.equal(users.headers.get("hx-redirect"), `/login?next=${encodeURIComponent("/ui/users")}`);
  const draft = users.headers.getSetCookie().find((c) => c.startsWith("__Host-wb_draft="))!;
  const kept = decodeURIComponent(draft.split(";")[0]!.slice("__Host-wb_draft=".length));
  assert.match(kept, /dora/);
  assert.doesNotMatch(kept, /secret password/);
  m.close();
});
