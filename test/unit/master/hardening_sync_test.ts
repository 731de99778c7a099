// Issue 16, the sync and resource parts a unit test can show: patches leave what they do not name,
// endpoint hosts are validated when written, a node's traffic samples are its own, unknown node ids look
// like wrong credentials, and the master's own `local` node talks over loopback only.
// (The enrollment race against the real server: test/integration/enroll_race_test.ts.)
import assert from "node:assert/strict";
import { createApp } from "../../../src/master/app.tsx";
import { NodePatchSchema } from "../../../src/master/service/node_admin.ts";
import { InterfacePatchSchema, PeerPatchSchema } from "../../../src/master/service/wg_schemas.ts";
import { ORIGIN, PASSWORD, type TestMaster, testMaster } from "../../support/master.ts";
import { enrolled, nodeIdentity, sendHeartbeat, signedRequest } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };
const heartbeat = { status: "online", applied_version: 0, interfaces: [], metrics: [] };

type Json = Record<string, unknown>;

/** Every field of `after` but `changed` equals `before`'s. */
function onlyChanged(before: Json, after: Json, changed: string[]) {
  const rest = (o: Json) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !changed.includes(k) && k !== "updated_at"));
  assert.deepEqual(rest(after), rest(before));
}

async function patch(m: TestMaster, token: string, path: string, json: unknown) {
  const res = await m.api(path, { method: "PATCH", token, json });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body as Json;
}

/** An interface with no field at its default, so a reset would show. */
async function customInterface(m: TestMaster, token: string): Promise<Json> {
  const res = await m.api("/interfaces", {
    method: "POST",
    token,
    json: {
      name: "wg0",
      ipv4_pool: "10.13.13.0/24",
      ipv6_pool: "fd42:13::/64",
      listen_port: 51999,
      mtu: 1380,
      dns: "10.13.13.1, 1.1.1.1",
      keepalive: 21,
      endpoint_host: "vpn2.example.com",
    },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return await res.json();
}

// --- item 6: absent means unchanged -----------------------------------------------------------------

Deno.test("patch schemas add nothing the input did not name (no defaults on PATCH)", () => {
  for (const [name, schema] of Object.entries({ InterfacePatchSchema, PeerPatchSchema, NodePatchSchema })) {
    assert.deepEqual(schema.parse({}), {}, name);
  }
});

Deno.test("PATCH /api/interfaces/{id} with one field leaves listen_port, dns, mtu, keepalive and the rest unchanged", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const before = await customInterface(m, token);
  for (
    const [field, value, shown] of [
      ["mtu", 1400, 1400],
      ["keepalive", 30, 30],
      ["endpoint_host", "vpn3.example.com", "vpn3.example.com"],
      ["dns", "9.9.9.9", ["9.9.9.9"]],
      ["listen_port", 51820, 51820],
    ] as const
  ) {
    const cur = await (await m.api(`/interfaces/${before.id}`, { token })).json();
    const after = await patch(m, token, `/interfaces/${before.id}`, { [field]: value });
    assert.deepEqual(after[field], shown, field);
    onlyChanged(cur, after, [field]);
  }
  m.close();
});

Deno.test("PATCH /api/peers/{id} with one field leaves routing, keys, node, expiry and the rest unchanged", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await customInterface(m, token);
  const node = (await m.services.nodes.create(system, null, { name: "fra", fqdn: "fra.example.com" })).node;
  const res = await m.api("/peers", {
    method: "POST",
    token,
    json: {
      interface_id: iface.id,
      name: "alice",
      preshared_key: false,
      routing: "custom",
      allowed_ips: "192.168.7.0/24",
      node_id: node.id,
      expires_at: "2031-01-01T00:00:00Z",
      enabled: false,
    },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const before = await res.json();
  for (const [field, value] of [["name", "alice-2"], ["enabled", true], ["node_id", null]] as const) {
    const cur = await (await m.api(`/peers/${before.id}`, { token })).json();
    const after = await patch(m, token, `/peers/${before.id}`, { [field]: value });
    assert.deepEqual(after[field], value, field);
    onlyChanged(cur, after, field === "node_id" ? ["node_id", "node"] : [field]);
  }
  m.close();
});

Deno.test("PATCH /api/nodes/{id} with one field leaves the others unchanged", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const res = await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "fra", fqdn: "fra.example.com", wg_port: 41000 },
  });
  const created = await res.json();
  const before = await (await m.api(`/nodes/${created.id}`, { token })).json();
  const after = await patch(m, token, `/nodes/${created.id}`, { name: "fra-1" });
  assert.equal(after.name, "fra-1");
  onlyChanged(before, after, ["name"]);
  const again = await patch(m, token, `/nodes/${created.id}`, { fqdn: "fra1.example.com" });
  assert.equal(again.wg_port, 41000);
  onlyChanged(after, again, ["fqdn"]);
  m.close();
});

