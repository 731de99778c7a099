// DNS-mode pools move running clients (pool_takeover.ts): when a client's holder dies or is drained, the
// healthy undrained member with the highest priority is told to take it over (its config's
// pool.takeover, a new epoch per set, bumped at once after the health round); a member that comes back
// does not take its clients back; VRRP pools never get a takeover (keepalived moves those).
import assert from "node:assert/strict";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { nodeHealthRepo } from "../../../src/master/db/node_health_repo.ts";
import {
  type HeldClient,
  planTakeover,
  type TakeoverMember,
} from "../../../src/master/service/pool_takeover.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { enrolled, type EnrolledNode, sendHeartbeat } from "../../support/signed_node.ts";

const K1 = "A".repeat(43) + "=";
const K2 = "B".repeat(43) + "=";
const K3 = "C".repeat(43) + "=";
const member = (node_id: number, priority: number, serving = true): TakeoverMember => ({
  node_id,
  priority,
  serving,
});
const held = (public_key: string, node_id: number, endpoint: string | null = "198.51.100.10:4000") => ({
  public_key,
  node_id,
  handshake_at: 1_000,
  endpoint,
});

Deno.test("planTakeover: who takes which clients over (decision table)", () => {
  const rows: {
    name: string;
    members: TakeoverMember[];
    clients: HeldClient[];
    want: [number, string[]] | null;
  }[] = [
    {
      name: "every holder serves: nothing moves (a member back from the dead steals nothing)",
      members: [member(1, 200), member(2, 100)],
      clients: [held(K1, 1), held(K2, 2)],
      want: null,
    },
    {
      name: "the holder is down: the serving member with the highest priority takes its clients",
      members: [member(1, 200, false), member(2, 100), member(3, 150)],
      clients: [held(K2, 1), held(K1, 1), held(K3, 2)],
      want: [3, [K1, K2]],
    },
    {
      name: "the best member is the dead holder itself: the next one",
      members: [member(1, 200, false), member(2, 100)],
      clients: [held(K1, 1)],
      want: [2, [K1]],
    },
    {
      name: "equal priorities: the lowest node id",
      members: [member(1, 200, false), member(3, 100), member(2, 100)],
      clients: [held(K1, 1)],
      want: [2, [K1]],
    },
    {
      name: "a holder that left the pool (no member row): its clients move",
      members: [member(2, 100)],
      clients: [held(K1, 9)],
      want: [2, [K1]],
    },
    {
      name: "no endpoint known: nothing to send a handshake to",
      members: [member(1, 200, false), member(2, 100)],
      clients: [held(K1, 1, null)],
      want: null,
    },
    {
      name: "nobody serves: nobody to move them to",
      members: [member(1, 200, false), member(2, 100, false)],
      clients: [held(K1, 1)],
      want: null,
    },
  ];
  for (const r of rows) {
    const plan = planTakeover(7, r.members, r.clients);
    const got = [...plan].map(([node, t]) => [node, t.keys] as [number, string[]])[0] ?? null;
    assert.deepEqual(got, r.want, r.name);
    for (const t of plan.values()) assert.ok(Number.isSafeInteger(t.epoch) && t.epoch >= 0, r.name);
  }
});

Deno.test("planTakeover: the epoch stays while nothing moves and changes with the set, the holder or the handshake", () => {
  const members = [member(1, 200, false), member(2, 100)];
  const epoch = (clients: HeldClient[], pool = 7) => planTakeover(pool, members, clients).get(2)!.epoch;
  const base = epoch([held(K1, 1), held(K2, 1)]);
  assert.equal(epoch([held(K2, 1), held(K1, 1)]), base, "order does not matter");
  assert.notEqual(epoch([held(K1, 1)]), base, "a smaller set");
  assert.notEqual(epoch([held(K1, 1), held(K2, 1), held(K3, 1)]), base, "a larger set");
  assert.notEqual(epoch([held(K1, 1), { ...held(K2, 1), handshake_at: 2_000 }]), base, "held again since");
  assert.notEqual(epoch([held(K1, 1), held(K2, 1)], 8), base, "another pool");
});

// --- through the master's services -----------------------------------------------------------------

const system = { kind: "system" as const, name: "test" };
const DNS = {
  kind: "dns",
  name: "vpn.example.com",
  zone: "example.com",
  server: "192.0.2.53:53",
  tsig: { name: "wb-key", algorithm: "hmac-sha256", secret: btoa("0123456789abcdef0123456789abcdef") },
};

const poolOf = async (m: TestMaster, n: EnrolledNode) =>
  ((await m.services.sync.config(n.node.id)) as NodeConfig).interfaces.find((i) => i.name === "wbp0")!.pool!;
const version = (m: TestMaster, n: EnrolledNode) =>
  m.db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id: n.node.id })!.v;
