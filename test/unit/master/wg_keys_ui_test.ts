// A node's WireGuard key rotation in the UI: the node page links to its keys page, which starts a rotation
// and finishes it after a confirmation each, shows the next device, the announced key and the clients that
// moved; viewers see the page without the actions and cannot post them.
import assert from "node:assert/strict";
import { generateKeyPair } from "../../../src/core/wg_keys.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

Deno.test("ui: rotate a node's WireGuard keys from its page, after a confirmation; finish now; viewers cannot", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    await m.addUser("vera", "viewer");
    const admin = await m.login("root");
    const viewer = await m.login("vera");
    const token = await m.token("write");
    const iface = await m.api("/interfaces", {
      method: "POST",
      token,
      json: { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: 51820 },
    });
    assert.equal(iface.status, 201);
    await iface.body?.cancel();
    const n = await enrolled(m, "tokyo");
    const oldKey = (await generateKeyPair()).publicKey;
    await sendHeartbeat(m, n, {
      interfaces: [{ name: "wg0", public_key: oldKey, listen_port: 51820, peers: 0 }],
    });
    const id = n.node.id;

    const nodePage = await (await m.request(`/ui/nodes/${id}`, { cookie: admin })).text();
    assert.match(nodePage, new RegExp(`id="wg-keys" href="/ui/nodes/${id}/wg-keys"`));
    const page = await (await m.request(`/ui/nodes/${id}/wg-keys`, { cookie: admin })).text();
    assert.match(page, /<h1>WireGuard keys of tokyo<\/h1>/);
    assert.match(page, /id="rotate-wg-keys"/);
    assert.match(page, /Open both ports/);
    const ask = await (await m.request(`/ui/nodes/${id}/wg-keys/rotate`, { cookie: admin })).text();
    assert.match(ask, /Rotate the WireGuard keys of tokyo\?/);
    assert.equal(m.services.wgKeys.status(id).running, false, "asking starts nothing");

    assert.doesNotMatch(
      await (await m.request(`/ui/nodes/${id}/wg-keys`, { cookie: viewer })).text(),
      /id="rotate-wg-keys"/,
    );
    const refused = await m.form(`/ui/nodes/${id}/wg-keys/rotate`, {}, { cookie: viewer });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();

    const started = await m.form(`/ui/nodes/${id}/wg-keys/rotate`, {}, { cookie: admin });
    assert.equal(started.status, 303);
    await started.body?.cancel();
    assert.equal(m.services.wgKeys.status(id).running, true);
    const newKey = (await generateKeyPair()).publicKey;
    await sendHeartbeat(m, n, {
      interfaces: [
        { name: "wg0", public_key: oldKey, listen_port: 51820, peers: 0 },
        { name: "wg0r", public_key: newKey, listen_port: 52820, peers: 0 },
      ],
      wg_rotation: [{ name: "wg0", moved: 0, pending: 0 }],
    });
    const during = await (await m.request(`/ui/nodes/${id}/wg-keys`, { cookie: admin })).text();
    assert.match(during, /wg0r \(port 52820\)/);
    assert.ok(during.includes(newKey), "the announced key");
    assert.match(during, /id="wg-rotation"/);
    assert.match(during, /id="finish-wg-rotation"/);

    const finishAsk = await (await m.request(`/ui/nodes/${id}/wg-keys/finish`, { cookie: admin })).text();
    assert.match(finishAsk, /Finish the WireGuard key rotation of tokyo now\?/);
    const finished = await m.form(`/ui/nodes/${id}/wg-keys/finish`, {}, { cookie: admin });
    assert.equal(finished.status, 303);
    await finished.body?.cancel();
    const st = m.services.wgKeys.status(id);
    assert.equal(st.running, false);
    assert.equal(st.interfaces[0]!.device, "wg0r");
    const actors = m.services.audit.list({}).filter((e) => e.action.startsWith("node.rotate_wireguard_key"))
      .map((e) => e.actor);
    assert.equal(actors.length, 2);
    assert.ok(actors.every((a) => a.includes("root")), actors.join());
  } finally {
    m.close();
  }
});
