// Failover pools (issue 11) where the rest of the master shows or changes them: the /metrics counters
// of a pool client, the interfaces API and form on a pool interface, the peers list, page and JSON, and
// what a scoped admin may do with pools.
import assert from "node:assert/strict";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { enrolled, type EnrolledNode, sendHeartbeat } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };
const VRRP = { kind: "vrrp", address: "192.0.2.10/24", vrid: 42, advert_ms: 500, link: "eth0" };

async function world() {
  const m = await testMaster();
  await m.services.interfaces.create(system, null, {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    dns: "10.13.13.1",
  });
  const a = await enrolled(m, "alpha");
  const b = await enrolled(m, "bravo");
  const c = await enrolled(m, "charlie");
  for (const n of [a, b, c]) await sendHeartbeat(m, n);
  const pool = await m.services.pools.create(system, null, {
    name: "wbp0",
    ipv4_pool: "10.77.0.0/24",
    listen_port: 51900,
    announce: VRRP,
  });
  m.services.pools.addMember(system, null, pool.id, { node_id: a.node.id });
  m.services.pools.addMember(system, null, pool.id, { node_id: b.node.id });
  const client = await m.services.peers.create(system, null, { interface_id: pool.id, name: "phone" });
  return { m, a, b, c, pool, client };
}

let seq = 0;
/** A traffic sample at `at` (ms) with both counters at `bytes`. */
const sample = (peer: string, at: number, bytes: number) => ({
  seq: ++seq,
  at,
  peer,
  rx: bytes,
  tx: bytes * 2,
  handshake: Math.floor(at / 1000),
  endpoint: null,
});

/** The value of `name{…peer="peer"…}` on /metrics, with its labels. */
function counter(m: TestMaster, name: string, peer: string): { labels: string; value: number } | null {
  const line = m.services.prom.render().split("\n").find((l) =>
    l.startsWith(`${name}{`) && l.includes(`peer="${peer}"`)
  );
  if (!line) return null;
  const [, labels, value] = /^\S+\{(.*)\} (\S+)$/.exec(line)!;
  return { labels: labels!, value: Number(value) };
}

Deno.test("/metrics: a pool client's counters are the sum of each member's latest, so a takeover never lowers them; a node's peer keeps its newest sample", async () => {
  const { m, a, b, c, client } = await world();
  try {
    const t0 = m.clock.now() - 10 * 60_000;
    const at = (i: number) => t0 + i * 60_000;
    const rx = () => counter(m, "wirebuddy_peer_rx_bytes_total", "phone")?.value;
    const tx = () => counter(m, "wirebuddy_peer_tx_bytes_total", "phone")?.value;
    assert.equal(rx(), undefined, "no sample yet: no series");
    await sendHeartbeat(m, a, {
      metrics: [sample(client.publicKey, at(0), 0), sample(client.publicKey, at(1), 1000)],
    });
    assert.equal(rx(), 1000);
    // bravo takes the client over: its own counters start from 0.
    await sendHeartbeat(m, b, { metrics: [sample(client.publicKey, at(2), 0)] });
    assert.equal(rx(), 1000, "the takeover does not lower the counter");
    await sendHeartbeat(m, b, { metrics: [sample(client.publicKey, at(3), 500)] });
    assert.equal(rx(), 1500);
    assert.equal(tx(), 3000);
    const labels = counter(m, "wirebuddy_peer_rx_bytes_total", "phone")!.labels;
    assert.match(labels, /interface="wbp0",node="pool wbp0"/);
    // The newest handshake of any member.
    const age = counter(m, "wirebuddy_peer_latest_handshake_age_seconds", "phone")!.value;
    assert.equal(age, Math.max(0, m.clock.now() / 1000 - Math.floor(at(3) / 1000)));

    // A peer served by a node: its newest sample, as before (a lower counter is a reset, shown as is).
    const laptop = await m.services.peers.create(system, null, {
      interface_id: 1,
      name: "laptop",
      node_id: c.node.id,
    });
    await sendHeartbeat(m, c, {
      metrics: [sample(laptop.publicKey, at(0), 900), sample(laptop.publicKey, at(1), 100)],
    });
    assert.equal(counter(m, "wirebuddy_peer_rx_bytes_total", "laptop")?.value, 100);
    assert.match(counter(m, "wirebuddy_peer_rx_bytes_total", "laptop")!.labels, /node="charlie"/);
  } finally {
    m.close();
  }
});

export type { EnrolledNode };

