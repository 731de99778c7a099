// The sync API's trust model, request by request: what a stolen secret, a replay, another node's key,
// a skewed clock or a flood gets.
import assert from "node:assert/strict";
import {
  ConfigResponseSchema,
  exportPublicKey,
  generateSigningKeys,
  HEADERS,
  importPublicKey,
  newNonce,
  readToken,
  responseSigningText,
  verifyText,
} from "../../../src/core/sync.ts";
import { testMaster } from "../../support/master.ts";
import { withDeadline } from "../../support/programs.ts";
import { enrolled, signedRequest } from "../../support/signed_node.ts";
import { waitFor } from "../../support/wait.ts";

const heartbeat = { status: "online", applied_version: 0, interfaces: [], metrics: [] };

Deno.test("sync: a signed heartbeat is accepted and its answer is signed for this node and nonce", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const { res, nonce, text } = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  assert.equal(res.status, 200, text);
  const verifyKey = await importPublicKey(readToken(a.token)!.verify_key);
  const sig = res.headers.get(HEADERS.signature)!;
  assert.ok(await verifyText(verifyKey, sig, await responseSigningText(a.node.id, nonce, 200, text)));
  assert.equal(
    await verifyText(verifyKey, sig, await responseSigningText(a.node.id + 1, nonce, 200, text)),
    false,
    "not valid for another node",
  );
  assert.equal(
    await verifyText(verifyKey, sig, await responseSigningText(a.node.id, newNonce(), 200, text)),
    false,
    "not valid for another request",
  );
  m.close();
});

Deno.test("sync: a replayed signed request is refused", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const nonce = newNonce();
  const first = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
    nonce,
  });
  assert.equal(first.res.status, 200);
  const again = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
    nonce,
    timestamp: m.clock.now(),
  });
  assert.equal(again.res.status, 401);
  assert.match(again.text, /Replayed request/);
  m.close();
});

Deno.test("sync: a stolen bearer secret without the node's key gets nothing", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const b = await enrolled(m, "b");
  // B's key with A's id and A's stolen secret.
  const forged = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: b.key,
    bearer: a.secret,
  });
  assert.equal(forged.res.status, 401);
  assert.match(forged.text, /Bad request signature/);
  // A's secret with no signature at all.
  const bare = await m.app.request("https://wb.test:8443/api/sync/heartbeat", {
    method: "POST",
    headers: {
      authorization: `Bearer ${a.secret}`,
      [HEADERS.node]: String(a.node.id),
      "content-type": "application/json",
    },
    body: JSON.stringify(heartbeat),
  }, { remoteAddr: "198.51.100.30" });
  assert.equal(bare.status, 401);
  // The right key but B's secret.
  const mixed = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: b.secret,
  });
  assert.equal(mixed.res.status, 401);
  assert.equal(m.services.nodes.get(a.node.id).appliedVersion, 0);
  m.close();
});

Deno.test("sync: a request outside the clock window is refused", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const old = await signedRequest(m, "GET", "/api/sync/config?have=0&wait=0", null, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
    timestamp: m.clock.now() - 6 * 60_000,
  });
  assert.equal(old.res.status, 401);
  assert.match(old.text, /timestamp outside the allowed window/);
  m.close();
});

Deno.test("sync: a config is signed for one node only; another node rejects it", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const { res, nonce, text } = await signedRequest(m, "GET", "/api/sync/config?have=0&wait=0", null, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  assert.equal(res.status, 200, text);
  const answer = ConfigResponseSchema.parse(JSON.parse(text));
  assert.equal(answer.kind, "config");
  if (answer.kind === "config") assert.equal(answer.config.node_id, a.node.id);
  const verifyKey = await importPublicKey(readToken(a.token)!.verify_key);
  const sig = res.headers.get(HEADERS.signature)!;
  const b = await enrolled(m, "b");
  assert.equal(
    await verifyText(verifyKey, sig, await responseSigningText(b.node.id, nonce, 200, text)),
    false,
  );
  // And "unchanged" is explicit, never an empty config.
  const version = answer.kind === "config" ? answer.config.config_version : 0;
  const same = await signedRequest(m, "GET", `/api/sync/config?have=${version}&wait=0`, null, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  assert.deepEqual(JSON.parse(same.text), { kind: "unchanged", node_id: a.node.id, config_version: version });
  m.close();
});

Deno.test("sync: a deleted node is told 'removed' in a signed answer; an unknown id gets 401 like wrong credentials", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const token = await m.token("write");
  await m.api(`/nodes/${a.node.id}`, { method: "DELETE", token });
  const r = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  assert.equal(r.res.status, 200);
  assert.deepEqual(JSON.parse(r.text), { kind: "removed", node_id: a.node.id });
  const ghost = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: 4242,
    key: a.key,
    bearer: a.secret,
  });
  assert.equal(ghost.res.status, 401);
  assert.match(ghost.text, /Invalid node credentials/);
  const enroll = await signedRequest(m, "POST", "/api/sync/enroll", { token: a.token, cert: "x" }, {
    nodeId: a.node.id,
    key: a.key,
  });
  assert.equal(enroll.res.status, 401);
  assert.match(enroll.text, /Invalid enrollment token: its node was deleted/);
  m.close();
});

