// The failover pool API (issue 11): status codes, validation with no change, audit rows, read tokens.
import assert from "node:assert/strict";
import { dnsDesiredInput } from "../../../src/master/service/dns_desired.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };
const VRRP = { kind: "vrrp", address: "192.0.2.10/24", vrid: 42 };
const DNS = {
  kind: "dns",
  name: "vpn.example.com",
  zone: "example.com",
  server: "192.0.2.53",
  tsig: { name: "wb", secret: btoa("0123456789abcdef") },
};

async function setup() {
  const m = await testMaster();
  const token = await m.token("write");
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "alpha");
  await sendHeartbeat(m, a);
  return { m, token, a };
}

const counts = (m: Awaited<ReturnType<typeof testMaster>>) =>
  m.db.get<{ i: number; p: number; a: number }>(
    `SELECT (SELECT count(*) FROM interfaces) AS i, (SELECT count(*) FROM pool_members) AS p,
       (SELECT count(*) FROM audit_log WHERE action LIKE 'pool.%') AS a`,
  )!;

Deno.test("POST /api/pools creates a pool (201), members, drain and undrain are audited; DELETE needs no peers", async () => {
  const { m, token, a } = await setup();
  const res = await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: VRRP },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const pool = await res.json();
  assert.equal(pool.address4, "10.77.0.1/24");
  assert.deepEqual(pool.announce, {
    kind: "vrrp",
    address: "192.0.2.10/24",
    vrid: 42,
    advert_ms: 1000,
    link: null,
  });
  const add = await m.api(`/pools/${pool.id}/members`, {
    method: "POST",
    token,
    json: { node_id: a.node.id },
  });
  assert.equal(add.status, 201);
  const added = await add.json();
  assert.equal(added.members[0].node, "alpha");
  assert.equal(added.members[0].drain_state, "active");
  const drain = await m.api(`/pools/${pool.id}/members/${a.node.id}/drain`, { method: "POST", token });
  assert.equal(drain.status, 200);
  assert.equal((await drain.json()).members[0].drained, true);
  const undrain = await m.api(`/pools/${pool.id}/members/${a.node.id}/undrain`, { method: "POST", token });
  assert.equal((await undrain.json()).members[0].drained, false);
  const prio = await m.api(`/pools/${pool.id}/members/${a.node.id}`, {
    method: "PATCH",
    token,
    json: { priority: 150 },
  });
  assert.equal((await prio.json()).members[0].priority, 150);
  const list = await (await m.api("/pools", { token })).json();
  assert.deepEqual(list.pools.map((p: { name: string }) => p.name), ["wbp0"]);

  const peer = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: pool.id, name: "phone" },
  });
  assert.equal(peer.status, 201);
  assert.equal((await m.api(`/pools/${pool.id}`, { method: "DELETE", token })).status, 409);
  const removed = await m.api(`/pools/${pool.id}/members/${a.node.id}`, { method: "DELETE", token });
  assert.equal(removed.status, 200);
  assert.notEqual((await removed.json()).public_key, pool.public_key);
  await m.api(`/peers/${(await peer.json()).id}`, { method: "DELETE", token });
  assert.equal((await m.api(`/pools/${pool.id}`, { method: "DELETE", token })).status, 204);
  assert.equal((await m.api(`/pools/${pool.id}`, { token })).status, 404);
  const actions = m.db.all<{ action: string }>(
    "SELECT action FROM audit_log WHERE action LIKE 'pool.%' OR action = 'interface.delete' ORDER BY id",
  ).map((r) => r.action);
  assert.deepEqual(actions, [
    "pool.create",
    "pool.member.add",
    "pool.member.drain",
    "pool.member.undrain",
    "pool.member.update",
    "pool.member.remove",
    "pool.rotate",
    "interface.delete",
  ]);
  m.close();
});

