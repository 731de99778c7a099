import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";

type M = Awaited<ReturnType<typeof testMaster>>;

const system = { kind: "system" as const, name: "test" };
const NODE = { name: "frankfurt", fqdn: "fra.example.com", wg_port: "51820" };

/** A master with an admin and a viewer logged in, interface wg0, and the built-in `local` node. */
async function setup() {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.addUser("vera", "viewer");
  const admin = await m.login("root");
  const viewer = await m.login("vera");
  await m.services.interfaces.create(system, null, {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    listen_port: 51820,
  });
  return { m, admin, viewer };
}

const localId = (m: M) => m.services.nodes.list().find((n) => n.isLocal)!.id;
const nodeCount = (m: M) => m.db.get<{ n: number }>("SELECT count(*) AS n FROM nodes")!.n;
const fieldError = (html: string, field: string) =>
  html.match(new RegExp(`data-field="${field}">([^<]*)<`))?.[1];
const tokenOf = (html: string) => html.match(/id="enrollment-token">(wbn2\.[A-Za-z0-9_-]+)</)?.[1];

async function addNode(m: M, cookie: string, fields: Record<string, string> = {}) {
  const res = await m.form("/ui/nodes", { ...NODE, ...fields }, { cookie });
  const html = await res.text();
  assert.equal(res.status, 201, html.slice(0, 400));
  return {
    res,
    html,
    token: tokenOf(html)!,
    id: m.services.nodes.list().find((n) => !n.isLocal && n.name === (fields.name ?? NODE.name))!.id,
  };
}

async function flashOf(m: M, res: Response, cookie: string): Promise<string> {
  const flash = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
  const page = await m.request(res.headers.get("location")!, { cookie: `${cookie}; ${flash}` });
  return (await page.text()).match(/id="flash">([^<]*)</)?.[1] ?? "";
}

Deno.test('the nodes page shows the master as "Master (local)", not running, with how to start it', async () => {
  const { m, admin } = await setup();
  const res = await m.request("/ui/nodes", { cookie: admin });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const html = await res.text();
  const row = html.match(new RegExp(`<tr id="node-${localId(m)}"[\\s\\S]*?</tr>`))![0];
  assert.match(row, /Master \(local\)/);
  assert.match(row, /class="badge status-offline">not running</);
  assert.match(row, new RegExp(`href="/ui/nodes/${localId(m)}#local-node-help">How to start it<`));
  assert.doesNotMatch(row, /Edit|New token|Delete/);
  const notice = html.match(/<section class="notice" id="nodes-down"[\s\S]*?<\/section>/)?.[0] ?? "";
  assert.match(notice, /Master \(local\) is not running \(never started\)/);
  assert.match(notice, /systemctl status wirebuddy-node/, "installed with install.sh");
  assert.match(notice, /sudo scripts\/dev/, "from source");
  assert.match(
    notice,
    /WIREBUDDY_MASTER_URL=https:\/\/127\.0\.0\.1:8443 WIREBUDDY_ENROLLMENT_TOKEN=… wirebuddy-node/,
  );
  assert.match(notice, new RegExp(`href="/ui/nodes/${localId(m)}/token">make a token for it<`));
  assert.match(html, /<div id="node-table" hx-get="\/ui\/nodes" hx-trigger="every 10s" hx-swap="outerHTML">/);
  assert.match(html, /<form method="post" action="\/ui\/nodes"/);
  m.close();
});

