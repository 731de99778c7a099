// Delta sync on the master: a node that asks for deltas and holds the version before the current one
// gets only what changed; further behind, or without asking, the full config.
import assert from "node:assert/strict";
import { ConfigResponseSchema, type NodeConfig } from "../../../src/core/sync.ts";
import { applyDelta, ConfigDeltaSchema } from "../../../src/core/sync_delta.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { enrolled, type EnrolledNode, signedRequest } from "../../support/signed_node.ts";

const get = (m: TestMaster, n: EnrolledNode, query: string) =>
  signedRequest(m, "GET", `/api/sync/config?${query}`, null, {
    nodeId: n.node.id,
    key: n.key,
    bearer: n.secret,
  });

async function full(m: TestMaster, n: EnrolledNode, have = 0): Promise<NodeConfig> {
  const answer = ConfigResponseSchema.parse(JSON.parse((await get(m, n, `have=${have}&wait=0`)).text));
  if (answer.kind !== "config") throw new Error(`expected a config, got ${answer.kind}`);
  return answer.config;
}

Deno.test("a node holding the version before gets a delta of the one peer that changed", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await (await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.13.0.0/16", listen_port: 51820 },
  })).json();
  const n = await enrolled(m, "a");
  for (let i = 0; i < 30; i++) {
    await m.api("/peers", {
      method: "POST",
      token,
      json: { interface_id: iface.id, name: `p${i}`, node_id: n.node.id },
    });
  }
  const held = await full(m, n);
  const added = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "new", node_id: n.node.id },
  })).json();
  const r = await get(m, n, `have=${held.config_version}&wait=0&delta=1`);
  const delta = ConfigDeltaSchema.parse(JSON.parse(r.text));
  assert.deepEqual(delta.peers.wg0.upsert.map((p) => p.public_key), [added.public_key]);
  assert.deepEqual(delta.headers, []);
  const rebuilt = applyDelta(held, delta)!;
  const now = await full(m, n);
  assert.equal(rebuilt.config_version, now.config_version);
  assert.equal(rebuilt.interfaces[0].peers.length, 31);
  assert.ok(r.text.length < JSON.stringify(now).length / 10, `${r.text.length} bytes`);
  // Without asking, or from further back: the full config.
  assert.equal(JSON.parse((await get(m, n, `have=${held.config_version}&wait=0`)).text).kind, "config");
  assert.equal(JSON.parse((await get(m, n, `have=0&wait=0&delta=1`)).text).kind, "config");
  m.close();
});