Deno.test("the peers list, a peer's pages and its JSON show a pool client as served by its pool and the member holding it, not by the master", async () => {
  const { m, a, pool, client } = await world();
  try {
    const master = await m.services.peers.create(system, null, { interface_id: 1, name: "desk" });
    const token = await m.token("read");
    const json = async (path: string) => await (await m.api(path, { token })).json();
    let p = await json(`/peers/${client.id}`);
    assert.equal(p.node_id, null);
    assert.deepEqual(p.pool, { id: pool.id, name: "wbp0", served_by: null });
    assert.equal((await json(`/peers/${master.id}`)).pool, null);
    // alpha reports the client's handshake: it holds the client.
    await sendHeartbeat(m, a, { metrics: [sample(client.publicKey, m.clock.now(), 10)] });
    p = await json(`/peers/${client.id}`);
    assert.deepEqual(p.pool.served_by, { node_id: a.node.id, node: "alpha" });
    const listed = (await json("/peers")).peers.find((x: { id: number }) => x.id === client.id);
    assert.deepEqual(listed.pool, p.pool);
    // The master's own peers are not the pool's clients.
    const local = (await json("/peers?node=local")).peers.map((x: { name: string }) => x.name);
    assert.deepEqual(local, ["desk"]);

    const cookie = await (async () => {
      await m.addUser("root", "admin");
      return await m.login("root");
    })();
    const row = (html: string, id: number) => {
      const start = html.indexOf(`<tr id="peer-${id}"`);
      assert.ok(start >= 0, `row of peer ${id}`);
      return html.slice(start, html.indexOf("</tr>", start));
    };
    const list = await (await m.request("/ui/peers", { cookie })).text();
    assert.match(row(list, client.id), /pool wbp0<\/span><small class="muted served-by">via alpha<\/small>/);
    assert.doesNotMatch(row(list, client.id), />Master</);
    assert.match(row(list, master.id), />Master</);
    // The pools page links each client to its page.
    const pools = await (await m.request("/ui/pools", { cookie })).text();
    const link = new RegExp(`href="([^"]+)">phone</a>`).exec(pools)?.[1];
    assert.equal(link, `/ui/peers/${client.id}/traffic`);
    for (const path of [link, `/ui/peers/${client.id}/qr`]) {
      const page = await (await m.request(path, { cookie })).text();
      assert.match(page, /pool wbp0<\/span><small class="muted served-by">via alpha/, path);
      assert.doesNotMatch(page, /badge local">Master</, path);
    }
  } finally {
    m.close();
  }
});

Deno.test("traffic: the fleet total counts a pool client's bytes once over both members, and each member's chart its own part", async () => {
  const { m, a, b, client } = await world();
  try {
    const t0 = m.clock.now() - 30 * 60_000;
    const at = (i: number) => t0 + i * 60_000;
    await sendHeartbeat(m, a, {
      metrics: [0, 600, 1000].map((v, i) => sample(client.publicKey, at(i), v)),
    });
    await sendHeartbeat(m, b, {
      metrics: [0, 200, 500].map((v, i) => sample(client.publicKey, at(3 + i), v)),
    });
    assert.deepEqual(m.services.traffic.total("1h").totals, { rx: 1500, tx: 3000 });
    assert.deepEqual(m.services.traffic.forHost(a.node.id, "1h").totals, { rx: 1000, tx: 2000 });
    assert.deepEqual(m.services.traffic.forHost(b.node.id, "1h").totals, { rx: 500, tx: 1000 });
    assert.deepEqual(m.services.traffic.forPeer(client.publicKey, "1h").totals, { rx: 1500, tx: 3000 });
  } finally {
    m.close();
  }
});

const version = (m: TestMaster, id: number) =>
  m.db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id })!.v;
const poolPort = (m: TestMaster, id: number) =>
  m.db.get<{ p: number }>("SELECT listen_port AS p FROM interfaces WHERE id = :id", { id })!.p;

