// The failover pools screen without JavaScript: create a pool, add a member, drain and undrain it,
// remove it after a confirmation page; a viewer sees the page without the forms.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";

const system = { kind: "system" as const, name: "test" };

async function setup() {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.addUser("vera", "viewer");
  const admin = await m.login("root");
  const viewer = await m.login("vera");
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const node = (await m.services.nodes.create(system, null, { name: "alpha", fqdn: "203.0.113.1" })).node;
  return { m, admin, viewer, node };
}

const POOL = {
  name: "wbp0",
  ipv4_pool: "10.77.0.0/24",
  listen_port: "51900",
  announce_kind: "vrrp",
  vrrp_address: "192.0.2.10/24",
  vrrp_vrid: "42",
  vrrp_advert_ms: "",
  vrrp_link: "",
};

Deno.test("the pools page creates a pool, adds, drains, undrains and removes a member with plain forms", async () => {
  const { m, admin, node } = await setup();
  const bad = await m.form("/ui/pools", { ...POOL, vrrp_vrid: "0" }, { cookie: admin });
  assert.equal(bad.status, 422);
  assert.match(await bad.text(), /Router id: must be 1-255/);
  const created = await m.form("/ui/pools", POOL, { cookie: admin });
  assert.equal(created.status, 303, await created.text());
  const id = m.services.pools.list()[0]!.id;
  const added = await m.form(`/ui/pools/${id}/members`, { node_id: String(node.id), priority: "" }, {
    cookie: admin,
  });
  assert.equal(added.status, 303, await added.text());
  let page = await (await m.request("/ui/pools", { cookie: admin })).text();
  assert.match(page, /alpha/);
  assert.match(page, /VRRP 192\.0\.2\.10\/24 \(router id 42/);
  assert.match(page, /in service/);
  assert.match(page, new RegExp(`action="/ui/pools/${id}/members/${node.id}/drain"`));
  assert.match(page, /href="\/ui\/pools"/, "the nav links the screen");

  assert.equal((await m.form(`/ui/pools/${id}/members/${node.id}/drain`, {}, { cookie: admin })).status, 303);
  page = await (await m.request("/ui/pools", { cookie: admin })).text();
  assert.match(page, /drained: safe to stop|draining/);
  assert.match(page, /Undrain/);
  assert.equal(
    (await m.form(`/ui/pools/${id}/members/${node.id}/undrain`, {}, { cookie: admin })).status,
    303,
  );
  assert.equal(m.services.pools.get(id).members[0]!.drained, false);

  const confirm = await m.request(`/ui/pools/${id}/members/${node.id}/remove`, { cookie: admin });
  assert.equal(confirm.status, 200);
  assert.match(await confirm.text(), /download its config again/);
  const removed = await m.form(`/ui/pools/${id}/members/${node.id}/remove`, {}, { cookie: admin });
  assert.equal(removed.status, 303);
  assert.equal(m.services.pools.get(id).members.length, 0);

  const edit = await m.request(`/ui/pools/${id}/edit`, { cookie: admin });
  assert.match(await edit.text(), /value="192\.0\.2\.10\/24"/);
  const saved = await m.form(`/ui/pools/${id}`, { ...POOL, vrrp_vrid: "43" }, { cookie: admin });
  assert.equal(saved.status, 303, await saved.text());
  const a = m.services.pools.get(id).announce;
  assert.equal(a?.kind === "vrrp" && a.vrid, 43);
  const actions = m.db.all<{ action: string }>(
    "SELECT action FROM audit_log WHERE action LIKE 'pool.%' ORDER BY id",
  ).map((r) => r.action);
  assert.deepEqual(actions, [
    "pool.create",
    "pool.member.add",
    "pool.member.drain",
    "pool.member.undrain",
    "pool.member.remove",
    "pool.rotate",
    "pool.update",
  ]);
  m.close();
});

Deno.test("a viewer sees the pools page without forms and cannot drain", async () => {
  const { m, viewer, node } = await setup();
  const pool = await m.services.pools.create(system, null, {
    name: "wbp0",
    ipv4_pool: "10.77.0.0/24",
    listen_port: 51900,
    announce: { kind: "vrrp", address: "192.0.2.10/24", vrid: 42 },
  });
  m.services.pools.addMember(system, null, pool.id, { node_id: node.id });
  const page = await (await m.request("/ui/pools", { cookie: viewer })).text();
  assert.match(page, /wbp0/);
  assert.doesNotMatch(page, /Create a pool|<button type="submit">Drain|Remove/);
  const res = await m.form(`/ui/pools/${pool.id}/members/${node.id}/drain`, {}, { cookie: viewer });
  assert.equal(res.status, 403);
  assert.equal(m.services.pools.get(pool.id).members[0]!.drained, false);
  m.close();
});
