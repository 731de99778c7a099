// Rotating a peer's credentials through the API: new keys and PSK (or a PSK only), audited, the node's
// config carries only the new credential at a new version, the client's config and traffic history follow.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

async function setup() {
  const m = await testMaster();
  const token = await m.token("write");
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const tokyo = await enrolled(m, "tokyo");
  const key = "Vh0Oc0nFZgD6iVVvN3ZYRVLNvuqCNOaN4GqlRNrRYE0=";
  const hb = await sendHeartbeat(m, tokyo, {
    interfaces: [{ name: "wg0", public_key: key, listen_port: 51820, peers: 0 }],
  });
  assert.equal(hb.res.status, 200, hb.text);
  const peer = await m.services.peers.create(system, null, {
    interface_id: 1,
    name: "laptop",
    node_id: tokyo.node.id,
  });
  const conf = async () => await (await m.api(`/peers/${peer.id}/config`, { token })).text();
  const nodeConfig = async () => await m.services.sync.config(tokyo.node.id);
  return { m, token, tokyo, peer, conf, nodeConfig };
}

const system = { kind: "system" as const, name: "test" };
const line = (conf: string, key: string) => conf.match(new RegExp(`^${key} = (.+)$`, "m"))?.[1];

Deno.test("POST /api/peers/{id}/rotate gives new keys and PSK; the node refuses the old key from the next version", async () => {
  const { m, token, peer, conf, nodeConfig } = await setup();
  try {
    const before = await conf();
    const v0 = (await nodeConfig()).config_version;
    m.db.run(
      "INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake) VALUES (:k, 0, 1, 2, 5, 6, 1)",
      {
        k: peer.publicKey,
      },
    );
    const res = await m.api(`/peers/${peer.id}/rotate`, { method: "POST", token });
    assert.equal(res.status, 200, await res.clone().text());
    const rotated = await res.json();
    assert.notEqual(rotated.public_key, peer.publicKey);
    const after = await conf();
    assert.notEqual(line(after, "PrivateKey"), line(before, "PrivateKey"));
    assert.notEqual(line(after, "PresharedKey"), line(before, "PresharedKey"));
    assert.equal(line(after, "Endpoint"), line(before, "Endpoint"), "same server");
    const cfg = await nodeConfig();
    assert.ok(cfg.config_version > v0, "the node gets a new config version");
    const text = JSON.stringify(cfg);
    assert.ok(!text.includes(peer.publicKey), "the old key is gone from the node's config");
    assert.ok(text.includes(rotated.public_key));
    const moved = m.db.get<{ n: number }>("SELECT count(*) AS n FROM peer_metrics WHERE public_key = :k", {
      k: rotated.public_key,
    })!;
    assert.equal(moved.n, 1, "the traffic history follows the peer");
    const audit = m.services.audit.list({ action: "peer.rotate" });
    assert.equal(audit.length, 1);
    assert.match(audit[0]!.detail, /^keys and PSK/);
  } finally {
    m.close();
  }
});

Deno.test("a PSK-only rotation keeps the keys; a client-held key can only have its PSK rotated; viewers cannot", async () => {
  const { m, token, peer, conf } = await setup();
  try {
    const before = await conf();
    const res = await m.api(`/peers/${peer.id}/rotate`, { method: "POST", token, json: { keys: false } });
    assert.equal(res.status, 200);
    const after = await conf();
    assert.equal(line(after, "PrivateKey"), line(before, "PrivateKey"));
    assert.notEqual(line(after, "PresharedKey"), line(before, "PresharedKey"));
    assert.equal(m.services.audit.list({ action: "peer.rotate" })[0]!.detail, "PSK");

    const own = await m.services.peers.create(system, null, {
      interface_id: 1,
      name: "own-key",
      public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
    });
    const refused = await m.api(`/peers/${own.id}/rotate`, { method: "POST", token, json: {} });
    assert.equal(refused.status, 409);
    assert.match((await refused.json()).error.message, /holds its own private key: rotate its PSK only/);
    const bad = await m.api(`/peers/${peer.id}/rotate`, { method: "POST", token, json: { keys: "yes" } });
    assert.equal(bad.status, 422);
    const read = await m.token("read");
    assert.equal((await m.api(`/peers/${peer.id}/rotate`, { method: "POST", token: read })).status, 403);
  } finally {
    m.close();
  }
});