const setFailures = (m: TestMaster, n: EnrolledNode, failures: number) =>
  nodeHealthRepo.save(m.db, { ...nodeHealthRepo.ensure(m.db, n.node.id), failures });
let seq = 0;
const sample = (peer: string, handshakeMs: number, endpoint: string) => ({
  seq: ++seq,
  at: handshakeMs,
  peer,
  rx: 1,
  tx: 1,
  handshake: Math.floor(handshakeMs / 1000),
  endpoint,
});

async function world(announce: unknown = DNS) {
  const m = await testMaster();
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "alpha");
  const b = await enrolled(m, "bravo");
  for (const n of [a, b]) await sendHeartbeat(m, n);
  const pool = await m.services.pools.create(system, null, {
    name: "wbp0",
    ipv4_pool: "10.77.0.0/24",
    listen_port: 51900,
    announce,
  });
  m.services.pools.addMember(system, null, pool.id, { node_id: a.node.id, priority: 200 });
  m.services.pools.addMember(system, null, pool.id, { node_id: b.node.id, priority: 100 });
  const client = await m.services.peers.create(system, null, { interface_id: pool.id, name: "phone" });
  // alpha holds the client.
  await sendHeartbeat(m, a, {
    metrics: [sample(client.publicKey, m.clock.now() - 5_000, "198.51.100.10:4000")],
  });
  return { m, a, b, pool, client };
}

Deno.test("DNS pool: the holder's failed check gives the other member the takeover at once; its new handshake ends it; the holder back takes nothing", async () => {
  const { m, a, b, client } = await world();
  try {
    assert.deepEqual(m.services.poolTakeovers.review(), [], "a healthy holder: nothing to do");
    assert.equal((await poolOf(m, b)).takeover, undefined);

    // alpha's tunnel check fails: bravo is told to take the client over, and bumped.
    setFailures(m, a, 1);
    const before = version(m, b);
    assert.deepEqual(m.services.poolTakeovers.review(), [b.node.id]);
    assert.ok(version(m, b) > before, "bravo's config version moved");
    const t = (await poolOf(m, b)).takeover!;
    assert.deepEqual(t.keys, [client.publicKey]);
    assert.ok((await poolOf(m, b)).handover.some((h) => h.public_key === client.publicKey));
    assert.equal((await poolOf(m, a)).takeover, undefined, "the dead holder is told nothing");
    assert.deepEqual(m.services.poolTakeovers.review(), [], "the same takeover: no second bump");
    assert.equal((await poolOf(m, b)).takeover!.epoch, t.epoch, "the same epoch");

    // bravo handshakes the client: it holds it, the takeover ends (bumped once more).
    m.clock.advance(2_000);
    await sendHeartbeat(m, b, { metrics: [sample(client.publicKey, m.clock.now(), "198.51.100.10:4000")] });
    assert.deepEqual(m.services.poolTakeovers.review(), [b.node.id]);
    assert.equal((await poolOf(m, b)).takeover, undefined);

    // alpha comes back healthy with a higher priority: it does not take the client back.
    setFailures(m, a, 0);
    assert.deepEqual(m.services.poolTakeovers.review(), []);
    assert.equal((await poolOf(m, a)).takeover, undefined);
    assert.equal((await poolOf(m, b)).takeover, undefined);
  } finally {
    m.close();
  }
});

Deno.test("DNS pool: draining the holder gives its clients to the other member; offline counts as down", async () => {
  const { m, a, b, pool, client } = await world();
  try {
    m.services.pools.drain(system, null, pool.id, a.node.id);
    assert.deepEqual(m.services.poolTakeovers.review(), [b.node.id]);
    assert.deepEqual((await poolOf(m, b)).takeover!.keys, [client.publicKey]);
    m.services.pools.undrain(system, null, pool.id, a.node.id);
    assert.deepEqual(m.services.poolTakeovers.review(), [b.node.id], "ended: bravo bumped");
    assert.equal((await poolOf(m, b)).takeover, undefined);

    m.db.run("UPDATE nodes SET status = 'offline' WHERE id = :id", { id: a.node.id });
    assert.deepEqual(m.services.poolTakeovers.review(), [b.node.id]);
    assert.deepEqual((await poolOf(m, b)).takeover!.keys, [client.publicKey]);
  } finally {
    m.close();
  }
});

Deno.test("VRRP pool: no takeover in the config (keepalived's master does it)", async () => {
  const { m, a, b } = await world({
    kind: "vrrp",
    address: "192.0.2.10/24",
    vrid: 42,
    advert_ms: 500,
    link: "eth0",
  });
  try {
    setFailures(m, a, 1);
    assert.deepEqual(m.services.poolTakeovers.review(), []);
    assert.equal((await poolOf(m, b)).takeover, undefined);
  } finally {
    m.close();
  }
});