Deno.test("PATCH /api/users/{id} with a role keeps the password; with a password keeps the role", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const user = await m.addUser("vera", "viewer");
  const before = await (await m.api(`/users/${user.id}`, { token })).json();
  const promoted = await patch(m, token, `/users/${user.id}`, { role: "admin" });
  onlyChanged(before, promoted, ["role"]);
  await m.login("vera", PASSWORD);
  const renewed = await patch(m, token, `/users/${user.id}`, { password: "another long passphrase" });
  assert.equal(renewed.role, "admin");
  m.close();
});

// --- item 7: endpoint_host is a host --------------------------------------------------------------

Deno.test("endpoint_host must be a host name or an IP address: ':::' and '1.2.3.4.5' are refused with 422 naming the field", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await customInterface(m, token);
  for (const bad of [":::", "1.2.3.4.5", "1.2.3", "host_name.example", "-a.example.com", "[2001:db8::1]"]) {
    for (
      const res of [
        await m.api("/interfaces", {
          method: "POST",
          token,
          json: { name: "wg9", ipv4_pool: "10.99.0.0/24", endpoint_host: bad },
        }),
        await m.api(`/interfaces/${iface.id}`, { method: "PATCH", token, json: { endpoint_host: bad } }),
      ]
    ) {
      assert.equal(res.status, 422, bad);
      assert.deepEqual((await res.json()).error.fields.map((f: { field: string }) => f.field), [
        "endpoint_host",
      ]);
    }
  }
  for (const good of ["vpn.example.com", "203.0.113.5", "2001:db8::1", "localhost"]) {
    const after = await patch(m, token, `/interfaces/${iface.id}`, { endpoint_host: good });
    assert.equal(after.endpoint_host, good);
  }
  m.close();
});

// --- item 9: unknown ids look like wrong credentials ------------------------------------------------

Deno.test("sync answers an unknown node id, a pending node and a wrong secret the same (401, same body)", async () => {
  const m = await testMaster();
  const a = await enrolled(m, "a");
  const pending = (await m.services.nodes.create(system, null, { name: "p", fqdn: "p.example.com" })).node;
  const answers = [];
  for (
    const s of [{ nodeId: 4242, bearer: a.secret }, { nodeId: pending.id, bearer: a.secret }, {
      nodeId: a.node.id,
      bearer: "wrong-secret",
    }]
  ) {
    for (
      const [method, path, body] of [["POST", "/api/sync/heartbeat", heartbeat], [
        "GET",
        "/api/sync/config",
        null,
      ]] as const
    ) {
      const r = await signedRequest(m, method, path, body, { ...s, key: a.key });
      answers.push({ status: r.res.status, body: r.text });
    }
  }
  for (const answer of answers) assert.deepEqual(answer, answers[0]);
  assert.equal(answers[0]!.status, 401);
  m.close();
});

// --- item 13: the local node over loopback only -----------------------------------------------------

async function localToken(m: TestMaster): Promise<{ id: number; token: string }> {
  const local = m.services.nodes.list().find((n) => n.isLocal)!;
  return { id: local.id, token: await m.services.nodes.regenerateToken(system, null, local.id) };
}

