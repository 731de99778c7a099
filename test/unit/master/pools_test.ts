// Failover pools on the master (issue 11): a member's config carries the pool with the pool's key, a
// non-member's does not; removal rotates the identity; holders move the master's tunnel routes; the
// drain lifecycle; client configs; the DNS targets.
import assert from "node:assert/strict";
import { parseClientConf } from "../../../src/core/client_conf.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { publicKeyFromPrivate } from "../../../src/core/wg_keys.ts";
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

const config = (m: TestMaster, n: EnrolledNode | number) =>
  m.services.sync.config(typeof n === "number" ? n : n.node.id) as Promise<NodeConfig>;
const poolIface = async (m: TestMaster, n: EnrolledNode | number) =>
  (await config(m, n)).interfaces.find((i) => i.name === "wbp0");
const localId = (m: TestMaster) => m.services.nodes.list().find((n) => n.isLocal)!.id;
const version = (m: TestMaster, id: number) =>
  m.db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id })!.v;
const audits = (m: TestMaster, prefix: string) =>
  m.db.all<{ action: string; detail: string }>(
    "SELECT action, detail FROM audit_log WHERE action LIKE :p ORDER BY id",
    { p: `${prefix}%` },
  );
/** The allowed IPs of node `n`'s peer on the master's tunnel (wg0 of its `local` config). */
async function tunnelRoutes(m: TestMaster, n: EnrolledNode) {
  const key = m.db.get<{ k: string }>(
    "SELECT public_key AS k FROM node_interfaces WHERE node_id = :id AND interface_id = 1",
    { id: n.node.id },
  )!.k;
  return (await config(m, localId(m))).interfaces[0]!.peers.find((p) => p.public_key === key)!.allowed_ips;
}
let seq = 0;
/** A sample with a handshake at `handshakeMs` (WireGuard reports whole seconds). */
const sample = (peer: string, handshakeMs: number, endpoint: string | null) => ({
  seq: ++seq,
  at: handshakeMs,
  peer,
  rx: 1,
  tx: 1,
  handshake: Math.floor(handshakeMs / 1000),
  endpoint,
});

/** Gives every node a tunnel key, as its first heartbeat does. */
function tunnelKeys(m: TestMaster, nodes: EnrolledNode[]) {
  for (const [i, n] of nodes.entries()) {
    const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(i + 1)));
    m.db.run("UPDATE node_interfaces SET public_key = :key WHERE node_id = :id AND interface_id = 1", {
      key,
      id: n.node.id,
    });
  }
}

Deno.test("a member's config carries the pool with the pool's key and all its peers; a non-member's and the master's do not", async () => {
  const { m, a, b, c, pool, client } = await world();
  for (const n of [a, b]) {
    const i = (await poolIface(m, n))!;
    assert.ok(i, "members run the pool");
    assert.equal(await publicKeyFromPrivate(i.private_key!), pool.publicKey);
    assert.deepEqual(i.addresses, ["10.77.0.1/24"]);
    assert.equal(i.listen_port, 51900);
    assert.equal(i.master_peer, null);
    assert.deepEqual(i.peers.map((p) => [p.public_key, p.allowed_ips]), [[client.publicKey, [client.ipv4]]]);
    assert.equal(i.pool!.drained, false);
    assert.equal(i.pool!.announce.kind, "vrrp");
  }
  const pa = (await poolIface(m, a))!.pool!.announce;
  const pb = (await poolIface(m, b))!.pool!.announce;
  assert.ok(pa.kind === "vrrp" && pb.kind === "vrrp");
  assert.deepEqual([pa.priority, pb.priority], [200, 190], "the first member added wins by default");
  assert.deepEqual({ ...pa, priority: 0 }, { ...VRRP, priority: 0 });
  assert.equal(await poolIface(m, c), undefined, "a non-member never gets the pool");
  assert.equal(await poolIface(m, localId(m)), undefined, "the master is no member");
  m.close();
});

Deno.test("the master's local node may be a member and runs the pool like any member", async () => {
  const { m, pool } = await world();
  m.services.pools.addMember(system, null, pool.id, { node_id: localId(m) });
  const i = (await poolIface(m, localId(m)))!;
  assert.equal(await publicKeyFromPrivate(i.private_key!), pool.publicKey);
  assert.equal(i.pool!.announce.kind === "vrrp" && i.pool!.announce.priority, 180);
  m.close();
});

