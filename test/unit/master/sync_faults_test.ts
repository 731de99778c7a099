// The sync API under a fleet's faults (issue 17, items 7 and 8): a node with a wrong clock is told
// why it is refused, the master logs why (once a minute per node, not per request) and shows the node's
// clock skew; samples dated ahead of the master are not stored in the future; and the master's own
// bulk changes never rate-limit a node that follows them.
import assert from "node:assert/strict";
import { type HeartbeatRequest, newNonce } from "../../../src/core/sync.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, signedRequest } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };
const MIN = 60_000;

function beat(body: Partial<HeartbeatRequest> = {}) {
  return { status: "online", applied_version: 0, interfaces: [], metrics: [], ...body };
}

Deno.test("a node whose clock is 10 minutes ahead is refused with the reason, logged once a minute, and its skew shown", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "frankfurt");
  const ahead = () => m.clock.now() + 10 * MIN;
  const refusals = () =>
    m.log.lines.filter((l) => /node authentication failed .*clock is 10m ahead/.test(l)).length;
  for (let i = 0; i < 5; i++) {
    const r = await signedRequest(m, "POST", "/api/sync/heartbeat", beat(), {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
      timestamp: ahead(),
    });
    assert.equal(r.res.status, 401);
    assert.match(r.text, /clock is 10m ahead of the master's/);
  }
  assert.equal(refusals(), 1, m.log.lines.join("\n"));
  assert.match(
    m.log.lines.find((l) => l.includes("node authentication failed"))!,
    new RegExp(`node_id=${a.node.id} .*the node's clock is 10m ahead of the master's`),
  );
  m.clock.advance(61_000);
  await signedRequest(m, "POST", "/api/sync/heartbeat", beat(), {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
    timestamp: ahead(),
  });
  assert.equal(refusals(), 2, "again after a minute");
  // The skew is on the node's API and page.
  const token = await m.token("read");
  const api = await (await m.api(`/nodes/${a.node.id}`, { token })).json();
  assert.ok(Math.abs(api.clock_skew_ms - 10 * MIN) < 1_000, String(api.clock_skew_ms));
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const page = await (await m.request(`/ui/nodes/${a.node.id}`, { cookie })).text();
  assert.match(page, /10 min ahead of the master/);
  m.close();
});

Deno.test("a bad signature and a flood are refused with a logged reason, once a minute per node", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "tokyo");
  const other = await enrolled(m, "osaka");
  const forged = await signedRequest(m, "POST", "/api/sync/heartbeat", beat(), {
    nodeId: a.node.id,
    key: other.key, // not tokyo's key
    bearer: a.secret,
  });
  assert.equal(forged.res.status, 401);
  assert.match(
    m.log.lines.join("\n"),
    new RegExp(`node authentication failed .*node_id=${a.node.id} .*Bad request signature`),
  );
  let limited = 0;
  for (let i = 0; i < 140; i++) {
    const r = await signedRequest(m, "GET", "/api/sync/config?have=0&wait=0", null, {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
      nonce: newNonce(),
    });
    if (r.res.status === 429) limited++;
  }
  assert.ok(limited > 0, "re-fetching an old version over and over is still limited");
  const lines = m.log.lines.filter((l) => /refusing sync requests: too many .*node=tokyo/.test(l));
  assert.equal(lines.length, 1, "one line for the flood, not one per request");
  m.close();
});

Deno.test("samples dated ahead of the master are stored by the master's time, never in the future", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "frankfurt");
  const peer = await m.services.peers.create(system, null, {
    interface_id: iface.id,
    name: "phone",
    node_id: a.node.id,
  });
  const now = m.clock.now();
  const skew = 3 * MIN; // within the window: accepted, but every time the node sends is 3 minutes ahead
  const sample = (seq: number, at: number) => ({
    seq,
    at,
    peer: peer.publicKey,
    rx: seq,
    tx: seq,
    handshake: 0,
    endpoint: null,
  });
  const r = await signedRequest(
    m,
    "POST",
    "/api/sync/heartbeat",
    beat({
      metrics: [sample(1, now + skew - 30_000), sample(2, now + skew), sample(3, now + skew + 5 * MIN)],
    }),
    { nodeId: a.node.id, key: a.key, bearer: a.secret, timestamp: now + skew },
  );
  assert.equal(r.res.status, 200, r.text);
  const stored = m.db.all<{ at: number }>("SELECT at FROM peer_metrics ORDER BY at").map((x) => x.at);
  assert.deepEqual(
    stored,
    [now - 30_000, now - 1, now],
    "shifted by the node's skew; nothing later than now; the clamped sample stored too, after the one before it",
  );
  assert.ok(stored.every((at) => at <= now));
  assert.match(m.log.lines.join("\n"), /future-dated traffic samples .*node=frankfurt/);
  m.close();
});

Deno.test("200 changes through the API do not rate-limit a node that follows them; each answer stays signed", async () => {
  const m = await testMaster(); // 120 sync requests per node per minute
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.0.0/16" });
  const a = await enrolled(m, "frankfurt");
  const token = await m.token("write");
  const statuses: number[] = [];
  let have = 0;
  for (let i = 0; i < 200; i++) {
    const made = await m.api("/peers", {
      method: "POST",
      token,
      json: { interface_id: iface.id, name: `p${i}`, node_id: a.node.id },
    });
    assert.equal(made.status, 201);
    // The node follows, as the agent does: its long-poll returns the new config, it applies it and
    // reports the new version at once.
    const pull = await signedRequest(m, "GET", `/api/sync/config?have=${have}&wait=0`, null, {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
    });
    statuses.push(pull.res.status);
    if (pull.res.status !== 200) continue;
    have = JSON.parse(pull.text).config.config_version;
    const report = await signedRequest(m, "POST", "/api/sync/heartbeat", beat({ applied_version: have }), {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
    });
    statuses.push(report.res.status);
  }
  assert.deepEqual(statuses.filter((s) => s !== 200), [], "no 429 while following the master's own changes");
  assert.equal(m.services.nodes.get(a.node.id).appliedVersion, m.services.nodes.get(a.node.id).configVersion);
  m.close();
});
