import assert from "node:assert/strict";
import { parseClientConf } from "../../../src/core/client_conf.ts";
import { publicKeyFromPrivate } from "../../../src/core/wg_keys.ts";
import { testMaster } from "../../support/master.ts";
import { enroll, sendHeartbeat } from "../../support/signed_node.ts";

async function withInterface() {
  const m = await testMaster();
  const token = await m.token("write");
  const res = await m.api("/interfaces", {
    method: "POST",
    token,
    json: {
      name: "wg0",
      ipv4_pool: "10.13.13.0/24",
      ipv6_pool: "fd42:13::/64",
      listen_port: 51820,
      dns: "10.13.13.1",
      keepalive: 25,
    },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const iface = await res.json();
  return { m, token, iface };
}

Deno.test("POST /api/interfaces makes keys in-process and seals the private key", async () => {
  const { m, iface } = await withInterface();
  assert.equal(iface.address4, "10.13.13.1/24");
  assert.equal(iface.address6, "fd42:13::1/64");
  assert.match(iface.public_key, /^[A-Za-z0-9+/]{43}=$/);
  const row = m.db.get<{ private_key_sealed: string }>("SELECT private_key_sealed FROM interfaces")!;
  assert.match(row.private_key_sealed, /^v1\./);
  const state = await m.hostState();
  assert.equal(await publicKeyFromPrivate(state.interfaces[0]!.privateKey), iface.public_key);
  m.close();
});

Deno.test("interface input errors name the field; duplicates and overlaps are 409", async () => {
  const { m, token } = await withInterface();
  const bad = await m.api("/interfaces", {
    method: "POST",
    token,
    json: {
      name: "bad name with spaces",
      ipv4_pool: "10.0.0.0/33",
      listen_port: "x",
      mtu: 99,
      dns: "not-an-ip",
    },
  });
  assert.equal(bad.status, 422);
  const fields = (await bad.json()).error.fields.map((f: { field: string }) => f.field).sort();
  assert.deepEqual(fields, ["dns", "ipv4_pool", "listen_port", "mtu", "name"]);
  const dup = await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.14.0.0/24", listen_port: 51821 },
  });
  assert.equal(dup.status, 409);
  const overlap = await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg1", ipv4_pool: "10.13.0.0/16", listen_port: 51821 },
  });
  assert.equal(overlap.status, 409);
  assert.equal((await overlap.json()).error.fields[0].field, "ipv4_pool");
  const port = await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg1", ipv4_pool: "10.20.0.0/24", listen_port: 51820 },
  });
  assert.equal(port.status, 409);
  const extra = await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg1", ipv4_pool: "10.20.0.0/24", root: true },
  });
  assert.equal(extra.status, 422);
  assert.equal(m.services.interfaces.list().length, 1, "nothing changed");
  m.close();
});

Deno.test("POST /api/peers allocates the lowest free addresses with server-made keys and a PSK", async () => {
  const { m, token, iface } = await withInterface();
  const a =
    await (await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "laptop" } }))
      .json();
  const b =
    await (await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "phone" } }))
      .json();
  assert.equal(a.ipv4, "10.13.13.2/32");
  assert.equal(a.ipv6, "fd42:13::2/128");
  assert.equal(b.ipv4, "10.13.13.3/32");
  assert.equal(a.server_generated_keys, true);
  assert.equal(a.preshared_key, true);
  assert.equal(a.routing, "full");
  const sealed = m.db.all<{ private_key_sealed: string; psk_sealed: string }>(
    "SELECT private_key_sealed, psk_sealed FROM peers",
  );
  assert.ok(sealed.every((r) => r.private_key_sealed.startsWith("v1.") && r.psk_sealed.startsWith("v1.")));
  m.close();
});

Deno.test("50 peers created in parallel get 50 distinct addresses", async () => {
  const { m, token, iface } = await withInterface();
  const results = await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) =>
        m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: `dev-${i}` } }),
    ),
  );
  assert.ok(results.every((r) => r.status === 201));
  const peers = await Promise.all(results.map((r) => r.json()));
  assert.equal(new Set(peers.map((p) => p.ipv4)).size, 50);
  assert.equal(new Set(peers.map((p) => p.ipv6)).size, 50);
  m.close();
});

