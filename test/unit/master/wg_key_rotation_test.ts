// A node's WireGuard key rotation on the master: the device plan (names, ports, collisions) as a table,
// the API's validation, the announce taken from a heartbeat, client configs following the new key, the
// finish (the node's config and the master's tunnel peer switch in one step), the schedule and the window.
import assert from "node:assert/strict";
import { generateKeyPair } from "../../../src/core/wg_keys.ts";
import { rotationJobs } from "../../../src/master/scheduler.ts";
import { altDeviceName, altPort, collision, devicePlan } from "../../../src/master/service/wg_devices.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

Deno.test("devicePlan() alternates the device name and port at each rotation", () => {
  const rows: [string, string | null, number, string, number, string, number][] = [
    // base, device now, home port → device, port, next device, next port
    ["wg0", null, 51820, "wg0", 51820, "wg0r", 52820],
    ["wg0", "wg0", 51820, "wg0", 51820, "wg0r", 52820],
    ["wg0", "wg0r", 51820, "wg0r", 52820, "wg0", 51820],
    ["wg1", null, 51821, "wg1", 51821, "wg1r", 52821],
    ["wg0", null, 65000, "wg0", 65000, "wg0r", 64000],
    ["fifteen-chars-x", null, 51820, "fifteen-chars-x", 51820, "fifteen-chars-r", 52820],
    ["fifteen-charsrr", null, 51820, "fifteen-charsrr", 51820, "fifteen-charsrR", 52820],
  ];
  for (const [base, device, home, name, port, next, nextPort] of rows) {
    assert.deepEqual(devicePlan(base, device, home), {
      name,
      listen_port: port,
      next: { name: next, listen_port: nextPort },
    }, `${base} on ${device}`);
    assert.ok(altDeviceName(base).length <= 15);
    assert.notEqual(altDeviceName(base), base);
  }
  assert.equal(altPort(51820), 52820);
  assert.equal(altPort(65535), 64535);
});

Deno.test("collision() refuses next devices whose name or port another interface holds", () => {
  const rows: [string, { base: string; device: string | null; home: number }[], string | null][] = [
    ["one interface", [{ base: "wg0", device: null, home: 51820 }], null],
    ["two, ports apart", [{ base: "wg0", device: null, home: 51820 }, {
      base: "wg1",
      device: null,
      home: 51821,
    }], null],
    ["an interface named like the alternate", [
      { base: "wg0", device: null, home: 51820 },
      { base: "wg0r", device: null, home: 51821 },
    ], "the device name wg0r of wg0 is the name of another interface"],
    ["a home port on the other's alternate", [
      { base: "wg0", device: null, home: 51820 },
      { base: "wg1", device: null, home: 52820 },
    ], "port 52820 of wg1 is also used by wg0"],
  ];
  for (const [what, ifaces, want] of rows) {
    assert.equal(collision(ifaces, ifaces.map((i) => i.base)), want, what);
  }
});

async function setup() {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: 51820 },
  });
  assert.equal(iface.status, 201);
  const ifaceId = (await iface.json()).id;
  const n = await enrolled(m, "tokyo");
  const oldKey = (await generateKeyPair()).publicKey;
  const hb = await sendHeartbeat(m, n, {
    interfaces: [{ name: "wg0", public_key: oldKey, listen_port: 51820, peers: 0 }],
  });
  assert.equal(hb.res.status, 200, hb.text);
  const peer = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: ifaceId, name: "laptop", node_id: n.node.id },
  });
  assert.equal(peer.status, 201);
  const local = m.services.nodes.list().find((x) => x.isLocal)!;
  return { m, token, n, oldKey, peerId: (await peer.json()).id as number, local };
}

const localTunnelKeys = async (m: Awaited<ReturnType<typeof setup>>["m"], localId: number) =>
  (await m.services.sync.config(localId)).interfaces[0]!.peers.map((p) => p.public_key);

