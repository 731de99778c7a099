// Scoped admins: limited to some nodes and pools (and their peers). Every route of the app is taken from
// the app itself and requested by a scoped admin (session and API token) with the ids of things outside the
// scope: none may read or change them; what is in scope stays usable; the audit log shows the scope.
import assert from "node:assert/strict";
import { PASSWORD, type TestMaster, testMaster } from "../../support/master.ts";

const system = { kind: "system" as const, name: "test" };
/**
 * Names that only things outside the scope carry: never in a scoped admin's answers. (The pool wg-b is
 * outside too, but amsterdam, in scope, carries it, so its name shows on that node; its own routes are
 * refused like every other id outside the scope.)
 */
const SECRET_NAMES = ["berlin", "bob-phone", "dave-laptop", "root-ops-token", "ops-hook", "hooks.example"];

async function world(m: TestMaster) {
  const root = await m.addUser("root", "admin");
  const sam = await m.addUser("sam", "admin");
  const amsterdam =
    (await m.services.nodes.create(system, null, { name: "amsterdam", fqdn: "ams.example.com" })).node;
  const berlin =
    (await m.services.nodes.create(system, null, { name: "berlin", fqdn: "ber.example.com" })).node;
  const wgA = await m.services.interfaces.create(system, null, { name: "wg-a", ipv4_pool: "10.10.0.0/24" });
  const wgB = await m.services.interfaces.create(system, null, {
    name: "wg-b",
    ipv4_pool: "10.20.0.0/24",
    listen_port: 51821,
  });
  const peer = (interface_id: number, name: string, node_id?: number) =>
    m.services.peers.create(system, null, { interface_id, name, ...(node_id ? { node_id } : {}) });
  const alice = await peer(wgA.id, "alice-phone");
  const carol = await peer(wgA.id, "carol-tablet", amsterdam.id); // served by a node in scope
  const bob = await peer(wgB.id, "bob-phone");
  const dave = await peer(wgA.id, "dave-laptop", berlin.id); // a pool in scope, but a node outside serves it
  const rootActor = {
    kind: "user" as const,
    userId: root.id,
    username: "root",
    role: "admin" as const,
    sessionHash: "",
  };
  const rootToken = await m.services.tokens.create(rootActor, null, {
    name: "root-ops-token",
    scope: "write",
  });
  const hook = await m.services.webhooks.create(system, null, {
    name: "ops-hook",
    url: "https://hooks.example/a",
    secret: "topsecret-0123",
    events: ["node.down"],
  });
  m.services.accounts.setScope(system, null, sam.id, { nodes: [amsterdam.id], interfaces: [wgA.id] });
  const session = await m.login("sam");
  const token = await m.token("write", "sam");
  return { root, sam, amsterdam, berlin, wgA, wgB, alice, carol, bob, dave, rootToken, hook, session, token };
}

/** Everything outside the scope, as stored: must be the same after the scoped admin tried every route. */
function outside(m: TestMaster, w: Awaited<ReturnType<typeof world>>) {
  return JSON.stringify({
    nodes: m.db.all("SELECT * FROM nodes WHERE id = :id", { id: w.berlin.id }),
    iface: m.db.all("SELECT * FROM interfaces WHERE id = :id", { id: w.wgB.id }),
    peers: m.db.all("SELECT * FROM peers WHERE id IN (:a, :b) OR interface_id = :i ORDER BY id", {
      a: w.bob.id,
      b: w.dave.id,
      i: w.wgB.id,
    }),
    users: m.db.all("SELECT id, username, role, scope, password_hash FROM users ORDER BY id"),
    tokens: m.db.all("SELECT * FROM api_tokens WHERE user_id = :id", { id: w.root.id }),
    hooks: m.db.all("SELECT * FROM webhooks"),
    dns: m.db.all("SELECT name FROM sqlite_master WHERE name LIKE 'dns%'").length,
  });
}

const PUBLIC = /^\/($|login|setup|logout|static\/|api\/(health|ready|openapi\.json|sync\/))/;