Deno.test("adding a node shows its token once, never cached, and the row is pending", async () => {
  const { m, admin } = await setup();
  const { res, html, token, id } = await addNode(m, admin);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("location"), null, "no redirect: the token lives in this response only");
  assert.equal(res.headers.get("set-cookie"), null, "no flash cookie carries it");
  assert.ok(token, "the token is on the page");
  assert.match(
    html,
    new RegExp(
      `id="install-command">curl -fsSL https://github\\.com/wirebuddy/wirebuddy/releases/latest/download/install\\.sh \\| sudo sh -s -- node --token ${
        token.replace(/\./g, "\\.")
      }<`,
    ),
  );
  assert.match(html, /data-copy="enrollment-token"/);
  assert.match(
    html,
    /<script src="\/static\/app\.js" defer=""><\/script>/,
    "the copy script loads in the head",
  );
  assert.match(html, /shown only once/);

  const again = await (await m.request("/ui/nodes", { cookie: admin })).text();
  assert.ok(!again.includes(token), "not shown on reload");
  assert.doesNotMatch(again, /id="enrollment-token"/);
  const row = again.match(new RegExp(`<tr id="node-${id}"[\\s\\S]*?</tr>`))![0];
  assert.match(row, /frankfurt/);
  assert.match(row, /class="badge status-pending">pending</);
  assert.match(row, /fra\.example\.com/);
  assert.match(row, /<td data-label="WireGuard port">51820<\/td>/);
  assert.match(row, /never/);
  assert.ok(!(await (await m.request(`/ui/nodes/${id}`, { cookie: admin })).text()).includes(token));

  const script = await m.request("/static/app.js");
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type") ?? "", /javascript/);
  assert.match(await script.text(), /data-copy/);
  m.close();
});

Deno.test("the status table answers its own 10-second poll with just the table", async () => {
  const { m, admin } = await setup();
  await addNode(m, admin);
  const res = await m.request("/ui/nodes", {
    cookie: admin,
    headers: { "hx-request": "true", "hx-target": "node-table" },
  });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /^<div id="node-table" hx-get="\/ui\/nodes" hx-trigger="every 10s"/);
  assert.doesNotMatch(html, /<html|<nav|node-form/);
  assert.match(html, /frankfurt/);
  m.close();
});

Deno.test("the node form answers a duplicate name or FQDN with 409 and a bad port with 422, naming the field", async () => {
  const { m, admin } = await setup();
  await addNode(m, admin);
  const cases: [Record<string, string>, string, number][] = [
    [{ name: "frankfurt", fqdn: "other.example.com" }, "name", 409],
    [{ name: "tokyo", fqdn: "fra.example.com" }, "fqdn", 409],
    [{ name: "local", fqdn: "x.example.com" }, "name", 409],
    [{ name: "tokyo", fqdn: "tokyo.example.com", wg_port: "70000" }, "wg_port", 422],
    [{ name: "tokyo", fqdn: "tokyo.example.com", wg_port: "port" }, "wg_port", 422],
    [{ name: "tokyo", fqdn: "not a host!" }, "fqdn", 422],
    [{ name: "", fqdn: "tokyo.example.com" }, "name", 422],
  ];
  for (const [fields, field, status] of cases) {
    const res = await m.form("/ui/nodes", { ...NODE, ...fields }, { cookie: admin });
    const html = await res.text();
    assert.equal(res.status, status, `${JSON.stringify(fields)} → ${res.status}`);
    assert.ok(fieldError(html, field), `the error names ${field}: ${JSON.stringify(fields)}`);
    assert.match(html, /<form method="post" action="\/ui\/nodes"/, "the form is shown again");
    assert.doesNotMatch(html, /id="enrollment-token"/);
  }
  assert.equal(nodeCount(m), 2);
  // The default port applies when the field is left empty.
  const { id } = await addNode(m, admin, { name: "tokyo", fqdn: "203.0.113.20", wg_port: "" });
  assert.equal(m.services.nodes.get(id).wgPort, 51820);
  m.close();
});

Deno.test("an admin edits a node; 409 and 422 re-render the edit form naming the field", async () => {
  const { m, admin } = await setup();
  const { id } = await addNode(m, admin);
  await addNode(m, admin, { name: "tokyo", fqdn: "tokyo.example.com" });
  const page = await m.request(`/ui/nodes/${id}/edit`, { cookie: admin });
  assert.equal(page.status, 200);
  const form = await page.text();
  assert.match(form, /name="name" type="text" value="frankfurt"/);
  assert.match(form, /name="wg_port" type="number" value="51820"/);

  for (
    const [fields, field, status] of [
      [{ name: "tokyo" }, "name", 409],
      [{ fqdn: "tokyo.example.com" }, "fqdn", 409],
      [{ wg_port: "0" }, "wg_port", 422],
    ] as [Record<string, string>, string, number][]
  ) {
    const res = await m.form(`/ui/nodes/${id}`, { ...NODE, ...fields }, { cookie: admin });
    const html = await res.text();
    assert.equal(res.status, status);
    assert.ok(fieldError(html, field), `the error names ${field}`);
    assert.match(html, new RegExp(`<form method="post" action="/ui/nodes/${id}"`));
  }
  const res = await m.form(`/ui/nodes/${id}`, { name: "fra-2", fqdn: "fra2.example.com", wg_port: "51999" }, {
    cookie: admin,
  });
  assert.equal(res.status, 303);
  assert.match(await flashOf(m, res, admin), /Node fra-2 saved/);
  const n = m.services.nodes.get(id);
  assert.deepEqual([n.name, n.fqdn, n.wgPort], ["fra-2", "fra2.example.com", 51999]);
  m.close();
});

