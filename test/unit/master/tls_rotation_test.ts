// Rotating the master's self-signed TLS certificate with overlap: the next certificate is announced in the
// heartbeat answer, the switch is decided once every enrolled node trusts its pin (or the grace period is
// over), and the listener presents it from the next start (boot writes it over the old files); afterwards
// heartbeat answers name the new pin and announce nothing. Audited at each step.
import assert from "node:assert/strict";
import { MemFs } from "../../support/fakes.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { certFingerprint, selfSignedCert } from "../../../src/core/x509.ts";
import { SecretBox } from "../../../src/master/service/secret_box.ts";
import { decidedTlsSwitch, TlsRotation } from "../../../src/master/service/tls_rotation.ts";
import { loadTls } from "../../../src/master/tls.ts";
import { parseMasterEnv } from "../../../src/master/config.ts";
import { rotationJobs } from "../../../src/master/scheduler.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const makeCert = () =>
  selfSignedCert("vpn.example.com", { dns: ["vpn.example.com"] }, new Date(Date.UTC(2026, 0, 1)));

async function setup() {
  const first = await makeCert();
  const m = await testMaster({
    services: { tls: { cert: first.certPem, fingerprint: first.fingerprint }, makeTlsCert: makeCert },
  });
  return { m, first };
}

Deno.test("the next TLS certificate is announced; the switch is decided once every node trusts its pin", async () => {
  const { m, first } = await setup();
  try {
    const token = await m.token("write");
    const a = await enrolled(m, "tokyo");
    const b = await enrolled(m, "paris");
    let hb = JSON.parse((await sendHeartbeat(m, a)).text);
    assert.equal(hb.tls_sha256, first.fingerprint);
    assert.equal(hb.next_tls, undefined);

    const res = await m.api("/master/tls/rotate", { method: "POST", token });
    assert.equal(res.status, 202);
    const next = (await res.json()).next.sha256 as string;
    hb = JSON.parse((await sendHeartbeat(m, a)).text);
    assert.equal(hb.next_tls.sha256, next);
    assert.match(hb.next_tls.cert, /BEGIN CERTIFICATE/);
    assert.equal(hb.tls_sha256, first.fingerprint, "the listener still presents the first one");

    await sendHeartbeat(m, a, { trusts_tls: [first.fingerprint, next] });
    assert.equal(m.services.tlsRotation.status().next!.atNextStart, false, "paris does not trust it yet");
    await sendHeartbeat(m, b, { trusts_tls: [first.fingerprint, next] });
    const st = await (await m.api("/master/tls", { token })).json();
    assert.equal(st.next.nodes_trusting, 2);
    assert.equal(st.next.at_next_start, true);
    const audit = m.services.audit.list({ action: "master.tls.rotate" });
    assert.match(audit[0]!.detail, /at the next start \(every node trusts it\)/);
    assert.equal(m.services.audit.list({ action: "master.tls.announce" }).length, 1);

    // The next start: the decided certificate is written over the self-signed files and presented.
    const decided = await decidedTlsSwitch(m.db, new SecretBox(m.keys.sealKey));
    assert.ok(decided);
    const fs = new MemFs();
    const env = parseMasterEnv({ WIREBUDDY_SECRET_KEY: "x".repeat(40), WIREBUDDY_DATA_DIR: "/d" });
    assert.ok(env.ok);
    const loaded = await loadTls(env.value, fs, memoryLogger(), new Date(), decided);
    assert.equal(loaded!.fingerprint, next);
    assert.match(await fs.readText("/d/tls/key.pem") ?? "", /PRIVATE KEY/);
  } finally {
    m.close();
  }
});

Deno.test("after the start with the new certificate, answers name its pin and the rotation is recorded; without a self-signed certificate nothing rotates", async () => {
  const { m } = await setup();
  try {
    await enrolled(m, "tokyo");
    await m.services.tlsRotation.start("schedule", null);
    m.clock.advance(7 * 86_400_000 + 1);
    assert.equal(m.services.tlsRotation.switchDue(), true);
    assert.match(
      m.services.audit.list({ action: "master.tls.rotate" })[0]!.detail,
      /grace period over, 1 node/,
    );
    const decided = (await decidedTlsSwitch(m.db, new SecretBox(m.keys.sealKey)))!;
    // The master started again, presenting the decided certificate (services.ts wires it the same way).
    const sha = await certFingerprint(decided.cert);
    const after = new TlsRotation(m.db, m.clock, new SecretBox(m.keys.sealKey), m.services.audit, m.log, {
      graceMs: 1,
      current: { cert: decided.cert, fingerprint: sha },
      makeCert,
    });
    after.afterStart();
    assert.equal(m.services.audit.list({ action: "master.tls.switched" }).length, 1);
    assert.equal(
      await decidedTlsSwitch(m.db, new SecretBox(m.keys.sealKey)),
      null,
      "done: nothing left to switch",
    );
    assert.deepEqual(after.heartbeat(1, undefined), { tls_sha256: sha }, "the new pin, nothing announced");
    assert.equal(after.status().next, null);

    // Operator certificates (or none) are not the master's to rotate.
    const none = new TlsRotation(m.db, m.clock, new SecretBox(m.keys.sealKey), m.services.audit, m.log, {
      graceMs: 1,
      current: null,
      makeCert: null,
    });
    await assert.rejects(() => none.start("schedule", null), /not a self-signed one/);
    assert.deepEqual(none.heartbeat(1, undefined), {});
  } finally {
    m.close();
  }
});

Deno.test("WIREBUDDY_ROTATE_TLS_EVERY: the schedule announces a new certificate when the current one is that old", async () => {
  const { m } = await setup();
  try {
    const every = 180 * 86_400_000;
    const jobs = rotationJobs(m.services, {
      signingKeyEveryMs: null,
      tlsEveryMs: every,
      nodeIdentityEveryMs: null,
      graceMs: 1,
    });
    assert.deepEqual(jobs.map((j) => j.name), ["tls certificate rotation"]);
    await jobs[0]!.run(); // the first look starts the count
    m.clock.advance(every - 1);
    assert.equal(await m.services.tlsRotation.startIfDue(every), false);
    m.clock.advance(1);
    assert.equal(await m.services.tlsRotation.startIfDue(every), true);
    assert.equal(await m.services.tlsRotation.startIfDue(every), false, "one announcement at a time");
    const announced = m.services.audit.list({ action: "master.tls.announce" });
    assert.equal(announced.length, 1);
    assert.equal(announced[0]!.actor, "schedule");
  } finally {
    m.close();
  }
});