Deno.test("peer input errors name the field and change nothing", async () => {
  const { m, token, iface } = await withInterface();
  await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "taken" } });
  const cases: [Record<string, unknown>, number, string][] = [
    [{ interface_id: iface.id, name: "k", public_key: "not-a-key" }, 422, "public_key"],
    [
      { interface_id: iface.id, name: "r", routing: "custom", allowed_ips: "10.0.0.0/99" },
      422,
      "allowed_ips",
    ],
    [{ interface_id: iface.id, name: "r", routing: "custom" }, 422, "allowed_ips"],
    [{ interface_id: iface.id, name: "a", ipv4: "192.168.1.5" }, 422, "ipv4"],
    [{ interface_id: iface.id, name: "a", ipv4: "10.13.13.1" }, 422, "ipv4"],
    [{ interface_id: iface.id, name: "x".repeat(5000) }, 422, "name"],
    [{ interface_id: "one", name: "a" }, 422, "interface_id"],
    [{ interface_id: 999, name: "a" }, 422, "interface_id"],
    [{ interface_id: iface.id, name: "a", node_id: 7 }, 422, "node_id"],
    [{ interface_id: iface.id, name: "a", expires_at: "2001-01-01T00:00:00Z" }, 422, "expires_at"],
    [{ interface_id: iface.id, name: "a", enabled: "yes" }, 422, "enabled"],
    [{ interface_id: iface.id, name: "taken" }, 409, "name"],
  ];
  for (const [json, status, field] of cases) {
    const res = await m.api("/peers", { method: "POST", token, json });
    assert.equal(res.status, status, JSON.stringify(json).slice(0, 100));
    const err = (await res.json()).error;
    assert.ok(
      err.fields.some((f: { field: string }) => f.field === field),
      `${field} in ${JSON.stringify(err.fields)}`,
    );
  }
  assert.equal(m.services.peers.list({}).total, 1);
  m.close();
});

Deno.test("a client's own public key is accepted once; its config leaves the private key to the client", async () => {
  const { m, token, iface } = await withInterface();
  const own = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
  const res = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "own", public_key: own },
  });
  assert.equal(res.status, 201);
  const peer = await res.json();
  assert.equal(peer.server_generated_keys, false);
  const again = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "own2", public_key: own },
  });
  assert.equal(again.status, 409);
  const conf = await (await m.api(`/peers/${peer.id}/config`, { token })).text();
  assert.match(conf, /^# PrivateKey = /m);
  m.close();
});

Deno.test("GET /api/peers/{id}/config is the client's .conf: no-store, attachment, audited", async () => {
  const { m, token, iface } = await withInterface();
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "Laptop Anna" },
  })).json();
  const res = await m.api(`/peers/${peer.id}/config`, { token, ip: "203.0.113.30" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("content-disposition"), 'attachment; filename="Laptop-Anna.conf"');
  const conf = parseClientConf(await res.text());
  assert.deepEqual(conf.interface.addresses, ["10.13.13.2/32", "fd42:13::2/128"]);
  assert.deepEqual(conf.interface.dns, ["10.13.13.1"]);
  assert.equal(conf.peer.publicKey, iface.public_key);
  assert.deepEqual(conf.peer.endpoint, { host: "vpn.example.com", port: 51820 });
  assert.deepEqual(conf.peer.allowedIps, ["0.0.0.0/0", "::/0"]);
  assert.equal(conf.peer.persistentKeepalive, 25);
  assert.equal(await publicKeyFromPrivate(conf.interface.privateKey), peer.public_key);
  const state = await m.hostState();
  assert.equal(
    state.interfaces[0]!.peers[0]!.presharedKey,
    conf.peer.presharedKey,
    "client and server agree on the PSK",
  );
  const audit = m.services.audit.list({ action: "peer.config" })[0]!;
  assert.equal(audit.target, "Laptop Anna");
  assert.equal(audit.ip, "203.0.113.30");
  m.close();
});

Deno.test("split routing gives the interface subnets and the DNS address", async () => {
  const { m, token, iface } = await withInterface();
  await m.api(`/interfaces/${iface.id}`, {
    method: "PATCH",
    token,
    json: { dns: ["10.13.13.1", "9.9.9.9"] },
  });
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "s", routing: "split" },
  })).json();
  const conf = parseClientConf(await (await m.api(`/peers/${peer.id}/config`, { token })).text());
  assert.deepEqual(conf.peer.allowedIps, ["10.13.13.0/24", "fd42:13::/64", "9.9.9.9/32"]);
  m.close();
});

Deno.test("QR codes come as SVG and PNG, no-store, and only a node's peer gets a badge", async () => {
  const { m, token, iface } = await withInterface();
  const node = await (await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "Frankfurt", fqdn: "de.vpn.example.com", wg_port: 51821 },
  })).json();
  const local =
    await (await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "local" } }))
      .json();
  const remote = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "remote", node_id: node.id },
  })).json();
  const early = await m.api(`/peers/${remote.id}/config`, { token });
  assert.equal(early.status, 409, "no config before the node reported its key");
  assert.match((await early.json()).error.message, /has not reported its WireGuard key/);
  const nodeKey = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
  // The node enrolls and reports its wg0 key in a signed heartbeat, as the real node does.
  const reported = await sendHeartbeat(m, await enroll(m, node, "fra-1"), {
    interfaces: [{ name: "wg0", public_key: nodeKey, listen_port: 51821, peers: 1 }],
  });
  assert.equal(reported.res.status, 200, reported.text);
  const svgLocal = await m.api(`/peers/${local.id}/qr.svg`, { token });
  assert.equal(svgLocal.headers.get("cache-control"), "no-store");
  assert.match(svgLocal.headers.get("content-type") ?? "", /image\/svg\+xml/);
  assert.ok(!(await svgLocal.text()).includes("Frankfurt"));
  assert.match(await (await m.api(`/peers/${remote.id}/qr.svg`, { token })).text(), /Frankfurt/);
  const png = new Uint8Array(await (await m.api(`/peers/${remote.id}/qr.png`, { token })).arrayBuffer());
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const conf = parseClientConf(await (await m.api(`/peers/${remote.id}/config`, { token })).text());
  assert.deepEqual(conf.peer.endpoint, { host: "de.vpn.example.com", port: 51821 });
  assert.equal(conf.peer.publicKey, nodeKey, "a node's peer talks to the node's own interface key");
  assert.equal(m.services.audit.list({ action: "peer.qr" }).length, 3);
  m.close();
});