Deno.test("sync: the endpoints are rate limited per node", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const statuses: number[] = [];
  for (let i = 0; i < 130; i++) {
    const r = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
    });
    statuses.push(r.res.status);
  }
  assert.ok(statuses.slice(0, 100).every((s) => s === 200));
  assert.equal(statuses[statuses.length - 1], 429);
  m.close();
});

Deno.test("liveness: a node not heard from within the stale window goes offline, audited", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  assert.equal(m.services.nodes.get(a.node.id).status, "online");
  m.clock.advance(60_000);
  assert.equal(m.services.liveness.markStale(), 0);
  m.clock.advance(31_000);
  assert.equal(m.services.liveness.markStale(), 1);
  assert.equal(m.services.nodes.get(a.node.id).status, "offline");
  assert.ok(m.services.audit.list({ action: "node.status" }).some((e) => e.detail === "online -> offline"));
  const back = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  assert.equal(back.res.status, 200);
  assert.equal(m.services.nodes.get(a.node.id).status, "online");
  m.close();
});

Deno.test("nodes API: names and FQDNs are unique (409), input is validated (422), the local node is protected", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  assert.equal(
    (await m.api("/nodes", { method: "POST", token, json: { name: "fra", fqdn: "de.example.com" } })).status,
    201,
  );
  const dupName = await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "FRA", fqdn: "other.example.com" },
  });
  assert.equal(dupName.status, 409);
  assert.equal((await dupName.json()).error.fields[0].field, "name");
  const dupFqdn = await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "x", fqdn: "de.example.com" },
  });
  assert.equal(dupFqdn.status, 409);
  const bad = await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "", fqdn: "not a host!", wg_port: 70000 },
  });
  assert.equal(bad.status, 422);
  assert.deepEqual((await bad.json()).error.fields.map((f: { field: string }) => f.field).sort(), [
    "fqdn",
    "name",
    "wg_port",
  ]);
  const local = (await (await m.api("/nodes", { token })).json()).nodes.find((n: { local: boolean }) =>
    n.local
  );
  assert.equal((await m.api(`/nodes/${local.id}`, { method: "DELETE", token })).status, 409);
  assert.equal(
    (await m.api("/nodes", { method: "POST", token, json: { name: "local", fqdn: "l.example.com" } })).status,
    409,
  );
  const read = await m.token("read");
  assert.equal(
    (await m.api("/nodes", { method: "POST", token: read, json: { name: "y", fqdn: "y.example.com" } }))
      .status,
    403,
  );
  m.close();
});

Deno.test("an enrollment token carries the master URL, TLS pin and verify key, and expires", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const node =
    await (await m.api("/nodes", { method: "POST", token, json: { name: "fra", fqdn: "de.example.com" } }))
      .json();
  const p = readToken(node.enrollment_token)!;
  assert.equal(p.url, "https://wb.test:8443");
  assert.equal(p.node_id, node.id);
  assert.equal(p.exp, m.clock.now() + 24 * 3_600_000);
  assert.equal(p.verify_key, m.verifyKey());
  const unused = await exportPublicKey((await generateSigningKeys()).publicKey);
  assert.notEqual(p.verify_key, unused);
  m.close();
});

Deno.test("housekeeping rolls raw samples into 5-minute buckets, keeping the last counters of each", async () => {
  const m = await testMaster();
  const key = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
  const old = m.clock.now() - 2 * 86_400_000;
  const base = old - (old % 300_000);
  for (let i = 0; i < 20; i++) {
    m.db.run(
      "INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint) VALUES (:k, 0, :at, NULL, :rx, :tx, 0, NULL)",
      { k: key, at: base + i * 30_000, rx: i * 100, tx: i * 10 },
    );
  }
  await m.services.liveness.housekeeping();
  const rows = m.db.all<{ resolution: number; at: number; rx: number }>(
    "SELECT resolution, at, rx FROM peer_metrics WHERE public_key = :k ORDER BY at",
    { k: key },
  );
  assert.deepEqual(rows.map((r) => ({ ...r })), [
    { resolution: 1, at: base, rx: 900 },
    { resolution: 1, at: base + 300_000, rx: 1900 },
  ]);
  m.close();
});

Deno.test("shutdown answers waiting long-polls at once, so the master can stop", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const version = m.services.nodes.get(a.node.id).configVersion;
  const poll = signedRequest(m, "GET", `/api/sync/config?have=${version}&wait=50`, null, {
    nodeId: a.node.id,
    key: a.key,
    bearer: a.secret,
  });
  await waitFor("the long-poll to wait", () => m.services.configVersions.waiting === 1, {
    timeoutMs: 5000,
    intervalMs: 5,
  });
  m.services.configVersions.shutdown();
  // Without shutdown the poll would wait its 50 s; a 5 s deadline tells the two apart.
  const r = await withDeadline(poll, 5000, "the long-poll after shutdown");
  assert.equal(r.res.status, 200);
  assert.equal(JSON.parse(r.text).kind, "unchanged");
  assert.equal(m.services.configVersions.waiting, 0);
  m.close();
});
