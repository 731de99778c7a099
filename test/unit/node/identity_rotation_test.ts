// The node's side of an identity rotation, against the in-memory master: asked in a heartbeat answer, the
// node makes a new key, has the master take it in a request signed with the old one, signs with the new
// key from then on and keeps it on disk; the master refuses the old key.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { HeartbeatResponseSchema, readToken } from "../../../src/core/sync.ts";
import { rotateIdentity } from "../../../src/node/identity_rotation.ts";
import { MasterTrust } from "../../../src/node/master_trust.ts";
import { NodeState } from "../../../src/node/state.ts";
import { enroll, SyncClient } from "../../../src/node/sync_client.ts";
import { MemFs } from "../../support/fakes.ts";
import { testMaster } from "../../support/master.ts";
import { sendHeartbeat } from "../../support/signed_node.ts";

Deno.test("the node rotates its identity key when asked; requests signed with the old key are refused", async () => {
  const m = await testMaster();
  try {
    const token = await m.token("write");
    const made =
      await (await m.api("/nodes", { method: "POST", token, json: { name: "tokyo", fqdn: "t.example" } }))
        .json();
    const fetchFor = () => (url: string, init: RequestInit) =>
      Promise.resolve(m.app.request(url, init, { remoteAddr: "198.51.100.30" }));
    const disk = new NodeState(new MemFs(), "/var/lib/wirebuddy-node");
    const first = await disk.identity("tokyo", new Date(m.clock.now()));
    const payload = readToken(made.enrollment_token)!;
    const { enrollment } = await enroll(fetchFor, m.clock, made.enrollment_token, payload, first, {
      hostname: "tokyo",
      version: "t",
      masterUrl: null,
      timeoutMs: 5_000,
    });
    const client = new SyncClient(fetchFor, m.clock, enrollment, first.key, enrollment.url, {
      timeoutMs: 5_000,
    });
    const beat = () =>
      client.post("/api/sync/heartbeat", { status: "online", applied_version: 0 }, HeartbeatResponseSchema);
    const holder = { key: first.key };
    const log = memoryLogger();
    const trust = new MasterTrust(
      enrollment,
      disk,
      client,
      log,
      () => rotateIdentity({ disk, client, log, hostname: "tokyo", now: () => m.clock.now(), holder }),
    );

    await trust.learn(await beat()); // not asked: nothing happens
    assert.equal(holder.key, first.key);
    assert.equal((await m.api(`/nodes/${made.id}/identity/rotate`, { method: "POST", token })).status, 202);
    const asked = await beat();
    assert.equal(asked.kind === "ok" && asked.rotate_identity, true);
    await trust.learn(asked);
    assert.notEqual(holder.key, first.key, "the new key signs from now on");
    const saved = await disk.identity("tokyo", new Date(m.clock.now()));
    assert.notEqual(saved.certPem, first.certPem, "kept on disk");
    assert.match(log.lines.join("\n"), /rotated the node identity key/);

    const after = await beat();
    assert.equal(after.kind === "ok" && after.rotate_identity, undefined, "the master is done asking");
    const old = await sendHeartbeat(m, {
      node: made,
      key: first.key,
      secret: enrollment.node_secret,
      token: "",
    });
    assert.equal(old.res.status, 401, "the old key is refused");
    assert.equal(m.services.audit.list({ action: "node.identity.rotate" }).length, 1);
  } finally {
    m.close();
  }
});
