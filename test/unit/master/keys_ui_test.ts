// The master keys page: the signing key nodes trust, "Rotate signing key…" asking first, the announced
// key with how many nodes trust it; viewers see the page without the action and cannot post it.
import assert from "node:assert/strict";
import { selfSignedCert } from "../../../src/core/x509.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

Deno.test("ui: rotate the signing key from the master keys page, after a confirmation; audited; viewers cannot", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    await m.addUser("vera", "viewer");
    const admin = await m.login("root");
    const viewer = await m.login("vera");
    const n = await enrolled(m, "tokyo");
    const page = await (await m.request("/ui/keys", { cookie: admin })).text();
    const current = page.match(/id="signing-current">([0-9a-f]{16})</)?.[1];
    assert.ok(current, "the current key's fingerprint");
    assert.match(page, /id="rotate-signing" href="\/ui\/keys\/signing\/rotate"/);
    assert.match(await (await m.request("/ui/settings", { cookie: admin })).text(), /href="\/ui\/keys"/);

    const ask = await (await m.request("/ui/keys/signing/rotate", { cookie: admin })).text();
    assert.match(ask, /<h1>Rotate the answer-signing key\?<\/h1>/);
    assert.equal((await m.services.signingKey.status()).next, null, "asking announces nothing");

    const viewerPage = await (await m.request("/ui/keys", { cookie: viewer })).text();
    assert.doesNotMatch(viewerPage, /id="rotate-signing"/);
    assert.equal((await m.request("/ui/keys/signing/rotate", { cookie: viewer })).status, 403);
    const refused = await m.form("/ui/keys/signing/rotate", {}, { cookie: viewer });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    assert.equal((await m.services.signingKey.status()).next, null);

    const res = await m.form("/ui/keys/signing/rotate", {}, { cookie: admin });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/ui/keys");
    const next = (await m.services.signingKey.status()).next!;
    assert.ok(next);
    const hb = await sendHeartbeat(m, n);
    const announced = JSON.parse(hb.text).next_verify_key;
    await sendHeartbeat(m, n, { trusts: [JSON.parse(hb.text).verify_key, announced] });
    await m.services.signingKey.switchDue();
    const after = await (await m.request("/ui/keys", { cookie: admin })).text();
    assert.match(after, new RegExp(`id="signing-current">${next.fingerprint}<`));
    assert.notEqual(next.fingerprint, current);
    const actions = m.services.audit.list({}).map((e) => e.action).filter((a) =>
      a.startsWith("master.signing_key")
    );
    assert.deepEqual(actions.sort(), ["master.signing_key.announce", "master.signing_key.rotate"]);
    assert.match(m.services.audit.list({ action: "master.signing_key.announce" })[0]!.actor, /root/);
  } finally {
    m.close();
  }
});

Deno.test("ui: while a key is announced the page says how many nodes trust it and offers no second rotation", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    const admin = await m.login("root");
    await enrolled(m, "tokyo");
    await enrolled(m, "paris");
    await m.services.signingKey.start("schedule", null);
    const page = await (await m.request("/ui/keys", { cookie: admin })).text();
    assert.match(page, /id="signing-next"[^>]*>[^]*trusted by 0 of[^]*2 enrolled nodes/);
    assert.doesNotMatch(page, /id="rotate-signing"/);
    const again = await m.form("/ui/keys/signing/rotate", {}, { cookie: admin });
    assert.equal(again.status, 409, "one rotation at a time");
    assert.match(await again.text(), /already announced/);
  } finally {
    m.close();
  }
});

Deno.test("ui: the TLS card shows the pin, asks before announcing a new certificate, and says when to restart", async () => {
  const first = await selfSignedCert(
    "vpn.example.com",
    { dns: ["vpn.example.com"] },
    new Date(Date.UTC(2026, 0, 1)),
  );
  const m = await testMaster({
    services: {
      tls: { cert: first.certPem, fingerprint: first.fingerprint },
      makeTlsCert: () => selfSignedCert("vpn.example.com", { dns: ["vpn.example.com"] }, new Date()),
    },
  });
  try {
    await m.addUser("root", "admin");
    const admin = await m.login("root");
    const page = await (await m.request("/ui/keys", { cookie: admin })).text();
    assert.match(page, new RegExp(`id="tls-current">${first.fingerprint.slice(0, 16)}<`));
    assert.match(page, /id="rotate-tls" href="\/ui\/keys\/tls\/rotate"/);
    assert.match(
      await (await m.request("/ui/keys/tls/rotate", { cookie: admin })).text(),
      /Rotate the TLS certificate\?/,
    );
    assert.equal(m.services.tlsRotation.status().next, null, "asking announces nothing");
    const res = await m.form("/ui/keys/tls/rotate", {}, { cookie: admin });
    assert.equal(res.status, 303);
    assert.ok(m.services.tlsRotation.status().next);
    // No node enrolled: every one pins it; the switch is decided and the page says to restart.
    m.services.tlsRotation.switchDue();
    const after = await (await m.request("/ui/keys", { cookie: admin })).text();
    assert.match(after, /id="tls-next"[^]*Restart the master to present it/);
    assert.equal(m.services.audit.list({ action: "master.tls.announce" }).length, 1);
  } finally {
    m.close();
  }
});

Deno.test("ui: a master without its own self-signed certificate offers no TLS rotation", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    const admin = await m.login("root");
    const page = await (await m.request("/ui/keys", { cookie: admin })).text();
    assert.match(page, /replace the files to change it/);
    assert.doesNotMatch(page, /id="rotate-tls"/);
    const res = await m.form("/ui/keys/tls/rotate", {}, { cookie: admin });
    assert.equal(res.status, 409);
    await res.body?.cancel();
  } finally {
    m.close();
  }
});

Deno.test("ui: rotate a node's identity key from its page, after a confirmation; the node is told at its next heartbeat", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    await m.addUser("vera", "viewer");
    const admin = await m.login("root");
    const viewer = await m.login("vera");
    const n = await enrolled(m, "tokyo");
    const page = await (await m.request(`/ui/nodes/${n.node.id}`, { cookie: admin })).text();
    assert.match(page, new RegExp(`id="rotate-identity" href="/ui/nodes/${n.node.id}/identity"`));
    const ask = await (await m.request(`/ui/nodes/${n.node.id}/identity`, { cookie: admin })).text();
    assert.match(ask, /Rotate the identity key of tokyo\?/);
    assert.equal(
      JSON.parse((await sendHeartbeat(m, n)).text).rotate_identity,
      undefined,
      "asking changes nothing",
    );
    const refused = await m.form(`/ui/nodes/${n.node.id}/identity`, {}, { cookie: viewer });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    const res = await m.form(`/ui/nodes/${n.node.id}/identity`, {}, { cookie: admin });
    assert.equal(res.status, 303);
    assert.equal(JSON.parse((await sendHeartbeat(m, n)).text).rotate_identity, true);
    assert.match(m.services.audit.list({ action: "node.identity.request" })[0]!.actor, /root/);
  } finally {
    m.close();
  }
});
