// Rotating the master's answer-signing key with overlap: announced in the heartbeat answer, the switch
// once every enrolled node trusts the next key (or when the grace period ends), audited; afterwards the
// master signs only with the new key, so an answer is refused by a node that verifies with the old one.
import assert from "node:assert/strict";
import { HEADERS, importPublicKey, responseSigningText, verifyText } from "../../../src/core/sync.ts";
import { parseMasterEnv } from "../../../src/master/config.ts";
import { rotationJobs } from "../../../src/master/scheduler.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const SECRET = "x".repeat(40);

type M = Awaited<ReturnType<typeof testMaster>>;
type Node = Awaited<ReturnType<typeof enrolled>>;

/** A heartbeat, its answer, and whether the answer's signature verifies with `key`. */
async function beat(m: M, n: Node, trusts?: string[]) {
  const hb = await sendHeartbeat(m, n, trusts ? { trusts } : {});
  assert.equal(hb.res.status, 200, hb.text);
  const signature = hb.res.headers.get(HEADERS.signature) ?? "";
  const signedBy = async (key: string) =>
    await verifyText(
      await importPublicKey(key),
      signature,
      await responseSigningText(n.node.id, hb.nonce, 200, hb.text),
    );
  return { answer: JSON.parse(hb.text), signedBy };
}

Deno.test("the next signing key is announced, the master switches once every node trusts it, and signs only with it", async () => {
  const m = await testMaster();
  try {
    const token = await m.token("write");
    const a = await enrolled(m, "tokyo");
    const b = await enrolled(m, "paris");
    const first = await beat(m, a);
    const old = first.answer.verify_key as string;
    assert.ok(old, "the answer names the current key");
    assert.equal(first.answer.next_verify_key, undefined, "nothing announced yet");
    assert.ok(await first.signedBy(old));

    const res = await m.api("/master/signing-key/rotate", { method: "POST", token });
    assert.equal(res.status, 202);
    const started = await res.json();
    assert.equal(started.next.nodes_enrolled, 2);
    assert.equal(started.next.nodes_trusting, 0);
    const again = await m.api("/master/signing-key/rotate", { method: "POST", token });
    assert.equal(again.status, 409, "one rotation at a time");
    await again.body?.cancel();

    const announced = await beat(m, a);
    const next = announced.answer.next_verify_key as string;
    assert.ok(next && next !== old);
    assert.ok(await announced.signedBy(old), "still signed with the current key");

    // tokyo trusts both; paris not yet: no switch.
    await beat(m, a, [old, next]);
    assert.equal(await m.services.signingKey.switchDue(), false);
    let status = await (await m.api("/master/signing-key", { token })).json();
    assert.equal(status.next.nodes_trusting, 1);

    // paris trusts both: the switch.
    await beat(m, b, [old, next]);
    await m.services.signingKey.switchDue();
    status = await (await m.api("/master/signing-key", { token })).json();
    assert.equal(status.next, null);
    const after = await beat(m, a);
    assert.equal(after.answer.verify_key, next, "the answer names the new key as current");
    assert.equal(after.answer.next_verify_key, undefined);
    assert.ok(await after.signedBy(next));
    assert.equal(await after.signedBy(old), false, "the old key signs nothing any more");
    // New nodes are given the new key in their tokens.
    const c = await enrolled(m, "lima");
    assert.equal((await beat(m, c)).answer.verify_key, next);

    const audit = m.services.audit.list({}).filter((e) => e.action.startsWith("master.signing_key"));
    assert.deepEqual(audit.map((e) => e.action).sort(), [
      "master.signing_key.announce",
      "master.signing_key.rotate",
    ]);
    assert.match(audit.find((e) => e.action === "master.signing_key.rotate")!.detail, /every node trusts it/);
  } finally {
    m.close();
  }
});