Deno.test("a scoped admin cannot read or change anything outside the scope through any route", async () => {
  const m = await testMaster();
  const w = await world(m);
  const before = outside(m, w);
  const idFor = (path: string) => {
    if (/\/nodes\//.test(path)) return w.berlin.id;
    if (/\/interfaces\//.test(path)) return w.wgB.id;
    if (/\/peers\//.test(path)) return w.bob.id;
    if (/\/users\//.test(path)) return w.root.id;
    if (/\/tokens\//.test(path)) return w.rootToken.view.id;
    if (/\/webhooks\//.test(path)) return w.hook.id;
    return 1;
  };
  const routes = new Map<string, { method: string; path: string }>();
  for (const r of m.app.routes) {
    if (r.method === "ALL" || PUBLIC.test(r.path) || r.path.includes("*")) continue;
    routes.set(`${r.method} ${r.path}`, r);
  }
  assert.ok(routes.size > 100, `every route of the app (${routes.size})`);
  const checked: string[] = [];
  for (const { method, path } of routes.values()) {
    const url = path.replace(/:(\w+)/g, () => String(idFor(path)));
    const fields = {
      name: "evil",
      interface_id: String(w.wgB.id),
      node_id: String(w.berlin.id),
      role: "admin",
    };
    const answers: Response[] = [];
    if (path.startsWith("/api/") || path === "/metrics") {
      const json = method === "GET" || method === "DELETE"
        ? undefined
        : { ...fields, interface_id: w.wgB.id };
      const res = path === "/metrics"
        ? await m.app.request("https://wb.test:8443/metrics", {
          headers: { authorization: `Bearer ${w.token}` },
        })
        : await m.api(url.slice(4), { method, token: w.token, ...(json ? { json } : {}) });
      answers.push(res);
    } else if (method === "GET") {
      answers.push(await m.request(url, { cookie: w.session }));
    } else {
      answers.push(await m.form(url, fields, { cookie: w.session }));
    }
    for (const res of answers) {
      const body = await res.text();
      const where = `${method} ${path} -> ${res.status}`;
      for (const name of SECRET_NAMES) assert.ok(!body.includes(name), `${where} shows "${name}"`);
      const own =
        /^\/ui\/account|^\/api\/me$|^\/(ui|api)\/(tokens|audit|nodes|interfaces|peers|pools)(\/new|\/live)?$/
          .test(path);
      if (!own) assert.ok([403, 404, 303].includes(res.status), `${where}: ${body.slice(0, 200)}`);
      if (res.status === 303) {
        assert.ok(!/berlin|wg-b/.test(res.headers.get("location") ?? ""), where);
      }
    }
    checked.push(`${method} ${path}`);
  }
  assert.equal(outside(m, w), before, "nothing outside the scope changed");
  // Every route was requested (the list is in the test's output when it fails).
  assert.equal(checked.length, routes.size, checked.join("\n"));
  m.close();
});

Deno.test("a scoped admin sees and changes what is in scope; API tokens inherit the scope", async () => {
  const m = await testMaster();
  const w = await world(m);
  const names = async (path: string, key: string) =>
    ((await (await m.api(path, { token: w.token })).json())[key] as { name: string }[]).map((x) => x.name)
      .sort();
  assert.deepEqual(await names("/nodes", "nodes"), ["amsterdam"]);
  assert.deepEqual(await names("/interfaces", "interfaces"), ["wg-a"]);
  assert.deepEqual(await names("/peers", "peers"), ["alice-phone", "carol-tablet"]);
  const me = await (await m.api("/me", { token: w.token })).json();
  assert.deepEqual(me.scope, { nodes: [w.amsterdam.id], interfaces: [w.wgA.id] });
  // Changes in scope work; a peer may not be moved or created outside it.
  assert.equal(
    (await m.api(`/peers/${w.alice.id}`, { method: "PATCH", token: w.token, json: { name: "alice-2" } }))
      .status,
    200,
  );
  const move = await m.api(`/peers/${w.alice.id}`, {
    method: "PATCH",
    token: w.token,
    json: { node_id: w.berlin.id },
  });
  assert.equal(move.status, 403);
  assert.equal(
    (await m.api("/peers", {
      method: "POST",
      token: w.token,
      json: { interface_id: w.wgA.id, name: "erin" },
    })).status,
    201,
  );
  assert.equal(
    (await m.api("/peers", { method: "POST", token: w.token, json: { interface_id: w.wgB.id, name: "x1" } }))
      .status,
    403,
  );
  // dave is in sam's pool but served by a node outside the scope: neither seen nor changed.
  assert.equal((await m.api(`/peers/${w.dave.id}`, { token: w.token })).status, 403);
  assert.equal((await m.api(`/peers/${w.dave.id}`, { method: "DELETE", token: w.token })).status, 403);
  // A peer of another pool that a node in scope serves is sam's (the node's peers).
  const frank = await m.services.peers.create(system, null, {
    interface_id: w.wgB.id,
    name: "frank-phone",
    node_id: w.amsterdam.id,
  });
  assert.equal((await m.api(`/peers/${frank.id}`, { token: w.token })).status, 200);
  assert.ok((await names("/peers", "peers")).includes("frank-phone"));
  assert.equal((await m.api(`/nodes/${w.amsterdam.id}`, { token: w.token })).status, 200);
  // The UI shows the same.
  const peersPage = await (await m.request("/ui/peers", { cookie: w.session })).text();
  assert.match(peersPage, /alice-2/);
  assert.ok(!peersPage.includes("bob-phone"));
  assert.equal(
    (await m.request("/ui/dashboard", { cookie: w.session })).headers.get("location"),
    "/ui/peers",
  );
  // The audit log shows the scope of what sam did, and sam sees only their own entries.
  const entry = m.services.audit.list({ action: "peer.update" })[0]!;
  assert.equal(
    entry.actor,
    `sam (token ${(await (await m.api("/me", { token: w.token })).json()).token.name})`,
  );
  assert.match(entry.detail, new RegExp(`\\[scope nodes=\\[${w.amsterdam.id}\\] pools=\\[${w.wgA.id}\\]\\]`));
  const audit = (await (await m.api("/audit", { token: w.token })).json()).entries as { actor: string }[];
  assert.ok(
    audit.length > 0 && audit.every((e) => e.actor.startsWith("sam")),
    JSON.stringify(audit.slice(0, 3)),
  );
  const scoped = m.services.audit.list({ action: "user.scope" })[0]!;
  assert.equal(scoped.target, "sam");
  // Back to the whole fleet: everything is visible again at once (sessions and tokens).
  m.services.accounts.setScope(system, null, w.sam.id, null);
  assert.ok((await names("/nodes", "nodes")).includes("berlin"));
  m.close();
});

Deno.test("scopes are set by unscoped admins, in the UI and the API, naming existing nodes and pools", async () => {
  const m = await testMaster();
  const w = await world(m);
  const root = await m.login("root");
  const page = await (await m.request(`/ui/users/${w.sam.id}/scope`, { cookie: root })).text();
  assert.match(page, /amsterdam/);
  const form = new URLSearchParams([["scoped", "on"], ["nodes", String(w.berlin.id)], [
    "interfaces",
    String(w.wgB.id),
  ]]);
  const res = await m.request(`/ui/users/${w.sam.id}/scope`, {
    method: "POST",
    cookie: root,
    body: form,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assert.equal(res.status, 303);
  assert.deepEqual(m.services.accounts.get(w.sam.id).scope, { nodes: [w.berlin.id], interfaces: [w.wgB.id] });
  const users = await (await m.request("/ui/users", { cookie: root })).text();
  assert.match(users, /nodes: berlin; pools: wg-b/);
  const rootToken = await m.token("write", "root");
  const bad = await m.api(`/users/${w.sam.id}`, {
    method: "PATCH",
    token: rootToken,
    json: { scope: { nodes: [999] } },
  });
  assert.equal(bad.status, 422);
  const cleared = await m.api(`/users/${w.sam.id}`, {
    method: "PATCH",
    token: rootToken,
    json: { scope: null },
  });
  assert.equal((await cleared.json()).scope, null);
  // The last unscoped admin cannot be scoped; a scoped admin cannot scope anyone.
  m.services.accounts.setScope(system, null, w.sam.id, { nodes: [w.amsterdam.id] });
  const self = await m.api(`/users/${w.root.id}`, {
    method: "PATCH",
    token: rootToken,
    json: { scope: { nodes: [] } },
  });
  assert.equal(self.status, 409);
  assert.equal(
    (await m.api(`/users/${w.root.id}`, { method: "PATCH", token: w.token, json: { scope: null } })).status,
    403,
  );
  assert.equal((await m.form("/login", { username: "sam", password: PASSWORD })).status, 303);
  m.close();
});