/** Enrolls the local node over loopback; its signer (id, key, secret). */
async function enrollLocal(m: TestMaster) {
  const { id, token } = await localToken(m);
  const identity = await nodeIdentity();
  const body = { token, cert: identity.certPem, hostname: "master", version: "t" };
  const r = await signedRequest(m, "POST", "/api/sync/enroll", body, {
    nodeId: id,
    key: identity.keys.privateKey,
    remoteAddr: "127.0.0.1",
  });
  assert.equal(r.res.status, 200, r.text);
  return { nodeId: id, key: identity.keys.privateKey, bearer: JSON.parse(r.text).node_secret as string };
}

Deno.test("the local node's token is refused (403, logged) from a non-loopback address and still enrolls over loopback", async () => {
  const m = await testMaster();
  const { id, token } = await localToken(m);
  const identity = await nodeIdentity();
  const body = { token, cert: identity.certPem, hostname: "master", version: "t" };
  const signer = { nodeId: id, key: identity.keys.privateKey };
  for (
    const via of [
      { remoteAddr: "198.51.100.30" },
      { remoteAddr: "198.51.100.30", headers: { "x-forwarded-for": "127.0.0.1" } },
      { remoteAddr: "2001:db8::5" },
    ]
  ) {
    const r = await signedRequest(m, "POST", "/api/sync/enroll", body, { ...signer, ...via });
    assert.equal(r.res.status, 403, JSON.stringify(via));
    assert.match(r.text, /loopback/);
  }
  assert.ok(m.log.lines.some((l) => /local node .*loopback/.test(l) && l.includes("ip=198.51.100.30")));
  const ok = await signedRequest(m, "POST", "/api/sync/enroll", body, { ...signer, remoteAddr: "127.0.0.1" });
  assert.equal(ok.res.status, 200, ok.text);
  m.close();
});

Deno.test("the local node's sync requests are refused (403) from a non-loopback address", async () => {
  const m = await testMaster();
  const local = await enrollLocal(m);
  for (
    const [method, path, body] of [["POST", "/api/sync/heartbeat", heartbeat], [
      "GET",
      "/api/sync/config",
      null,
    ]] as const
  ) {
    const outside = await signedRequest(m, method, path, body, local);
    assert.equal(outside.res.status, 403, path);
    assert.match(outside.text, /loopback/);
    const faked = await signedRequest(m, method, path, body, {
      ...local,
      headers: { "x-forwarded-for": "127.0.0.1" },
    });
    assert.equal(faked.res.status, 403, `${path} with X-Forwarded-For`);
    const inside = await signedRequest(m, method, path, body, { ...local, remoteAddr: "::1" });
    assert.equal(inside.res.status, 200, inside.text);
  }
  m.close();
});

Deno.test("behind a trusted proxy on loopback, a forwarded request is never the local node's (even 'from' 127.0.0.1)", async () => {
  const m = await testMaster();
  const proxied = {
    app: createApp(m.services, { publicUrl: new URL(ORIGIN), trustProxy: true }),
    clock: m.clock,
  };
  const local = await enrollLocal(m);
  for (const xff of ["127.0.0.1", "203.0.113.9", "127.0.0.1, 127.0.0.1"]) {
    const r = await signedRequest(proxied, "POST", "/api/sync/heartbeat", heartbeat, {
      ...local,
      remoteAddr: "127.0.0.1",
      headers: { "x-forwarded-for": xff },
    });
    assert.equal(r.res.status, 403, xff);
  }
  const direct = await signedRequest(proxied, "POST", "/api/sync/heartbeat", heartbeat, {
    ...local,
    remoteAddr: "127.0.0.1",
  });
  assert.equal(direct.res.status, 200, direct.text);
  // A remote node behind the same proxy is unaffected.
  const node = await enrolled(m, "a");
  const remote = await signedRequest(proxied, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: node.node.id,
    key: node.key,
    bearer: node.secret,
    remoteAddr: "127.0.0.1",
    headers: { "x-forwarded-for": "203.0.113.9" },
  });
  assert.equal(remote.res.status, 200, remote.text);
  m.close();
});