Deno.test("bad pool input is a 4xx naming the field, and changes nothing", async () => {
  const { m, token, a } = await setup();
  const before = counts(m);
  const cases: [unknown, number, string][] = [
    [{ name: "wbp0", ipv4_pool: "10.77.0.0/24", announce: { ...VRRP, vrid: 0 } }, 422, "announce.vrid"],
    [
      { name: "wbp0", ipv4_pool: "10.77.0.0/24", announce: { ...VRRP, address: "10.13.13.50/24" } },
      422,
      "announce.address",
    ],
    [
      {
        name: "wbp0",
        ipv4_pool: "10.77.0.0/24",
        announce: { ...DNS, tsig: { name: "wb", secret: "not base64!" } },
      },
      422,
      "announce.tsig.secret",
    ],
    [
      { name: "wbp0", ipv4_pool: "10.77.0.0/24", announce: { ...DNS, name: "vpn.example.org" } },
      422,
      "announce.name",
    ],
    [
      {
        name: "wbp0",
        ipv4_pool: "10.77.0.0/24",
        announce: { ...DNS, tsig: { ...DNS.tsig, algorithm: "hmac-md5" } },
      },
      422,
      "announce.tsig.algorithm",
    ],
    [
      { name: "wbp0", ipv4_pool: "10.77.0.0/24", announce: { ...DNS, server: "ns1:99999" } },
      422,
      "announce.server",
    ],
    [{ name: "wbp0", ipv4_pool: "10.13.13.0/25", announce: VRRP }, 409, "ipv4_pool"],
    [{ name: "wg0", ipv4_pool: "10.77.0.0/24", announce: VRRP }, 409, "name"],
    [{ name: "wbp0", ipv4_pool: "10.77.0.0/24" }, 422, "announce"],
  ];
  for (const [json, status, field] of cases) {
    const res = await m.api("/pools", { method: "POST", token, json });
    const body = await res.json();
    assert.equal(res.status, status, JSON.stringify(body));
    assert.ok(body.error.fields.some((f: { field: string }) => f.field === field), JSON.stringify(body));
  }
  assert.deepEqual(counts(m), before);

  const ok = await m.api("/pools", {
    method: "POST",
    token,
    json: {
      name: "wbp0",
      ipv4_pool: "10.77.0.0/24",
      listen_port: 51900,
      announce: { ...VRRP, link: "eth0" },
    },
  });
  const pool = await ok.json();
  const dupVrid = await m.api("/pools", {
    method: "POST",
    token,
    json: {
      name: "wbp1",
      ipv4_pool: "10.78.0.0/24",
      listen_port: 51901,
      announce: { ...VRRP, link: "eth0" },
    },
  });
  assert.equal(dupVrid.status, 409);
  const otherLink = await m.api("/pools", {
    method: "POST",
    token,
    json: {
      name: "wbp1",
      ipv4_pool: "10.78.0.0/24",
      listen_port: 51901,
      announce: { ...VRRP, link: "eth1" },
    },
  });
  assert.equal(otherLink.status, 201, "the same router id on another link is fine");
  // The pool's port must not be one of a member's own ports (its wg_port + interface index).
  const clash = await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp2", ipv4_pool: "10.79.0.0/24", listen_port: 51822, announce: { ...VRRP, vrid: 7 } },
  });
  const clashing = await clash.json();
  const member = await m.api(`/pools/${clashing.id}/members`, {
    method: "POST",
    token,
    json: { node_id: a.node.id },
  });
  assert.equal(member.status, 409, "alpha's own ports are 51820 + index");
  assert.match((await member.json()).error.message, /alpha's own WireGuard port/);
  const peerWithNode = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: pool.id, name: "x", node_id: a.node.id },
  });
  assert.equal(peerWithNode.status, 422);
  const missing = await m.api(`/pools/${pool.id}/members/999/drain`, { method: "POST", token });
  assert.equal(missing.status, 404);
  const notPool = await m.api("/pools/1", { token });
  assert.equal(notPool.status, 404, "the tunnel interface is no pool");
  m.close();
});

