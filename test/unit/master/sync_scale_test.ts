// The sync side at fleet scale: which nodes an interface edit reaches, what an answer costs the master
// (renders), rate-limit buckets past 10,000 keys, enrollment limited per token, long-polls woken after
// the admin's answer.
import assert from "node:assert/strict";
import { ConfigResponseSchema } from "../../../src/core/sync.ts";
import { RateLimiter } from "../../../src/master/service/rate_limiter.ts";
import { FakeClock } from "../../support/fakes.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { withDeadline } from "../../support/programs.ts";
import { enroll, enrolled, type EnrolledNode, signedRequest } from "../../support/signed_node.ts";
import { waitFor } from "../../support/wait.ts";

async function withInterfaces(names: string[]) {
  const m = await testMaster();
  const token = await m.token("write");
  const ids: number[] = [];
  for (const [i, name] of names.entries()) {
    const res = await m.api("/interfaces", {
      method: "POST",
      token,
      json: { name, ipv4_pool: `10.${20 + i}.0.0/16`, listen_port: 51820 + i },
    });
    assert.equal(res.status, 201);
    ids.push((await res.json()).id);
  }
  return { m, token, ids };
}

const version = (m: TestMaster, id: number) => m.services.nodes.get(id).configVersion;

function getConfig(m: TestMaster, n: EnrolledNode, have: number, wait = 0) {
  return signedRequest(m, "GET", `/api/sync/config?have=${have}&wait=${wait}`, null, {
    nodeId: n.node.id,
    key: n.key,
    bearer: n.secret,
  });
}

Deno.test("an MTU edit of the first interface bumps every node (each carries it), not only nodes with a peer on it", async () => {
  const { m, token, ids } = await withInterfaces(["wg0"]);
  const a = await enrolled(m, "a");
  const before = version(m, a.node.id);
  const res = await m.api(`/interfaces/${ids[0]}`, { method: "PATCH", token, json: { mtu: 1380 } });
  assert.equal(res.status, 200);
  assert.ok(version(m, a.node.id) > before, "node a carries wg0 and must get its new MTU");
  const answer = ConfigResponseSchema.parse(JSON.parse((await getConfig(m, a, before)).text));
  assert.equal(answer.kind === "config" && answer.config.interfaces[0].mtu, 1380);
  m.close();
});

Deno.test("a DNS edit of any interface bumps every node (its resolver addresses ride in each node's tunnel)", async () => {
  const { m, token, ids } = await withInterfaces(["wg0", "wg1"]);
  const a = await enrolled(m, "a");
  const before = version(m, a.node.id);
  const res = await m.api(`/interfaces/${ids[1]}`, { method: "PATCH", token, json: { dns: ["10.20.0.53"] } });
  assert.equal(res.status, 200);
  assert.ok(version(m, a.node.id) > before);
  m.close();
});

Deno.test("an edit of a second interface leaves nodes that do not carry it alone", async () => {
  const { m, token, ids } = await withInterfaces(["wg0", "wg1"]);
  const a = await enrolled(m, "a");
  const b = await enrolled(m, "b");
  const peer = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: ids[1], name: "p", node_id: b.node.id },
  });
  assert.equal(peer.status, 201);
  const va = version(m, a.node.id);
  const vb = version(m, b.node.id);
  await m.api(`/interfaces/${ids[1]}`, { method: "PATCH", token, json: { mtu: 1300 } });
  assert.equal(version(m, a.node.id), va);
  assert.ok(version(m, b.node.id) > vb);
  m.close();
});

Deno.test("a node's config is rendered once per version: 'unchanged' and repeated fetches render nothing", async () => {
  const { m, token, ids } = await withInterfaces(["wg0"]);
  const a = await enrolled(m, "a");
  const v = version(m, a.node.id);
  const r0 = m.services.sync.renders;
  assert.equal(JSON.parse((await getConfig(m, a, 0)).text).kind, "config");
  assert.equal(m.services.sync.renders, r0 + 1);
  assert.equal(JSON.parse((await getConfig(m, a, 0)).text).kind, "config");
  assert.equal(JSON.parse((await getConfig(m, a, v)).text).kind, "unchanged");
  assert.equal(m.services.sync.renders, r0 + 1, "a cached version and 'unchanged' cost no render");
  await m.api(`/interfaces/${ids[0]}`, { method: "PATCH", token, json: { mtu: 1390 } });
  const answer = ConfigResponseSchema.parse(JSON.parse((await getConfig(m, a, v)).text));
  assert.equal(answer.kind === "config" && answer.config.interfaces[0].mtu, 1390);
  assert.equal(m.services.sync.renders, r0 + 2);
  m.close();
});

Deno.test("a node's config carries only its own peers", async () => {
  const { m, token, ids } = await withInterfaces(["wg0"]);
  const a = await enrolled(m, "a");
  const b = await enrolled(m, "b");
  for (const [i, n] of [a, b, b].entries()) {
    const r = await m.api("/peers", {
      method: "POST",
      token,
      json: { interface_id: ids[0], name: `p${i}`, node_id: n.node.id },
    });
    assert.equal(r.status, 201);
  }
  const answer = ConfigResponseSchema.parse(JSON.parse((await getConfig(m, a, 0)).text));
  assert.equal(answer.kind === "config" && answer.config.interfaces[0].peers.length, 1);
  m.close();
});