Deno.test("the master's own node can be neither edited nor deleted here, but gets a token to start it by hand", async () => {
  const { m, admin } = await setup();
  const id = localId(m);
  const before = JSON.stringify(m.services.nodes.get(id));
  for (const path of [`/ui/nodes/${id}/edit`, `/ui/nodes/${id}/delete`]) {
    assert.equal((await m.request(path, { cookie: admin })).status, 409, path);
  }
  assert.equal((await m.form(`/ui/nodes/${id}`, NODE, { cookie: admin })).status, 409);
  assert.equal((await m.form(`/ui/nodes/${id}/delete`, {}, { cookie: admin })).status, 409);
  assert.equal(JSON.stringify(m.services.nodes.get(id)), before);
  const page = await m.request(`/ui/nodes/${id}`, { cookie: admin });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<h1>Master \(local\)/);
  assert.match(html, /<td class="primary">wg0<\/td>/, "the master's interfaces with their keys");
  assert.match(html, /10\.13\.13\.1\/24/);
  assert.match(html, /id="local-node-help"/, "how to start it, on its own page");

  // Its token: confirmed first, then shown once with the command for this machine.
  const confirm = await (await m.request(`/ui/nodes/${id}/token`, { cookie: admin })).text();
  assert.match(confirm, /New enrollment token for Master \(local\)\?/);
  const res = await m.form(`/ui/nodes/${id}/token`, {}, { cookie: admin });
  assert.equal(res.status, 200);
  const tokenPage = await res.text();
  const token = tokenOf(tokenPage)!;
  assert.ok(token);
  assert.match(
    tokenPage,
    new RegExp(
      `id="install-command">WIREBUDDY_MASTER_URL=https://127\\.0\\.0\\.1:8443 WIREBUDDY_ENROLLMENT_TOKEN=${
        token.replace(/\./g, "\\.")
      } wirebuddy-node<`,
    ),
  );
  assert.ok(m.services.nodes.get(id).tokenExpiresAt, "a token is pending for it");
  m.close();
});

Deno.test("a node that is not running is named in the Node dropdowns, on the dashboard and on the peers page", async () => {
  const { m, admin } = await setup();
  const { id } = await addNode(m, admin);
  await m.services.peers.create(system, null, { interface_id: 1, name: "alice" });
  await m.services.peers.create(system, null, { interface_id: 1, name: "bob", node_id: id });

  const form = await (await m.request("/ui/peers/new", { cookie: admin })).text();
  assert.match(
    form,
    /<option value="" selected="">Master \(local\) — not running \(never started\)<\/option>/,
  );
  assert.match(form, new RegExp(`<option value="${id}">frankfurt — waiting to enroll</option>`));
  assert.match(
    form,
    /data-warning="node_id">Master \(local\) — not running \(never started\): this peer cannot connect until the node runs/,
  );

  const peers = await (await m.request("/ui/peers", { cookie: admin })).text();
  const notice = peers.match(/<section class="notice" id="nodes-down"[\s\S]*?<\/section>/)?.[0] ?? "";
  assert.match(
    notice,
    /Master \(local\) is not running \(never started\)<\/strong>: 1 peer on it cannot connect/,
  );
  assert.match(notice, /frankfurt is waiting to enroll<\/strong>: 1 peer on it cannot connect/);
  assert.match(peers, /<option value="local">Master \(local\) — not running \(never started\)<\/option>/);

  const dash = await (await m.request("/ui/dashboard", { cookie: admin })).text();
  assert.match(dash, /id="nodes-down"/);
  assert.match(dash, /Master \(local\) is not running/);
  assert.match(dash, /id="local-node-help"/);

  // Once the node reports in, it is no longer named as down.
  m.db.run("UPDATE nodes SET status = 'online', last_seen_at = :now", { now: m.clock.now() });
  const after = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.doesNotMatch(after, /id="nodes-down"/);
  const form2 = await (await m.request("/ui/peers/new", { cookie: admin })).text();
  assert.match(form2, /<option value="" selected="">Master \(local\)<\/option>/);
  assert.doesNotMatch(form2, /data-warning="node_id"/);
  m.close();
});