Deno.test("PATCH /api/peers edits, disables, moves and regenerates keys; the host state follows", async () => {
  const { m, token, iface } = await withInterface();
  const peer =
    await (await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "p" } }))
      .json();
  assert.equal((await m.hostState()).interfaces[0]!.peers.length, 1);
  const off = await m.api(`/peers/${peer.id}`, {
    method: "PATCH",
    token,
    json: { enabled: false, name: "p2" },
  });
  assert.equal(off.status, 200);
  assert.equal((await off.json()).name, "p2");
  assert.equal((await m.hostState()).interfaces[0]!.peers.length, 0);
  const re = await (await m.api(`/peers/${peer.id}`, {
    method: "PATCH",
    token,
    json: { enabled: true, regenerate_keys: true },
  })).json();
  assert.notEqual(re.public_key, peer.public_key);
  assert.equal((await m.hostState()).interfaces[0]!.peers[0]!.publicKey, re.public_key);
  const noPsk =
    await (await m.api(`/peers/${peer.id}`, { method: "PATCH", token, json: { preshared_key: false } }))
      .json();
  assert.equal(noPsk.preshared_key, false);
  assert.equal(
    (await m.api(`/peers/${peer.id}`, { method: "PATCH", token, json: { ipv4: "10.13.13.9" } })).status,
    422,
  );
  assert.equal((await m.api(`/peers/${peer.id}`, { method: "DELETE", token })).status, 204);
  assert.equal((await m.api(`/peers/${peer.id}`, { token })).status, 404);
  m.close();
});

Deno.test("an expired peer leaves the host state and the scheduler disables it", async () => {
  const { m, token, iface } = await withInterface();
  const expires = new Date(m.clock.now() + 3_600_000).toISOString();
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "temp", expires_at: expires },
  })).json();
  assert.equal((await m.hostState()).interfaces[0]!.peers.length, 1);
  m.clock.advance(3_600_001);
  assert.equal((await m.hostState()).interfaces[0]!.peers.length, 0);
  assert.equal(m.services.peers.expireDue(), 1);
  assert.equal((await (await m.api(`/peers/${peer.id}`, { token })).json()).enabled, false);
  assert.equal(m.services.audit.list({ action: "peer.expire" }).length, 1);
  m.close();
});

Deno.test("GET /api/peers searches and pages", async () => {
  const { m, token, iface } = await withInterface();
  for (let i = 0; i < 12; i++) {
    await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: `host-${i}` } });
  }
  const page2 = await (await m.api("/peers?per_page=5&page=2", { token })).json();
  assert.equal(page2.total, 12);
  assert.deepEqual(page2.peers.map((p: { name: string }) => p.name), [
    "host-5",
    "host-6",
    "host-7",
    "host-8",
    "host-9",
  ]);
  const found = await (await m.api("/peers?q=host-1", { token })).json();
  assert.deepEqual(found.peers.map((p: { name: string }) => p.name).sort(), ["host-1", "host-10", "host-11"]);
  const wild = await (await m.api("/peers?q=%25", { token })).json();
  assert.equal(wild.total, 0, "LIKE wildcards in the search are literal");
  assert.equal((await m.api("/peers?per_page=100000", { token })).status, 422);
  m.close();
});

Deno.test("an interface with peers cannot be deleted or re-addressed; a read token cannot change peers", async () => {
  const { m, token, iface } = await withInterface();
  await m.api("/peers", { method: "POST", token, json: { interface_id: iface.id, name: "p" } });
  assert.equal((await m.api(`/interfaces/${iface.id}`, { method: "DELETE", token })).status, 409);
  assert.equal(
    (await m.api(`/interfaces/${iface.id}`, { method: "PATCH", token, json: { ipv4_pool: "10.99.0.0/24" } }))
      .status,
    409,
  );
  const read = await m.token("read");
  assert.equal(
    (await m.api("/peers", { method: "POST", token: read, json: { interface_id: iface.id, name: "q" } }))
      .status,
    403,
  );
  assert.equal((await m.api("/peers", { token: read })).status, 200);
  m.close();
});
