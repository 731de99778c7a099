// Nodes that are failover pool members: a new WireGuard port may not give a member a pool's port (409
// naming the pool), and the master's own node does not count pool clients as its peers.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

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
  for (const n of [a, b]) await sendHeartbeat(m, n);
  const pool = await m.services.pools.create(system, null, {
    name: "wbp0",
    ipv4_pool: "10.77.0.0/24",
    listen_port: 51900,
    announce: VRRP,
  });
  m.services.pools.addMember(system, null, pool.id, { node_id: a.node.id });
  return { m, a, b, pool, token: await m.token("write") };
}

Deno.test("a pool member's new wg_port that would give it the pool's port is refused with 409 naming the pool; nothing changes", async () => {
  const { m, a, b, token } = await world();
  const patch = (id: number, wg_port: number) =>
    m.api(`/nodes/${id}`, { method: "PATCH", token, json: { wg_port } });
  const version = () => m.services.nodes.get(a.node.id).configVersion;
  const before = version();
  // wg0 is interface 0 (wg_port + 0), the pool interface 1 (wg_port + 1): both would land on 51900.
  for (const port of [51900, 51899]) {
    const res = await patch(a.node.id, port);
    const body = await res.json();
    assert.equal(res.status, 409, `${port}: ${JSON.stringify(body)}`);
    assert.match(JSON.stringify(body), /pool wbp0/, `${port}: the answer names the pool`);
    assert.equal(m.services.nodes.get(a.node.id).wgPort, 51820, `${port}: the port is unchanged`);
  }
  assert.equal(version(), before, "no config bump for a refused edit");
  assert.equal(
    m.db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'node.update'")!.n,
    0,
    "nothing audited",
  );

  // Another port is fine; a node outside the pool may use the pool's port for its own.
  assert.equal((await patch(a.node.id, 51830)).status, 200);
  assert.equal(m.services.nodes.get(a.node.id).wgPort, 51830);
  assert.equal((await patch(b.node.id, 51900)).status, 200);
  m.close();
});

Deno.test("the master's own node counts its own peers, not a failover pool's clients", async () => {
  const { m, pool } = await world();
  await m.services.peers.create(system, null, { interface_id: 1, name: "laptop on the master" });
  await m.services.peers.create(system, null, { interface_id: pool.id, name: "phone on the pool" });
  await m.services.peers.create(system, null, { interface_id: pool.id, name: "tablet on the pool" });
  const local = m.services.nodes.list().find((n) => n.isLocal)!;
  assert.equal(local.peerCount, 1);
  assert.equal(m.services.nodes.get(local.id).peerCount, 1);
  m.close();
});