Deno.test("POST /api/nodes/{id}/rotate-wireguard-key: validation, announce, client configs, finish", async () => {
  const { m, token, n, oldKey, peerId, local } = await setup();
  try {
    const post = (path: string, t = token) => m.api(path, { method: "POST", token: t });
    const status = async (res: Response, want: number) => {
      const text = await res.text();
      assert.equal(res.status, want, text);
      return text ? JSON.parse(text) : null;
    };
    await status(await post("/nodes/999/rotate-wireguard-key"), 404);
    await status(await post(`/nodes/${local.id}/rotate-wireguard-key`), 409);
    await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key`, await m.token("read")), 403);
    await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key/finish`), 409); // none running
    const unreported = await enrolled(m, "paris");
    await status(await post(`/nodes/${unreported.node.id}/rotate-wireguard-key`), 409);

    const versionBefore = (await m.services.sync.config(n.node.id)).config_version;
    const started = await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key`), 202);
    assert.equal(started.running, true);
    assert.deepEqual(started.interfaces, [
      { name: "wg0", device: "wg0", port: 51820, next: { device: "wg0r", port: 52820, public_key: null } },
    ]);
    await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key`), 409); // already running
    const during = await m.services.sync.config(n.node.id);
    assert.ok(during.config_version > versionBefore);
    assert.equal(during.interfaces[0]!.name, "wg0");
    assert.deepEqual(during.interfaces[0]!.next, { id: 1, name: "wg0r", listen_port: 52820 });
    await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key/finish`), 409); // not announced

    // Before the announce, client configs keep the old key and port.
    const confText = async () => await (await m.api(`/peers/${peerId}/config`, { token })).text();
    assert.match(await confText(), /Endpoint = tokyo\.example\.com:51820/);

    const newKey = (await generateKeyPair()).publicKey;
    const hb = await sendHeartbeat(m, n, {
      interfaces: [
        { name: "wg0", public_key: oldKey, listen_port: 51820, peers: 1 },
        { name: "wg0r", public_key: newKey, listen_port: 52820, peers: 1 },
      ],
      wg_rotation: [{ name: "wg0", moved: 0, pending: 1 }],
    });
    assert.equal(hb.res.status, 200, hb.text);
    const announced = await status(await m.api(`/nodes/${n.node.id}/rotate-wireguard-key`, { token }), 200);
    assert.equal(announced.interfaces[0].next.public_key, newKey);
    assert.equal(announced.clients_on_old_key, 1);
    const conf = await confText();
    assert.ok(conf.includes(`PublicKey = ${newKey}`), conf);
    assert.match(conf, /Endpoint = tokyo\.example\.com:52820/);
    assert.deepEqual(
      await localTunnelKeys(m, local.id),
      [oldKey],
      "the master's tunnel keeps the old key meanwhile",
    );

    const done = await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key/finish`), 200);
    assert.equal(done.running, false);
    assert.deepEqual(done.interfaces, [{ name: "wg0", device: "wg0r", port: 52820, next: null }]);
    const after = await m.services.sync.config(n.node.id);
    assert.equal(after.interfaces[0]!.name, "wg0r");
    assert.equal(after.interfaces[0]!.listen_port, 52820);
    assert.equal(after.interfaces[0]!.next, undefined);
    assert.ok(after.interfaces[0]!.master_peer, "the next device carries the master's tunnel");
    assert.deepEqual(await localTunnelKeys(m, local.id), [newKey], "the master's tunnel takes the new key");
    assert.match(await confText(), /Endpoint = tokyo\.example\.com:52820/);

    // The second rotation goes back to wg0 on the home port; the node reporting wg0 (its next device now)
    // does not swap the master's tunnel early.
    await status(await post(`/nodes/${n.node.id}/rotate-wireguard-key`), 202);
    assert.deepEqual((await m.services.sync.config(n.node.id)).interfaces[0]!.next, {
      id: 2,
      name: "wg0",
      listen_port: 51820,
    });
    const third = (await generateKeyPair()).publicKey;
    await sendHeartbeat(m, n, {
      interfaces: [
        { name: "wg0r", public_key: newKey, listen_port: 52820, peers: 1 },
        { name: "wg0", public_key: third, listen_port: 51820, peers: 1 },
      ],
    });
    assert.deepEqual(await localTunnelKeys(m, local.id), [newKey]);
    assert.match(await confText(), /Endpoint = tokyo\.example\.com:51820/);

    const actions = m.services.audit.list({}).filter((e) => e.action.startsWith("node.rotate_wireguard_key"))
      .map((e) => e.action);
    assert.deepEqual(actions.sort(), [
      "node.rotate_wireguard_key",
      "node.rotate_wireguard_key",
      "node.rotate_wireguard_key.finish",
    ]);
  } finally {
    m.close();
  }
});

Deno.test("a rotation ends once every client moved, or is cancelled when its window ends unannounced", async () => {
  const { m, n, oldKey } = await setup();
  try {
    const s = m.services.wgKeys;
    s.start("schedule", null, n.node.id);
    const newKey = (await generateKeyPair()).publicKey;
    await sendHeartbeat(m, n, {
      interfaces: [
        { name: "wg0", public_key: oldKey, listen_port: 51820, peers: 1 },
        { name: "wg0r", public_key: newKey, listen_port: 52820, peers: 1 },
      ],
      wg_rotation: [{ name: "wg0", moved: 0, pending: 1 }],
    });
    assert.equal(s.finishDue(), 0, "a client is still on the old key");
    await sendHeartbeat(m, n, { wg_rotation: [{ name: "wg0", moved: 1, pending: 0 }] });
    assert.equal(s.finishDue(), 1, "every client moved");
    assert.equal(s.status(n.node.id).interfaces[0]!.device, "wg0r");

    s.start("schedule", null, n.node.id);
    assert.equal(s.finishDue(), 0);
    m.clock.advance(7 * 86_400_000);
    assert.equal(s.finishDue(), 1, "the window is over");
    const st = s.status(n.node.id);
    assert.equal(st.running, false);
    assert.equal(st.interfaces[0]!.device, "wg0r", "cancelled: no switch without an announced key");
    const last = m.services.audit.list({ action: "node.rotate_wireguard_key.finish" })[0]!;
    assert.match(last.detail, /cancelled/);
  } finally {
    m.close();
  }
});

Deno.test("WIREBUDDY_ROTATE_NODE_WG_KEYS_EVERY: a node's keys rotate when its last rotation is that old", async () => {
  const { m, n } = await setup();
  try {
    const every = 30 * 86_400_000;
    const jobs = rotationJobs(m.services, {
      signingKeyEveryMs: null,
      tlsEveryMs: null,
      nodeIdentityEveryMs: null,
      nodeWgKeysEveryMs: every,
      graceMs: 1,
    });
    assert.deepEqual(jobs.map((j) => j.name), ["node wireguard key rotation"]);
    await jobs[0]!.run(); // the first look starts the count
    assert.equal(m.services.wgKeys.status(n.node.id).running, false);
    m.clock.advance(every);
    assert.equal(m.services.wgKeys.startDue(every), 1);
    assert.equal(m.services.wgKeys.status(n.node.id).running, true);
    assert.equal(m.services.wgKeys.startDue(every), 0, "one at a time");
    assert.equal(m.services.audit.list({ action: "node.rotate_wireguard_key" })[0]!.actor, "schedule");
  } finally {
    m.close();
  }
});