Deno.test("a pool peer change bumps every member; removing a member rotates the identity and drops the pool from its config", async () => {
  const { m, a, b, c, pool } = await world();
  const before = [a, b, c].map((n) => version(m, n.node.id));
  await m.services.peers.create(system, null, { interface_id: pool.id, name: "laptop" });
  assert.deepEqual([a, b, c].map((n) => version(m, n.node.id) - before[[a, b, c].indexOf(n)]!), [1, 1, 0]);

  const vb = version(m, b.node.id);
  const after = await m.services.pools.removeMember(system, null, pool.id, b.node.id);
  assert.notEqual(after.publicKey, pool.publicKey, "a new identity");
  assert.equal(await publicKeyFromPrivate((await poolIface(m, a))!.private_key!), after.publicKey);
  assert.equal(await poolIface(m, b), undefined, "the removed node no longer holds it");
  assert.ok(version(m, b.node.id) > vb);
  assert.deepEqual(audits(m, "pool.").map((r) => r.action), [
    "pool.create",
    "pool.member.add",
    "pool.member.add",
    "pool.member.remove",
    "pool.rotate",
  ]);
  const conf = await m.services.clientConfigs.forPeer(system, null, after.clients[0]!.peerId, "conf");
  assert.equal(parseClientConf(conf.text).peer.publicKey, after.publicKey, "clients need the new key");
  m.close();
});

Deno.test("a pool client's config names the pool's key, floating address and port, and the master's resolver", async () => {
  const { m, pool, client } = await world();
  const conf = parseClientConf(
    (await m.services.clientConfigs.forPeer(system, null, client.id, "conf")).text,
  );
  assert.equal(conf.peer.publicKey, pool.publicKey);
  assert.deepEqual(conf.peer.endpoint, { host: "192.0.2.10", port: 51900 });
  assert.deepEqual(conf.interface.dns, ["10.13.13.1"]);
  assert.equal(client.nodeId, null);
  m.close();
});

Deno.test("holders move the master's tunnel routes and fill members' handover lists (coalesced)", async () => {
  const { m, a, b, pool, client } = await world();
  tunnelKeys(m, [a, b]);
  const ip = client.ipv4;
  assert.ok(
    (await tunnelRoutes(m, a)).includes(ip),
    "nobody holds it yet: the first member in priority order",
  );
  assert.ok(!(await tunnelRoutes(m, b)).includes(ip));

  const t = m.clock.now();
  const local = localId(m);
  let v = version(m, local);
  await sendHeartbeat(m, b, { metrics: [sample(client.publicKey, t - 5_000, "198.51.100.7:40000")] });
  assert.ok(version(m, local) > v, "a holder change bumps the master");
  assert.ok((await tunnelRoutes(m, b)).includes(ip));
  assert.ok(!(await tunnelRoutes(m, a)).includes(ip));
  assert.deepEqual((await poolIface(m, a))!.pool!.handover, [
    { public_key: client.publicKey, endpoint: "198.51.100.7:40000" },
  ]);
  assert.equal(m.services.pools.get(pool.id).clients[0]!.servedBy!.nodeName, "bravo");
  assert.equal(
    m.services.pools.get(pool.id).clients[0]!.servedBy!.handshakeAt,
    Math.floor((t - 5_000) / 1000) * 1000,
    "WireGuard's seconds stored as ms",
  );

  // An older handshake from alpha changes nothing; a newer one moves the client back, bumped once the
  // coalescing window has passed.
  await sendHeartbeat(m, a, { metrics: [sample(client.publicKey, t - 9_000, "198.51.100.7:40001")] });
  assert.equal(m.services.pools.get(pool.id).clients[0]!.servedBy!.nodeName, "bravo");
  v = version(m, local);
  await sendHeartbeat(m, a, { metrics: [sample(client.publicKey, t - 1_000, "198.51.100.7:40001")] });
  assert.equal(m.services.pools.get(pool.id).clients[0]!.servedBy!.nodeName, "alpha");
  assert.equal(version(m, local), v, "within the window: not yet");
  m.clock.advance(3_000);
  await sendHeartbeat(m, b);
  assert.ok(version(m, local) > v, "the next heartbeat after the window bumps it");
  assert.ok((await tunnelRoutes(m, a)).includes(ip));
  assert.ok(!(await tunnelRoutes(m, b)).includes(ip));
  m.close();
});

Deno.test("drain: the member withdraws, is draining while it holds a client, safe to stop after, and undrain brings it back", async () => {
  const { m, a, b, pool, client } = await world();
  const t = m.clock.now();
  await sendHeartbeat(m, a, { metrics: [sample(client.publicKey, t - 1_000, "198.51.100.7:40000")] });
  const drained = m.services.pools.drain(system, null, pool.id, a.node.id);
  assert.equal(drained.members.find((x) => x.nodeId === a.node.id)!.drainState, "draining");
  let ia = (await poolIface(m, a))!;
  assert.equal(ia.pool!.drained, true);
  assert.equal(ia.peers.length, 1, "its clients are still served while they move");
  await sendHeartbeat(m, a, { pools: [{ id: pool.id, state: "withdrawn", detail: null, sessions: 1 }] });
  assert.equal(m.services.pools.get(pool.id).members[0]!.drainState, "draining");
  assert.equal(m.services.pools.get(pool.id).members[0]!.report!.state, "withdrawn");

  // bravo takes over: its newer handshake makes it the holder, and alpha is safe to stop.
  const va = version(m, a.node.id);
  await sendHeartbeat(m, b, { metrics: [sample(client.publicKey, t + 500, "198.51.100.7:40000")] });
  assert.equal(m.services.pools.get(pool.id).members.find((x) => x.nodeId === a.node.id)!.drainState, "safe");
  assert.ok(version(m, a.node.id) > va);
  ia = (await poolIface(m, a))!;
  assert.deepEqual(ia.peers, [], "a safe member drops the pool's peers");
  assert.equal(ia.pool!.drained, true);

  m.services.pools.undrain(system, null, pool.id, a.node.id);
  ia = (await poolIface(m, a))!;
  assert.equal(ia.pool!.drained, false);
  assert.equal(ia.peers.length, 1);
  assert.deepEqual(audits(m, "pool.member.").map((r) => r.action).slice(-2), [
    "pool.member.drain",
    "pool.member.undrain",
  ]);
  m.close();
});