Deno.test("a change wakes long-polls after the admin's request returns, and all of them", async () => {
  const { m, ids } = await withInterfaces(["wg0"]);
  const nodes = [await enrolled(m, "a"), await enrolled(m, "b")];
  const polls = nodes.map((n) => getConfig(m, n, version(m, n.node.id), 50));
  await waitFor("the long-polls to wait", () => m.services.configVersions.waiting === 2, {
    timeoutMs: 5000,
    intervalMs: 5,
  });
  m.services.interfaces.update(
    { kind: "system", name: "test" },
    null,
    ids[0],
    { mtu: 1400 },
  );
  assert.equal(m.services.configVersions.waiting, 2, "woken after the change's own answer, not inside it");
  for (const p of await withDeadline(Promise.all(polls), 5000, "the woken long-polls")) {
    assert.equal(JSON.parse(p.text).kind, "config");
  }
  m.close();
});

Deno.test("shutdown answers a waiting long-poll 'unchanged' without rendering", async () => {
  const { m } = await withInterfaces(["wg0"]);
  const a = await enrolled(m, "a");
  const poll = getConfig(m, a, version(m, a.node.id), 50);
  await waitFor("the long-poll to wait", () => m.services.configVersions.waiting === 1, {
    timeoutMs: 5000,
    intervalMs: 5,
  });
  const r0 = m.services.sync.renders;
  m.services.configVersions.shutdown();
  const r = await withDeadline(poll, 5000, "the long-poll after shutdown");
  assert.equal(JSON.parse(r.text).kind, "unchanged");
  assert.equal(m.services.sync.renders, r0);
  m.close();
});

Deno.test("RateLimiter keeps an exhausted bucket exhausted past 10,000 other keys", () => {
  const clock = new FakeClock();
  const rl = new RateLimiter(2, clock);
  assert.equal(rl.take("hot"), true);
  assert.equal(rl.take("hot"), true);
  assert.equal(rl.take("hot"), false);
  for (let i = 0; i < 10_001; i++) rl.take(`node:${i}`);
  assert.equal(rl.take("hot"), false, "a flood of other keys must not reset a bucket");
  clock.advance(30_000);
  assert.equal(rl.take("hot"), true, "it refills with time");
});

Deno.test("RateLimiter forgets only buckets that have refilled (memory stays bounded)", () => {
  const clock = new FakeClock();
  const rl = new RateLimiter(2, clock);
  for (let i = 0; i < 20_000; i++) rl.take(`k${i}`);
  clock.advance(61_000);
  rl.take("now");
  assert.ok(rl.size <= 2, `size ${rl.size}`);
});

Deno.test("enrollment is limited per token, not per address: 30 nodes enroll from one address", async () => {
  const { m, token } = await withInterfaces(["wg0"]);
  for (let i = 0; i < 30; i++) {
    const res = await m.api("/nodes", {
      method: "POST",
      token,
      json: { name: `n${i}`, fqdn: `n${i}.example.com` },
    });
    assert.equal(res.status, 201);
    await enroll(m, await res.json(), `n${i}`); // each from 198.51.100.30; asserts 200
  }
  m.close();
});

Deno.test("enrollment attempts with one token are limited", async () => {
  const { m, token } = await withInterfaces(["wg0"]);
  const res = await m.api("/nodes", { method: "POST", token, json: { name: "x", fqdn: "x.example.com" } });
  const node = await res.json();
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await signedRequest(m, "POST", "/api/sync/enroll", {
      token: node.enrollment_token,
      cert: "not a certificate",
      hostname: "x",
      version: "t",
    }, {
      nodeId: node.id,
      key:
        (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])).privateKey,
      remoteAddr: `198.51.100.${i + 1}`,
    });
    statuses.push(r.res.status);
  }
  assert.equal(statuses[0], 400);
  assert.equal(statuses[statuses.length - 1], 429);
  m.close();
});

Deno.test("housekeeping works in slices, one short transaction each, with the same result", async () => {
  const m = await testMaster();
  const key = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
  const base = m.clock.now() - 2 * 86_400_000;
  const start = base - (base % 300_000);
  for (let i = 0; i < 120; i++) {
    m.db.run(
      "INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint) VALUES (:k, 0, :at, NULL, :rx, 0, 0, NULL)",
      { k: key, at: start + i * 60_000, rx: i },
    );
  }
  let pauses = 0;
  const { LivenessService } = await import("../../../src/master/service/liveness.ts");
  const liveness = new LivenessService(m.db, m.clock, m.services.audit, m.log, {
    staleAfterMs: 90_000,
    metricsRawKeepMs: 86_400_000,
    pause: () => {
      pauses++;
      return Promise.resolve();
    },
  });
  await liveness.housekeeping();
  const rows = m.db.all<{ at: number; rx: number }>(
    "SELECT at, rx FROM peer_metrics WHERE public_key = :k AND resolution = 1 ORDER BY at",
    { k: key },
  );
  assert.equal(rows.length, 24); // 120 minutes in 5-minute buckets
  assert.deepEqual({ ...rows[23] }, { at: start + 23 * 300_000, rx: 119 });
  assert.equal(m.db.get<{ n: number }>("SELECT count(*) AS n FROM peer_metrics WHERE resolution = 0")!.n, 0);
  assert.ok(pauses >= 23, `the event loop turned between slices (${pauses} pauses)`);
  m.close();
});

Deno.test("a long-poll that arrives while the master stops gets 503 with Retry-After, not an answer to ask again at once", async () => {
  const { m } = await withInterfaces(["wg0"]);
  const a = await enrolled(m, "a");
  m.services.configVersions.shutdown();
  const r = await getConfig(m, a, version(m, a.node.id), 50);
  assert.equal(r.res.status, 503);
  assert.equal(r.res.headers.get("retry-after"), "5");
  m.close();
});