Deno.test("the interfaces API and form on a pool interface run the pool's checks: a member's own port is refused (409 naming it), other fields save and reach the members", async () => {
  const { m, a, b, c, pool } = await world();
  try {
    const token = await m.token("write");
    // alpha's own ports: 51820 (wg0) and 51821 (the pool's index); the pools API refuses them.
    const viaPools = await m.api(`/pools/${pool.id}`, {
      method: "PATCH",
      token,
      json: { listen_port: 51821 },
    });
    assert.equal(viaPools.status, 409);
    const res = await m.api(`/interfaces/${pool.id}`, {
      method: "PATCH",
      token,
      json: { listen_port: 51821 },
    });
    const body = await res.json();
    assert.equal(res.status, 409, JSON.stringify(body));
    assert.match(JSON.stringify(body), /node alpha's own/);
    assert.equal(poolPort(m, pool.id), 51900);
    // The edit form says the same and keeps the port.
    await m.addUser("root", "admin");
    const cookie = await m.login("root");
    const form = await m.form(`/ui/interfaces/${pool.id}`, {
      ipv4_pool: "10.77.0.1/24",
      listen_port: "51821",
      dns: "",
    }, { cookie });
    assert.equal(form.status, 409);
    assert.match(await form.text(), /node alpha&#39;s own|node alpha's own/);
    assert.equal(poolPort(m, pool.id), 51900);
    // A field the pools API does not carry saves, and reaches the members (not charlie).
    const before = [a, b, c].map((n) => version(m, n.node.id));
    const ok = await m.api(`/interfaces/${pool.id}`, {
      method: "PATCH",
      token,
      json: { mtu: 1380, listen_port: 51910 },
    });
    assert.equal(ok.status, 200);
    assert.equal(poolPort(m, pool.id), 51910);
    const after = [a, b, c].map((n) => version(m, n.node.id));
    assert.ok(after[0]! > before[0]! && after[1]! > before[1]!, `members bumped: ${before} -> ${after}`);
    assert.equal(after[2], before[2], "charlie carries no pool");
  } finally {
    m.close();
  }
});

Deno.test("no interface may take a pool's floating address, and a new interface may not give a member the pool's port", async () => {
  const { m, pool } = await world();
  try {
    const token = await m.token("write");
    const wide = await m.api("/interfaces/1", {
      method: "PATCH",
      token,
      json: { ipv4_pool: "192.0.2.0/24" },
    });
    assert.equal(wide.status, 409);
    assert.match(JSON.stringify(await wide.json()), /pool wbp0's floating address 192\.0\.2\.10/);
    const created = await m.api("/interfaces", {
      method: "POST",
      token,
      json: { name: "wg9", ipv4_pool: "192.0.2.0/25", listen_port: 51990 },
    });
    assert.equal(created.status, 409);
    // The members' third port would be 51822: the pool on it refuses a third interface until it moves.
    assert.equal(
      (await m.api(`/pools/${pool.id}`, { method: "PATCH", token, json: { listen_port: 51822 } })).status,
      200,
    );
    const third = await m.api("/interfaces", {
      method: "POST",
      token,
      json: { name: "wg2", ipv4_pool: "10.20.0.0/24", listen_port: 51830 },
    });
    assert.equal(third.status, 409);
    assert.match(JSON.stringify(await third.json()), /node alpha port 51822 .*pool wbp0's port/);
    assert.equal(m.services.interfaces.list().length, 2);
  } finally {
    m.close();
  }
});

Deno.test("deleting a pool through the interfaces API is the pools API's delete: refused while it has clients, then gone from every member", async () => {
  const { m, a, b, pool, client } = await world();
  try {
    const token = await m.token("write");
    // The interfaces page marks the pool, and its delete confirmation says what deleting a pool does.
    await m.addUser("root", "admin");
    const cookie = await m.login("root");
    const list = await (await m.request("/ui/interfaces", { cookie })).text();
    assert.match(list, new RegExp(`id="interface-${pool.id}"[^]*?failover pool</span>`));
    const confirm = await (await m.request(`/ui/interfaces/${pool.id}/delete`, { cookie })).text();
    assert.match(confirm, /still has 1 peer/);
    assert.equal((await m.api(`/interfaces/${pool.id}`, { method: "DELETE", token })).status, 409);
    assert.equal((await m.api(`/peers/${client.id}`, { method: "DELETE", token })).status, 204);
    const before = [a, b].map((n) => version(m, n.node.id));
    assert.match(
      await (await m.request(`/ui/interfaces/${pool.id}/delete`, { cookie })).text(),
      /Failover pool wbp0 \(10\.77\.0\.1\/24, port 51900\) is taken down on every member/,
    );
    assert.equal((await m.api(`/interfaces/${pool.id}`, { method: "DELETE", token })).status, 204);
    assert.equal((await m.api(`/pools/${pool.id}`, { token })).status, 404);
    for (const [i, n] of [a, b].entries()) {
      assert.ok(version(m, n.node.id) > before[i]!, `${n.node.name} bumped`);
      const cfg = await m.services.sync.config(n.node.id) as { interfaces: { name: string }[] };
      assert.ok(!cfg.interfaces.some((x) => x.name === "wbp0"), `${n.node.name} no longer carries the pool`);
    }
    assert.equal(m.db.get<{ n: number }>("SELECT count(*) AS n FROM pool_members")!.n, 0);
  } finally {
    m.close();
  }
});

Deno.test("a scoped admin reads the pools in scope and manages their clients, but changes no pool through any route (403 saying why)", async () => {
  const { m, a, c, pool } = await world();
  try {
    const other = await m.services.pools.create(system, null, {
      name: "wbp1",
      ipv4_pool: "10.78.0.0/24",
      listen_port: 51901,
      announce: { ...VRRP, address: "192.0.2.11/24", vrid: 43 },
    });
    m.services.pools.addMember(system, null, other.id, { node_id: c.node.id });
    await m.services.peers.create(system, null, { interface_id: other.id, name: "secret-tablet" });
    const sam = await m.addUser("sam", "admin");
    m.services.accounts.setScope(system, null, sam.id, { nodes: [a.node.id], interfaces: [pool.id] });
    const token = await m.token("write", "sam");
    const cookie = await m.login("sam");
    const stored = () =>
      JSON.stringify([
        m.db.all("SELECT * FROM interfaces ORDER BY id"),
        m.db.all("SELECT * FROM pool_members ORDER BY interface_id, node_id"),
      ]);
    const before = stored();

    // Reads: the pools in scope only.
    const list = await m.api("/pools", { token });
    assert.equal(list.status, 200);
    const text = await list.text();
    assert.deepEqual(JSON.parse(text).pools.map((p: { name: string }) => p.name), ["wbp0"]);
    assert.ok(!text.includes("wbp1") && !text.includes("secret-tablet"));
    assert.equal((await m.api(`/pools/${pool.id}`, { token })).status, 200);
    assert.equal((await m.api(`/pools/${other.id}`, { token })).status, 403);
    const page = await m.request("/ui/pools", { cookie });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /wbp0/);
    assert.ok(!html.includes("wbp1") && !html.includes("secret-tablet"));
    assert.ok(!/action="\/ui\/pools/.test(html), "no pool forms for a scoped admin");

    // Writes: none, whichever route, even on a member node in scope (alpha).
    const writes: [string, string, unknown?][] = [
      ["POST", "/pools", { name: "wbp2", ipv4_pool: "10.79.0.0/24", listen_port: 51902, announce: VRRP }],
      ["PATCH", `/pools/${pool.id}`, { listen_port: 51950 }],
      ["DELETE", `/pools/${pool.id}`],
      ["POST", `/pools/${pool.id}/members`, { node_id: c.node.id }],
      ["PATCH", `/pools/${pool.id}/members/${a.node.id}`, { priority: 250 }],
      ["DELETE", `/pools/${pool.id}/members/${a.node.id}`],
      ["POST", `/pools/${pool.id}/members/${a.node.id}/drain`],
      ["POST", `/pools/${pool.id}/members/${a.node.id}/undrain`],
      ["PATCH", `/interfaces/${pool.id}`, { mtu: 1300 }],
      ["DELETE", `/interfaces/${pool.id}`],
    ];
    for (const [method, path, json] of writes) {
      const res = await m.api(path, { method, token, ...(json ? { json } : {}) });
      const body = await res.text();
      assert.equal(res.status, 403, `${method} ${path}: ${body}`);
      assert.match(body, /admins of the whole fleet only/, `${method} ${path}`);
    }
    for (const path of [`/ui/pools/${pool.id}/members/${a.node.id}/drain`, `/ui/interfaces/${pool.id}`]) {
      const res = await m.form(path, { mtu: "1300" }, { cookie });
      assert.equal(res.status, 403, path);
    }
    assert.equal((await m.request(`/ui/pools/${pool.id}/edit`, { cookie })).status, 403);
    assert.equal(stored(), before, "no pool changed");

    // The pool's clients are the admin's peers.
    const created = await m.api("/peers", {
      method: "POST",
      token,
      json: { interface_id: pool.id, name: "sam-phone" },
    });
    assert.equal(created.status, 201);
    assert.equal((await created.json()).pool.name, "wbp0");
  } finally {
    m.close();
  }
});

Deno.test("the peers list's live status of a pool client: the members' counters summed, the newest handshake and its endpoint, whichever member reported last", async () => {
  const { m, a, b, client } = await world();
  try {
    const now = m.clock.now();
    // alpha serves the client; bravo, not serving it, reports its flat counters later.
    await sendHeartbeat(m, a, {
      metrics: [{ ...sample(client.publicKey, now - 20_000, 1000), endpoint: "203.0.113.7:40000" }],
    });
    await sendHeartbeat(m, b, {
      metrics: [{ ...sample(client.publicKey, now - 5_000, 300), handshake: 0, endpoint: null }],
    });
    const live = m.services.traffic.latestMany([client.publicKey]).get(client.publicKey)!;
    assert.deepEqual(
      { rx: live.rx, tx: live.tx, handshakeAt: live.handshakeAt, endpoint: live.endpoint },
      {
        rx: 1300,
        tx: 2600,
        handshakeAt: Math.floor((now - 20_000) / 1000) * 1000,
        endpoint: "203.0.113.7:40000",
      },
    );
    assert.equal(m.services.traffic.latest(client.publicKey)?.endpoint, "203.0.113.7:40000");
  } finally {
    m.close();
  }
});