Deno.test("drain: a member whose clients had no handshake in 180 s is safe to stop at the next heartbeat", async () => {
  const { m, a, b, pool, client } = await world();
  tunnelKeys(m, [a, b]);
  await sendHeartbeat(m, a, { metrics: [sample(client.publicKey, m.clock.now() - 200_000, null)] });
  assert.ok((await tunnelRoutes(m, a)).includes(client.ipv4), "alpha holds it (an idle session)");
  m.services.pools.drain(system, null, pool.id, a.node.id);
  await sendHeartbeat(m, b);
  assert.equal(m.services.pools.get(pool.id).members.find((x) => x.nodeId === a.node.id)!.drainState, "safe");
  assert.ok(
    (await tunnelRoutes(m, b)).includes(client.ipv4),
    "a safe member's clients route to the next member",
  );
  assert.ok(!(await tunnelRoutes(m, a)).includes(client.ipv4));
  m.close();
});

Deno.test("dnsTargets lists each DNS pool's online, healthy, undrained members' public addresses and its TSIG key", async () => {
  const m = await testMaster();
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const ids: number[] = [];
  for (const [name, fqdn] of [["x", "203.0.113.1"], ["y", "203.0.113.2"], ["z", "z.example.net"]]) {
    const n = (await m.services.nodes.create(system, null, { name: name!, fqdn: fqdn! })).node;
    ids.push(n.id);
    m.db.run("UPDATE nodes SET status = 'online', enrolled_at = 1 WHERE id = :id", { id: n.id });
  }
  const secret = btoa("0123456789abcdef0123456789abcdef");
  const pool = await m.services.pools.create(system, null, {
    name: "wbp1",
    ipv4_pool: "10.78.0.0/24",
    listen_port: 51901,
    announce: {
      kind: "dns",
      name: "VPN.example.com.",
      zone: "example.com",
      server: "192.0.2.53:5353",
      tsig: { name: "wb-key", algorithm: "hmac-sha512", secret },
    },
  });
  for (const id of ids) m.services.pools.addMember(system, null, pool.id, { node_id: id });
  m.services.pools.drain(system, null, pool.id, ids[1]!);
  const [t] = await m.services.pools.dnsTargets(m.clock.now());
  assert.deepEqual(t, {
    interfaceId: pool.id,
    name: "vpn.example.com",
    zone: "example.com",
    server: "192.0.2.53:5353",
    tsig: { name: "wb-key", algorithm: "hmac-sha512", secret },
    ttl: 30,
    addresses: ["203.0.113.1"],
    hostnames: ["z.example.net"],
  });
  const row = m.db.get<{ s: string }>("SELECT pool_tsig_secret_sealed AS s FROM interfaces WHERE id = :id", {
    id: pool.id,
  })!;
  assert.ok(!row.s.includes(secret), "the TSIG secret is sealed at rest");
  assert.equal((await m.services.pools.dnsTargets(m.clock.now())).length, 1);
  m.close();
});

Deno.test("a pool client's traffic chart counts both members' bytes once", async () => {
  const { m, a, b, client } = await world();
  const t0 = m.clock.now() - 50 * 60_000;
  const at = (i: number) => t0 + i * 60_000;
  const s = (i: number, bytes: number) => ({
    seq: ++seq,
    at: at(i),
    peer: client.publicKey,
    rx: bytes,
    tx: bytes,
    handshake: Math.floor(at(i) / 1000),
    endpoint: null,
  });
  // alpha served it for two minutes (1000 bytes), then bravo (its own counters from 0: 500 bytes).
  await sendHeartbeat(m, a, { metrics: [s(0, 0), s(1, 600), s(2, 1000)] });
  await sendHeartbeat(m, b, { metrics: [s(3, 0), s(4, 200), s(5, 500)] });
  const series = m.services.traffic.forPeer(client.publicKey, "1h");
  assert.equal(series.samples, 6);
  assert.deepEqual(series.totals, { rx: 1500, tx: 1500 });
  m.close();
});
