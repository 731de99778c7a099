// Rotating a node's identity key: asked through the API (audited), told in the heartbeat answer, the new
// certificate sent in a request signed with the current key; the master swaps the key in one transaction
// and ends the node's session; a request signed with the old key is refused afterwards.
import assert from "node:assert/strict";
import { rotationJobs } from "../../../src/master/scheduler.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, nodeIdentity, sendHeartbeat, signedRequest } from "../../support/signed_node.ts";

Deno.test("a node's identity key rotates: the new certificate is vouched for by the old key, which is refused afterwards", async () => {
  const m = await testMaster();
  try {
    const token = await m.token("write");
    const n = await enrolled(m, "tokyo");
    assert.equal(JSON.parse((await sendHeartbeat(m, n)).text).rotate_identity, undefined);
    const asked = await m.api(`/nodes/${n.node.id}/identity/rotate`, { method: "POST", token });
    assert.equal(asked.status, 202);
    assert.equal(JSON.parse((await sendHeartbeat(m, n)).text).rotate_identity, true, "the node is told");

    const next = await nodeIdentity();
    // Signed by the new key alone: refused (the old key must vouch for it).
    const forged = await signedRequest(m, "POST", "/api/sync/identity", { cert: next.certPem }, {
      nodeId: n.node.id,
      key: next.keys.privateKey,
      bearer: n.secret,
    });
    assert.equal(forged.res.status, 401, forged.text);
    const res = await signedRequest(m, "POST", "/api/sync/identity", { cert: next.certPem }, {
      nodeId: n.node.id,
      key: n.key,
      bearer: n.secret,
    });
    assert.equal(res.res.status, 200, res.text);
    assert.match(JSON.parse(res.text).cert_sha256, /^[0-9a-f]{64}$/);

    const old = await sendHeartbeat(m, n);
    assert.equal(old.res.status, 401, "a request signed with the old key is refused");
    const renewed = await sendHeartbeat(m, { ...n, key: next.keys.privateKey });
    assert.equal(renewed.res.status, 200, renewed.text);
    assert.equal(JSON.parse(renewed.text).rotate_identity, undefined, "done: not asked again");
    const audit = m.services.audit.list({}).filter((e) => e.action.startsWith("node.identity"));
    assert.deepEqual(audit.map((e) => e.action).sort(), ["node.identity.request", "node.identity.rotate"]);

    // Viewers' tokens and unknown or unenrolled nodes.
    const read = await m.token("read");
    const refused = await m.api(`/nodes/${n.node.id}/identity/rotate`, { method: "POST", token: read });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    const missing = await m.api(`/nodes/999/identity/rotate`, { method: "POST", token });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    m.close();
  }
});

Deno.test("WIREBUDDY_ROTATE_NODE_IDENTITY_EVERY: each enrolled node is asked when its identity is that old", async () => {
  const m = await testMaster();
  try {
    const every = 30 * 86_400_000;
    const jobs = rotationJobs(m.services, {
      signingKeyEveryMs: null,
      tlsEveryMs: null,
      nodeIdentityEveryMs: every,
      graceMs: 1,
    });
    assert.deepEqual(jobs.map((j) => j.name), ["node identity rotation"]);
    const a = await enrolled(m, "tokyo");
    await jobs[0]!.run(); // the first look starts tokyo's count
    m.clock.advance(every / 2);
    const b = await enrolled(m, "paris");
    assert.equal(m.services.identity.requestDue(every), 0, "paris counted from now");
    m.clock.advance(every / 2);
    assert.equal(m.services.identity.requestDue(every), 1, "tokyo is due");
    assert.equal(JSON.parse((await sendHeartbeat(m, a)).text).rotate_identity, true);
    assert.equal(JSON.parse((await sendHeartbeat(m, b)).text).rotate_identity, undefined);
    assert.equal(m.services.identity.requestDue(every), 0, "asked once");
    assert.equal(m.services.audit.list({ action: "node.identity.request" })[0]!.actor, "schedule");
    // tokyo rotates: its count starts again from then.
    const next = await nodeIdentity();
    const res = await signedRequest(m, "POST", "/api/sync/identity", { cert: next.certPem }, {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
    });
    assert.equal(res.res.status, 200, res.text);
    m.clock.advance(every / 2);
    assert.equal(m.services.identity.requestDue(every), 1, "paris is due, tokyo not yet");
  } finally {
    m.close();
  }
});