Deno.test("deleting a node warns with its peer count first, then unassigns them to the master", async () => {
  const { m, admin } = await setup();
  const { id } = await addNode(m, admin);
  for (const name of ["alice", "bob", "carol"]) {
    await m.services.peers.create(system, null, {
      interface_id: 1,
      name,
      node_id: name === "carol" ? null : id,
    });
  }
  const confirm = await m.request(`/ui/nodes/${id}/delete`, { cookie: admin });
  assert.equal(confirm.status, 200);
  const html = await confirm.text();
  assert.match(
    html,
    /id="delete-warning">2 peers are assigned to this node\. They will be unassigned and become the master&#39;s own peers/,
  );
  assert.match(html, new RegExp(`<form method="post" action="/ui/nodes/${id}/delete"`));
  assert.equal(nodeCount(m), 2, "the confirmation changes nothing");

  const res = await m.form(`/ui/nodes/${id}/delete`, {}, { cookie: admin });
  assert.equal(res.status, 303);
  assert.match(
    await flashOf(m, res, admin),
    /Node frankfurt deleted\. 2 peers moved to the master \(local\)\./,
  );
  assert.equal(nodeCount(m), 1);
  assert.equal(m.db.get<{ n: number }>("SELECT count(*) AS n FROM peers WHERE node_id IS NULL")!.n, 3);
  assert.equal((await m.request(`/ui/nodes/${id}`, { cookie: admin })).status, 404);
  assert.equal(m.services.audit.list({ action: "node.delete" }).length, 1);
  m.close();
});

Deno.test("a new token warns first, then shows a new token once and the old one is replaced", async () => {
  const { m, admin } = await setup();
  const { id, token: old } = await addNode(m, admin);
  const confirm = await m.request(`/ui/nodes/${id}/token`, { cookie: admin });
  assert.equal(confirm.status, 200);
  assert.match(await confirm.text(), /id="token-warning">The old enrollment token stops working at once/);
  const res = await m.form(`/ui/nodes/${id}/token`, {}, { cookie: admin });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const html = await res.text();
  const token = tokenOf(html);
  assert.ok(token && token !== old);
  assert.match(html, /The old token no longer works/);
  assert.ok(!(await (await m.request("/ui/nodes", { cookie: admin })).text()).includes(token));
  assert.equal(m.services.audit.list({ action: "node.token" }).length, 1);
  m.close();
});