Deno.test("a node that never trusts the next key holds the switch until the grace period ends", async () => {
  const m = await testMaster();
  try {
    const a = await enrolled(m, "tokyo");
    await m.services.signingKey.start("schedule", null);
    const old = (await beat(m, a)).answer.verify_key;
    assert.equal(await m.services.signingKey.switchDue(), false, "tokyo does not trust it yet");
    m.clock.advance(7 * 86_400_000 + 1);
    assert.equal(await m.services.signingKey.switchDue(), true);
    const after = await beat(m, a);
    assert.notEqual(after.answer.verify_key, old);
    const rotated = m.services.audit.list({ action: "master.signing_key.rotate" });
    assert.match(rotated[0]!.detail, /grace period over, 1 node\(s\) not yet/);
    // A read-only token sees the state but cannot start one.
    const read = await m.token("read");
    assert.equal((await m.api("/master/signing-key", { token: read })).status, 200);
    const refused = await m.api("/master/signing-key/rotate", { method: "POST", token: read });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
  } finally {
    m.close();
  }
});

Deno.test("WIREBUDDY_ROTATE_SIGNING_KEY_EVERY: the schedule announces a new key when the current one is that old", async () => {
  const m = await testMaster();
  try {
    const every = 30 * 86_400_000;
    const jobs = rotationJobs(m.services, {
      signingKeyEveryMs: every,
      tlsEveryMs: null,
      nodeIdentityEveryMs: null,
      graceMs: 86_400_000,
    });
    assert.deepEqual(jobs.map((j) => j.name), ["signing key rotation"]);
    assert.deepEqual(
      rotationJobs(m.services, {
        signingKeyEveryMs: null,
        tlsEveryMs: null,
        nodeIdentityEveryMs: null,
        graceMs: 1,
      }),
      [],
    );
    await jobs[0]!.run(); // the first look starts the count for a key made before the schedule
    m.clock.advance(every - 1);
    assert.equal(await m.services.signingKey.startIfDue(every), false);
    m.clock.advance(1);
    assert.equal(await m.services.signingKey.startIfDue(every), true);
    assert.equal(await m.services.signingKey.startIfDue(every), false, "one announcement at a time");
    const announced = m.services.audit.list({ action: "master.signing_key.announce" });
    assert.equal(announced.length, 1);
    assert.equal(announced[0]!.actor, "schedule");
    // No node enrolled: every one trusts it, the switch is due; the count starts again from the switch.
    assert.equal(await m.services.signingKey.switchDue(), true);
    m.clock.advance(every - 1);
    assert.equal(await m.services.signingKey.startIfDue(every), false);
    m.clock.advance(1);
    assert.equal(await m.services.signingKey.startIfDue(every), true);
  } finally {
    m.close();
  }
});

Deno.test("WIREBUDDY_ROTATE_* settings parse, with a 7-day grace period by default", () => {
  const parse = (env: Record<string, string>) => parseMasterEnv({ WIREBUDDY_SECRET_KEY: SECRET, ...env });
  const base = parse({});
  assert.ok(base.ok, JSON.stringify(base));
  assert.deepEqual(base.value.rotation, {
    signingKeyEveryMs: null,
    tlsEveryMs: null,
    nodeIdentityEveryMs: null,
    nodeWgKeysEveryMs: null,
    nodeWgOverlapMs: 7 * 86_400_000,
    graceMs: 7 * 86_400_000,
  });
  const set = parse({
    WIREBUDDY_ROTATE_SIGNING_KEY_EVERY: "90d",
    WIREBUDDY_ROTATE_TLS_EVERY: "180d",
    WIREBUDDY_ROTATE_NODE_IDENTITY_EVERY: "30d",
    WIREBUDDY_ROTATE_NODE_WG_KEYS_EVERY: "30d",
    WIREBUDDY_ROTATE_NODE_WG_OVERLAP: "3d",
    WIREBUDDY_ROTATE_GRACE: "2d",
  });
  assert.ok(set.ok);
  assert.deepEqual(set.value.rotation, {
    signingKeyEveryMs: 90 * 86_400_000,
    tlsEveryMs: 180 * 86_400_000,
    nodeIdentityEveryMs: 30 * 86_400_000,
    nodeWgKeysEveryMs: 30 * 86_400_000,
    nodeWgOverlapMs: 3 * 86_400_000,
    graceMs: 2 * 86_400_000,
  });
  const bad = parse({ WIREBUDDY_ROTATE_SIGNING_KEY_EVERY: "5m" });
  assert.ok(!bad.ok);
  assert.match(bad.problems.join("\n"), /WIREBUDDY_ROTATE_SIGNING_KEY_EVERY.*at least 1h/);
});