Deno.test("a read token may list pools but not change them; editing keeps a DNS pool's TSIG secret", async () => {
  const { m, token } = await setup();
  const read = await m.token("read");
  const denied = await m.api("/pools", {
    method: "POST",
    token: read,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", announce: DNS },
  });
  assert.equal(denied.status, 403);
  const res = await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: DNS },
  });
  const pool = await res.json();
  assert.equal(pool.announce.server, "192.0.2.53:53");
  assert.equal(pool.announce.tsig.has_secret, true);
  assert.equal(JSON.stringify(pool).includes(DNS.tsig.secret), false, "the secret is never shown");
  const edit = await m.api(`/pools/${pool.id}`, {
    method: "PATCH",
    token,
    json: { announce: { ...DNS, ttl: 10, tsig: { name: "wb2" } } },
  });
  assert.equal(edit.status, 200, await edit.clone().text());
  const [t] = await m.services.pools.dnsTargets(m.clock.now());
  assert.equal(t!.tsig.secret, DNS.tsig.secret);
  assert.equal(t!.tsig.name, "wb2");
  assert.equal(t!.ttl, 10);
  assert.equal((await m.api("/pools", { token: read })).status, 200);
  // The master's Unbound accepts queries from the pool's addresses.
  assert.ok(dnsDesiredInput(m.db, m.clock.now()).pools.includes("10.77.0.0/24"));
  m.close();
});

Deno.test("a restore under another secret key re-seals a DNS pool's TSIG secret and its private key", async () => {
  const { m, token } = await setup();
  await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: DNS },
  });
  const { reseal } = await import("../../../src/master/service/restore.ts");
  const { TEST_SECRET } = await import("../../support/master.ts");
  const n = await reseal(m.db, TEST_SECRET, "another-secret-key-0123456789-abcdefghijklmn");
  assert.ok(n >= 3, `re-sealed ${n}`);
  const cells = m.db.get<{ n: number }>(
    "SELECT count(*) AS n FROM interfaces WHERE pool_tsig_secret_sealed LIKE 'v1.%'",
  )!.n;
  assert.equal(cells, 1);
  m.close();
});

Deno.test("a pool member cannot be deleted as a node until it left the pool (its key is rotated then)", async () => {
  const { m, token, a } = await setup();
  const pool = await (await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: VRRP },
  })).json();
  await m.api(`/pools/${pool.id}/members`, { method: "POST", token, json: { node_id: a.node.id } });
  const refused = await m.api(`/nodes/${a.node.id}`, { method: "DELETE", token });
  assert.equal(refused.status, 409);
  assert.match((await refused.json()).error.message, /member of pool wbp0/);
  await m.api(`/pools/${pool.id}/members/${a.node.id}`, { method: "DELETE", token });
  assert.equal((await m.api(`/nodes/${a.node.id}`, { method: "DELETE", token })).status, 200);
  m.close();
});

Deno.test("PATCH /api/pools/{id} changes the port, checked against other interfaces and members' own ports", async () => {
  const { m, token, a } = await setup();
  const pool = await (await m.api("/pools", {
    method: "POST",
    token,
    json: { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: VRRP },
  })).json();
  await m.api(`/pools/${pool.id}/members`, { method: "POST", token, json: { node_id: a.node.id } });
  const peer =
    await (await m.api("/peers", { method: "POST", token, json: { interface_id: pool.id, name: "p" } }))
      .json();
  for (const [port, why] of [[51821, "alpha's own"], [51820, "wg0"]] as const) {
    const res = await m.api(`/pools/${pool.id}`, { method: "PATCH", token, json: { listen_port: port } });
    assert.equal(res.status, 409);
    assert.match((await res.json()).error.message, new RegExp(why));
  }
  const v =
    m.db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id: a.node.id })!.v;
  const ok = await m.api(`/pools/${pool.id}`, { method: "PATCH", token, json: { listen_port: 51999 } });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).listen_port, 51999);
  assert.ok(
    m.db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id: a.node.id })!.v > v,
  );
  const conf = await (await m.api(`/peers/${peer.id}/config`, { token })).text();
  assert.match(conf, /^Endpoint = 192\.0\.2\.10:51999$/m);
  m.close();
});