// --- item 8: a node's samples are its own -----------------------------------------------------------

Deno.test("heartbeat stores samples only for the node's own peers and tunnel; foreign samples are dropped, their seq still acked, logged once a minute", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "a");
  const b = await enrolled(m, "b");
  const own = await m.services.peers.create(system, null, {
    interface_id: iface.id,
    name: "own",
    node_id: a.node.id,
  });
  const other = await m.services.peers.create(system, null, {
    interface_id: iface.id,
    name: "bs",
    node_id: b.node.id,
  });
  const onMaster = await m.services.peers.create(system, null, { interface_id: iface.id, name: "master" });
  const stranger = "x".repeat(42) + "A=";
  const at = m.clock.now();
  const sample = (seq: number, peer: string) => ({
    seq,
    at: at + seq,
    peer,
    rx: 10 * seq,
    tx: 20 * seq,
    handshake: 1,
    endpoint: "203.0.113.66:4000",
  });
  const keys = [own.publicKey, iface.publicKey, other.publicKey, onMaster.publicKey, stranger];
  const r = await sendHeartbeat(m, a, { metrics: keys.map((k, i) => sample(i + 1, k)) });
  assert.equal(r.res.status, 200, r.text);
  assert.equal(
    JSON.parse(r.text).acked_seq,
    5,
    "foreign samples are acked too, so the node does not resend them",
  );
  const stored = () =>
    m.db.all<{ public_key: string }>("SELECT public_key FROM peer_metrics ORDER BY at").map((x) =>
      x.public_key
    );
  assert.deepEqual(stored(), [own.publicKey, iface.publicKey]);
  const logged = () => m.log.lines.filter((l) => l.includes("foreign traffic samples")).length;
  assert.equal(logged(), 1);
  assert.match(m.log.lines.find((l) => l.includes("foreign traffic samples"))!, /node=a .*dropped=3/);

  await sendHeartbeat(m, a, { metrics: [sample(6, other.publicKey)] });
  assert.equal(logged(), 1, "at most one line a minute per node");
  m.clock.advance(61_000);
  const late = await sendHeartbeat(m, a, { metrics: [sample(7, stranger)] });
  assert.equal(JSON.parse(late.text).acked_seq, 7);
  assert.equal(logged(), 2);
  assert.deepEqual(stored(), [own.publicKey, iface.publicKey]);
  m.close();
});

Deno.test("the local node's samples cover the master's own peers and the nodes' tunnels, not the nodes' peers", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "a");
  const local = await enrollLocal(m);
  const nodeKey = "n".repeat(42) + "A=";
  await sendHeartbeat(m, a, {
    interfaces: [{ name: "wg0", public_key: nodeKey, listen_port: 51820, peers: 0 }],
  });
  const onMaster = await m.services.peers.create(system, null, { interface_id: iface.id, name: "m" });
  const onNode = await m.services.peers.create(system, null, {
    interface_id: iface.id,
    name: "n",
    node_id: a.node.id,
  });
  const metrics = [onMaster.publicKey, nodeKey, onNode.publicKey].map((peer, i) => ({
    seq: i + 1,
    at: m.clock.now() + i,
    peer,
    rx: 1,
    tx: 1,
    handshake: 1,
    endpoint: null,
  }));
  const r = await signedRequest(m, "POST", "/api/sync/heartbeat", { ...heartbeat, metrics }, {
    ...local,
    remoteAddr: "127.0.0.1",
  });
  assert.equal(JSON.parse(r.text).acked_seq, 3, r.text);
  assert.deepEqual(
    m.db.all<{ public_key: string }>("SELECT public_key FROM peer_metrics ORDER BY at").map((x) =>
      x.public_key
    ),
    [onMaster.publicKey, nodeKey],
  );
  m.close();
});
