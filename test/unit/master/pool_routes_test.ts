// The master's own node reaches failover pool clients through the member holding each one: its first
// interface routes each pool's address space once (`routes` in its config), not one route per client,
// so 10,000 pool clients cost one `ip route` on its first apply, not 10,000.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { hostStateFromNodeConfig } from "../../../src/core/node_config.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { MemFs } from "../../support/fakes.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";
import { FakeHost } from "../node/fake_host.ts";

const system = { kind: "system" as const, name: "test" };
const VRRP = { kind: "vrrp", address: "192.0.2.10/24", vrid: 42, advert_ms: 500, link: "eth0" };

async function world(poolCidr: string) {
  const m = await testMaster();
  await m.services.interfaces.create(system, null, {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    dns: "10.13.13.1",
  });
  const a = await enrolled(m, "alpha");
  const b = await enrolled(m, "bravo");
  for (const [i, n] of [a, b].entries()) {
    await sendHeartbeat(m, n);
    // A tunnel key, as the node's first report gives it.
    m.db.run("UPDATE node_interfaces SET public_key = :key WHERE node_id = :id AND interface_id = 1", {
      key: btoa(String.fromCharCode(...new Uint8Array(32).fill(i + 1))),
      id: n.node.id,
    });
  }
  const pool = await m.services.pools.create(system, null, {
    name: "wbp0",
    ipv4_pool: poolCidr,
    listen_port: 51900,
    announce: VRRP,
  });
  for (const n of [a, b]) m.services.pools.addMember(system, null, pool.id, { node_id: n.node.id });
  return { m, a, b, pool };
}

const localId = (m: TestMaster) => m.services.nodes.list().find((n) => n.isLocal)!.id;
const localConfig = async (m: TestMaster) => (await m.services.sync.config(localId(m))) as NodeConfig;

/** `n` pool clients written straight into the table (keys and addresses only: what routing needs). */
function manyClients(m: TestMaster, poolId: number, n: number) {
  m.db.tx(() => {
    for (let i = 0; i < n; i++) {
      const key = btoa(
        String.fromCharCode(7, 7, (i >> 16) & 255, (i >> 8) & 255, i & 255, ...new Array(27).fill(9)),
      );
      const host = i + 2;
      m.db.run(
        `INSERT INTO peers (interface_id, node_id, name, public_key, ipv4, routing, created_at, updated_at)
         VALUES (:poolId, NULL, :name, :key, :ipv4, 'full', 0, 0)`,
        { poolId, name: `client ${i}`, key, ipv4: `10.77.${host >> 8}.${host & 255}/32` },
      );
    }
  });
}

Deno.test("the master's own node routes a pool's CIDR through its tunnel once, and each client through the member holding it", async () => {
  const { m, pool } = await world("10.77.0.0/24");
  const client = await m.services.peers.create(system, null, { interface_id: pool.id, name: "phone" });
  const config = await localConfig(m);
  const wg0 = config.interfaces[0]!;
  assert.deepEqual(wg0.routes, ["10.77.0.0/24"]);
  assert.ok(
    wg0.peers.some((p) => p.allowed_ips.includes(client.ipv4)),
    "the client's address is still in its holder's allowed IPs (WireGuard picks the member by them)",
  );
  const state = hostStateFromNodeConfig(config, {});
  assert.deepEqual(state.interfaces[0]!.routes, ["10.77.0.0/24"], "no route of the client's own");
  m.close();
});

Deno.test("the master's own node routes no pool CIDR through its tunnel for a pool it is a member of (its pool device has it)", async () => {
  const { m, pool } = await world("10.77.0.0/24");
  m.services.pools.addMember(system, null, pool.id, { node_id: localId(m) });
  const config = await localConfig(m);
  assert.equal(config.interfaces[0]!.routes, undefined);
  assert.ok(config.interfaces.some((i) => i.name === "wbp0" && i.addresses[0] === "10.77.0.1/24"));
  m.close();
});

Deno.test("10,000 pool clients: the master's own node makes one route for them on its first apply, not 10,000", async () => {
  const { m, pool } = await world("10.77.0.0/18");
  manyClients(m, pool.id, 10_000);
  const config = await localConfig(m);
  const held = config.interfaces[0]!.peers.reduce((n, p) => n + p.allowed_ips.length, 0);
  assert.ok(held >= 10_000, `the members' peers carry every client's address (${held})`);
  const state = hostStateFromNodeConfig(config, {});
  assert.deepEqual(state.interfaces[0]!.routes, ["10.77.0.0/18"]);

  const host = new FakeHost();
  const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
    statePath: "/var/lib/wb/state.json",
    wgImpl: "auto",
  });
  const r = await engine.reconcileOnce(state);
  assert.ok(r.ok, String(r.error?.message));
  const routes = host.commands.filter((c) => /^ip (-[46] )?route /.test(c));
  assert.deepEqual(routes, ["ip -4 route replace 10.77.0.0/18 dev wg0"], "one route command for the pool");
  m.close();
});