Deno.test("a viewer sees nodes but no forms, and every node mutation is 403 and changes nothing", async () => {
  const { m, admin, viewer } = await setup();
  const { id } = await addNode(m, admin);
  const page = await (await m.request("/ui/nodes", { cookie: viewer })).text();
  assert.match(page, /frankfurt/);
  assert.doesNotMatch(page, /<form method="post" action="\/ui\/nodes/);
  assert.doesNotMatch(page, /\/edit"|\/delete"|\/token"/);
  const detail = await (await m.request(`/ui/nodes/${id}`, { cookie: viewer })).text();
  assert.doesNotMatch(detail, /\/edit"|\/delete"|\/token"/);
  const before = JSON.stringify(m.services.nodes.list());
  const audits = m.services.audit.list({}).length;
  for (const path of [`/ui/nodes/${id}/edit`, `/ui/nodes/${id}/delete`, `/ui/nodes/${id}/token`]) {
    assert.equal((await m.request(path, { cookie: viewer })).status, 403, path);
  }
  const posts: [string, Record<string, string>][] = [
    ["/ui/nodes", { ...NODE, name: "sneaky", fqdn: "sneaky.example.com" }],
    [`/ui/nodes/${id}`, { ...NODE, name: "renamed" }],
    [`/ui/nodes/${id}/token`, {}],
    [`/ui/nodes/${id}/delete`, {}],
    [`/ui/nodes/${localId(m)}/delete`, {}],
  ];
  for (const [path, fields] of posts) {
    const res = await m.form(path, fields, { cookie: viewer });
    const html = await res.text();
    assert.equal(res.status, 403, path);
    assert.doesNotMatch(html, /wbn[12]\./, "no token leaks");
  }
  assert.equal(JSON.stringify(m.services.nodes.list()), before);
  assert.equal(m.services.audit.list({}).length, audits);
  m.close();
});

Deno.test("csrf rejects a cross-site POST to /ui/nodes and its actions", async () => {
  const { m, admin } = await setup();
  const { id } = await addNode(m, admin);
  const posts: [string, Record<string, string>][] = [
    ["/ui/nodes", { ...NODE, name: "evil", fqdn: "evil.example.com" }],
    [`/ui/nodes/${id}`, { ...NODE, name: "evil" }],
    [`/ui/nodes/${id}/token`, {}],
    [`/ui/nodes/${id}/delete`, {}],
  ];
  for (const [path, fields] of posts) {
    const res = await m.form(path, fields, { cookie: admin, origin: "https://evil.example" });
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /CSRF/);
    const bare = await m.form(path, fields, { cookie: admin, origin: null });
    assert.equal(bare.status, 403, `${path} without Origin`);
  }
  assert.equal(nodeCount(m), 2);
  assert.equal(m.services.nodes.get(id).name, "frankfurt");
  assert.equal(m.services.audit.list({ action: "node.token" }).length, 0);
  m.close();
});

Deno.test("the dashboard, node and peer pages say honestly when there are no traffic samples", async () => {
  const { m, admin } = await setup();
  const { id } = await addNode(m, admin);
  const p = await m.services.peers.create(system, null, { interface_id: 1, name: "alice", node_id: id });
  for (const path of ["/ui/dashboard", `/ui/nodes/${id}`, `/ui/peers/${p.id}/traffic`]) {
    const res = await m.request(path, { cookie: admin });
    assert.equal(res.status, 200, path);
    const html = await res.text();
    assert.match(html, /No traffic samples yet\./, path);
    assert.doesNotMatch(html, /<svg class="chart"/, path);
  }
  const peer = await (await m.request(`/ui/peers/${p.id}/traffic`, { cookie: admin })).text();
  assert.match(peer, /id="peer-handshake"><span class="muted">no report yet/);
  assert.match(
    await (await m.request("/ui/peers", { cookie: admin })).text(),
    new RegExp(`href="/ui/peers/${p.id}/traffic"`),
  );
  m.close();
});

Deno.test("traffic charts draw rx and tx from samples; the node page lists interface keys and addresses", async () => {
  const { m, admin, viewer } = await setup();
  const { id } = await addNode(m, admin);
  const p = await m.services.peers.create(system, null, { interface_id: 1, name: "alice", node_id: id });
  const now = m.clock.now();
  for (let k = 0; k <= 120; k++) {
    m.db.run(
      `INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
       VALUES (:key, 0, :at, :node, :rx, :tx, :hs, '198.51.100.4:5000', :rx, :tx)`,
      {
        key: p.publicKey,
        at: now - (120 - k) * 30_000,
        node: id,
        rx: k * 30_000,
        tx: k * 3_000,
        hs: Math.floor(now / 1000) - 40,
      },
    );
  }
  for (
    const path of [
      "/ui/dashboard",
      `/ui/nodes/${id}`,
      `/ui/peers/${p.id}/traffic`,
      `/ui/peers/${p.id}/traffic?range=7d`,
    ]
  ) {
    const html = await (await m.request(path, { cookie: viewer })).text();
    assert.match(html, /<svg class="chart" viewBox="0 0 720 220" role="img"/, path);
    // an hour of samples: a line in 10-minute slots, a dot in the 7-day view's hourly slots
    assert.match(html, /<path class="series rx" d="M[\d.]+,[\d.]+ ?(L|h0\.1)/, path);
    assert.match(html, /<path class="series tx" d="M/, path);
    assert.match(html, /8 kbit\/s/, `${path}: 1000 B/s shown as 8 kbit/s`);
  }
  const peer = await (await m.request(`/ui/peers/${p.id}/traffic`, { cookie: viewer })).text();
  assert.match(peer, /id="peer-handshake"><time datetime="[^"]+" title="[^"]+">40 s ago/);
  assert.match(peer, /id="peer-endpoint"><code>198\.51\.100\.4:5000<\/code>/);
  // An hour of samples and no older ones: the chart shows the last hour, by minute.
  assert.match(peer, /<strong aria-current="true">1h<\/strong>/);
  assert.match(peer, /Traffic of alice, last hour/);
  assert.match(peer, /<a href="\/ui\/peers\/\d+\/traffic\?range=24h">24h<\/a>/);

  const node = await (await m.request(`/ui/nodes/${id}`, { cookie: viewer })).text();
  assert.match(
    node,
    /<td class="primary">wg0<\/td>\s*<td data-label="Address"><code>10\.13\.13\.\d+\/32<\/code><\/td>\s*<td data-label="Public key"><span class="muted">not reported yet/,
  );
  m.close();
});

Deno.test("charts show traffic at once: three minutes of raw samples draw a line, before any rollup", async () => {
  const { m, admin } = await setup();
  const p = await m.services.peers.create(system, null, { interface_id: 1, name: "alice" });
  const now = m.clock.now();
  const sample = (at: number, k: number) =>
    m.db.run(
      `INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint)
       VALUES (:key, 0, :at, NULL, :rx, :tx, 0, NULL)`,
      { key: p.publicKey, at, rx: k * 600_000, tx: k * 60_000 },
    );
  for (let k = 0; k <= 6; k++) sample(now - (6 - k) * 30_000, k);
  for (const path of ["/ui/dashboard", `/ui/peers/${p.id}/traffic`, "/ui/nodes/1"]) {
    const html = await (await m.request(path, { cookie: admin })).text();
    assert.match(html, /<strong aria-current="true">1h<\/strong>/, path);
    const rx = html.match(/<path class="series rx" d="([^"]*)"/)?.[1] ?? "";
    assert.ok(
      (rx.match(/L/g) ?? []).length >= 2,
      `${path}: a line of at least three minutes, not one dash: ${rx}`,
    );
  }
  // The 24-hour view stays one click away, and once traffic is older than two hours it is the default.
  const day = await (await m.request("/ui/dashboard?range=24h", { cookie: admin })).text();
  assert.match(day, /<strong aria-current="true">24h<\/strong>/);
  sample(now - 5 * 3_600_000, 0);
  sample(now - 5 * 3_600_000 + 600_000, 0);
  const later = await (await m.request("/ui/dashboard", { cookie: admin })).text();
  assert.match(later, /<strong aria-current="true">24h<\/strong>/);
  assert.match(later, /Traffic, last 24 hours \(all peers\)/);
  m.close();
});

Deno.test("the chart SVG escapes a malicious peer name", async () => {
  const { m, admin } = await setup();
  const p = await m.services.peers.create(system, null, { interface_id: 1, name: "alice" });
  // The schema refuses such names; a row written by hand (or an older version) must still render safely.
  const evil = `</title><script>alert(1)</script><text x="0">&"'`;
  m.db.run("UPDATE peers SET name = :evil WHERE id = :id", { evil, id: p.id });
  const now = m.clock.now();
  for (let k = 0; k <= 40; k++) {
    m.db.run(
      `INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint)
       VALUES (:key, 0, :at, NULL, :rx, :tx, 0, '<img src=x onerror=alert(1)>')`,
      { key: p.publicKey, at: now - (40 - k) * 30_000, rx: k * 1000, tx: k * 100 },
    );
  }
  const html = await (await m.request(`/ui/peers/${p.id}/traffic`, { cookie: admin })).text();
  const svg = html.match(/<svg class="chart"[\s\S]*?<\/svg>/)?.[0];
  assert.ok(svg, "the chart is drawn");
  assert.ok(
    svg.includes("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
    "the name is escaped in the SVG title",
  );
  assert.doesNotMatch(html, /<script>alert|<img src=x/);
  const scripts = html.match(/<script[^>]*>/g) ?? [];
  assert.ok(scripts.length >= 1);
  for (const tag of scripts) {
    assert.match(tag, /^<script src="\/static\/[a-z.]+\.js"( defer="")?>$/, "only our own script files");
  }
  m.close();
});

Deno.test("first run: the dashboard says what to do next, ticking each step as it is done", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const admin = await m.login("root");
  const steps = async () =>
    (await (await m.request("/ui/dashboard", { cookie: admin })).text()).match(
      /<section class="card highlight" id="first-steps">[\s\S]*?<\/section>/,
    )?.[0] ?? "";
  let s = await steps();
  assert.match(s, /<a href="\/ui\/interfaces#new-interface">Create an interface<\/a>/);
  assert.match(s, /Add a peer/);
  assert.match(s, /<a href="\/ui\/nodes#new-node">add a node<\/a>/);
  assert.doesNotMatch(s, /class="done"/);

  // The interface form starts filled in with what a first interface needs.
  const form = await (await m.request("/ui/interfaces", { cookie: admin })).text();
  for (
    const [name, value] of [["name", "wg0"], ["ipv4_pool", "10.13.13.0/24"], ["listen_port", "51820"], [
      "dns",
      "1.1.1.1, 9.9.9.9",
    ], ["keepalive", "25"]]
  ) {
    assert.match(
      form,
      new RegExp(`name="${name}" type="text" value="${value.replace(/[.]/g, "\\.")}"`),
      name,
    );
  }
  // Posting it as it is just works.
  assert.equal(
    (await m.form("/ui/interfaces", {
      name: "wg0",
      ipv4_pool: "10.13.13.0/24",
      listen_port: "51820",
      dns: "1.1.1.1, 9.9.9.9",
      keepalive: "25",
    }, { cookie: admin })).status,
    303,
  );
  s = await steps();
  assert.match(s, /<li class="done">An interface: done\.<\/li>/);
  assert.match(s, /<a href="\/ui\/peers\/new">Add a peer<\/a>/);
  // The next interface's defaults are the next free name, pool and port.
  const next = await (await m.request("/ui/interfaces", { cookie: admin })).text();
  assert.match(next, /name="name" type="text" value="wg1"/);
  assert.match(next, /name="ipv4_pool" type="text" value="10\.13\.14\.0\/24"/);
  assert.match(next, /name="listen_port" type="text" value="51821"/);

  await m.form("/ui/peers", { interface_id: "1", name: "alice", enabled: "on" }, { cookie: admin });
  assert.equal(await steps(), "", "done: the dashboard is the dashboard again");
  m.close();
});

Deno.test("the token page turns from waiting to online by itself when the node enrolls", async () => {
  const { m, admin } = await setup();
  const { html, id } = await addNode(m, admin);
  assert.match(
    html,
    new RegExp(
      `<p id="enroll-status" class="enroll-status" role="status" hx-get="/ui/nodes/${id}/status" hx-trigger="every 3s" hx-swap="outerHTML" data-quiet="true">`,
    ),
  );
  assert.match(html, /Waiting for the node to enroll/);
  const poll = async () => await (await m.request(`/ui/nodes/${id}/status`, { cookie: admin })).text();
  assert.match(await poll(), /hx-trigger="every 3s"[\s\S]*Waiting for the node to enroll/);
  // What enrollment and the first heartbeat record:
  m.db.run("UPDATE nodes SET verify_key = 'k', hostname = 'fra-1' WHERE id = :id", { id });
  assert.match(await poll(), /Enrolled; waiting for its first report/);
  m.db.run("UPDATE nodes SET status = 'online', last_seen_at = :now WHERE id = :id", {
    id,
    now: m.clock.now(),
  });
  const online = await poll();
  assert.match(online, /<p id="enroll-status" class="enroll-status online" role="status">/);
  assert.match(online, /Online: frankfurt enrolled from fra-1\./);
  assert.doesNotMatch(online, /hx-trigger/, "and it stops polling");
  m.close();
});
