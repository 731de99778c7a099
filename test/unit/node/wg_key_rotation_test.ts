// The node's side of a WireGuard key rotation: the next device as a desired interface (a table of
// configs and the interface they make), where each client is from the two devices' handshakes, and the
// keys: made once per rotation, the old one forgotten at the finish, the new one at a cancel.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig, NodeInterfaceConfig } from "../../../src/core/sync.ts";
import { generateKeyPair } from "../../../src/core/wg_keys.ts";
import type { WgDevice, WgPeer } from "../../../src/node/drivers/wg.ts";
import { samplesFromDump } from "../../../src/node/metrics/sample.ts";
import { NodeState } from "../../../src/node/state.ts";
import { lookAt, nextDevices, NodeWgRotation } from "../../../src/node/wg_key_rotation.ts";
import { MemFs } from "../../support/fakes.ts";

const [A, B, M] = await Promise.all([generateKeyPair(), generateKeyPair(), generateKeyPair()]);

function iface(over: Partial<NodeInterfaceConfig> = {}): NodeInterfaceConfig {
  return {
    name: "wg0",
    addresses: ["10.13.13.2/24"],
    listen_port: 51820,
    mtu: null,
    private_key: null,
    peers: [
      {
        public_key: A.publicKey,
        preshared_key: null,
        allowed_ips: ["10.13.13.3/32"],
        endpoint: null,
        persistent_keepalive: null,
      },
      {
        public_key: B.publicKey,
        preshared_key: null,
        allowed_ips: ["10.13.13.4/32"],
        endpoint: null,
        persistent_keepalive: null,
      },
    ],
    master_peer: {
      public_key: M.publicKey,
      endpoint: "198.51.100.1:51820",
      allowed_ips: ["10.13.13.1/32"],
      persistent_keepalive: 25,
    },
    masquerade: true,
    ...over,
  };
}
const config = (...interfaces: NodeInterfaceConfig[]): NodeConfig => ({
  node_id: 2,
  config_version: 5,
  issued_at: 0,
  interfaces,
});
const NEXT = { id: 1, name: "wg0r", listen_port: 52820 };
const keys = { wg0: A.privateKey, wg0r: B.privateKey };

Deno.test("nextDevices() makes the next device: client peers, host address, alternate port, moved clients' routes", () => {
  const rows: [
    string,
    NodeConfig,
    Map<string, string[]>,
    { name: string; addresses: string[]; port?: number; peers: number; routes: string[] }[],
  ][] = [
    ["no rotation", config(iface()), new Map(), []],
    ["rotating, nobody moved", config(iface({ next: NEXT })), new Map(), [
      { name: "wg0r", addresses: ["10.13.13.2/32"], port: 52820, peers: 2, routes: [] },
    ]],
    ["one client moved", config(iface({ next: NEXT })), new Map([["wg0r", ["10.13.13.4/32"]]]), [
      { name: "wg0r", addresses: ["10.13.13.2/32"], port: 52820, peers: 2, routes: ["10.13.13.4/32"] },
    ]],
    ["dual stack", config(iface({ next: NEXT, addresses: ["10.13.13.2/24", "fd42::2/64"] })), new Map(), [
      { name: "wg0r", addresses: ["10.13.13.2/32", "fd42::2/128"], port: 52820, peers: 2, routes: [] },
    ]],
    [
      "the master's own key (local node) is never rotated here",
      config(iface({ next: NEXT, private_key: M.privateKey })),
      new Map(),
      [],
    ],
  ];
  for (const [what, c, routes, want] of rows) {
    const got = nextDevices(c, keys, routes);
    assert.deepEqual(
      got.map((s) => ({
        name: s.name,
        addresses: s.addresses,
        port: s.listenPort,
        peers: s.peers.length,
        routes: s.routes,
      })),
      want,
      what,
    );
    for (const s of got) {
      assert.equal(s.privateKey, B.privateKey, `${what}: the next device's own key`);
      assert.ok(
        !s.peers.some((p) => p.publicKey === M.publicKey),
        `${what}: the master's tunnel stays on the old device`,
      );
      assert.equal(s.masquerade, false);
      assert.equal(s.forward, true);
    }
  }
});

const peer = (publicKey: string, latestHandshake: number): WgPeer => ({
  publicKey,
  presharedKey: null,
  endpoint: null,
  allowedIps: [],
  latestHandshake,
  rxBytes: 0,
  txBytes: 0,
  persistentKeepalive: 0,
});
const device = (name: string, peers: [string, number][]): WgDevice => ({
  name,
  privateKey: null,
  publicKey: null,
  listenPort: 0,
  peers: new Map(peers.map(([k, h]) => [k, peer(k, h)])),
});

Deno.test("lookAt() routes each client through the device of its latest handshake", () => {
  const now = 10_000;
  const rows: [string, [string, number][], [string, number][], string[], number, number][] = [
    // what, old device handshakes, next device handshakes → routes via next, moved, pending
    [
      "nobody moved, A live",
      [[A.publicKey, now - 30], [B.publicKey, 0]],
      [[A.publicKey, 0], [B.publicKey, 0]],
      [],
      0,
      1,
    ],
    ["A moved", [[A.publicKey, now - 30]], [[A.publicKey, now - 2]], ["10.13.13.3/32"], 1, 0],
    ["A went back to the old config", [[A.publicKey, now - 1]], [[A.publicKey, now - 20]], [], 0, 1],
    ["an old session is not pending", [[A.publicKey, now - 600]], [], [], 0, 0],
    [
      "both moved",
      [[A.publicKey, now - 30], [B.publicKey, now - 40]],
      [[A.publicKey, now - 1], [B.publicKey, now - 2]],
      ["10.13.13.3/32", "10.13.13.4/32"],
      2,
      0,
    ],
    ["the next device not up yet", [[A.publicKey, now - 30]], [], [], 0, 1],
  ];
  for (const [what, old, next, routes, moved, pending] of rows) {
    const devices = new Map([["wg0", device("wg0", old)]]);
    if (next.length > 0) devices.set("wg0r", device("wg0r", next));
    const look = lookAt(config(iface({ next: NEXT })), devices, now);
    assert.deepEqual(look.routes.get("wg0r"), routes, what);
    assert.deepEqual(look.progress, [{ name: "wg0", moved, pending }], what);
  }
  assert.equal(lookAt(config(iface()), new Map(), now).routes.size, 0, "no rotation, nothing to look at");
});

Deno.test("NodeWgRotation makes a new key once per rotation and forgets the replaced one at the finish", async () => {
  const disk = new NodeState(new MemFs(), "/state");
  const r = new NodeWgRotation(disk, memoryLogger());
  const first = await disk.wgKeys(["wg0", "wg0r"]); // a stale wg0r key from long ago must not be reused
  await r.prepare(config(iface({ next: NEXT })));
  const during = await disk.wgKeys(["wg0", "wg0r"]);
  assert.equal(during.wg0, first.wg0, "the old device keeps its key");
  assert.notEqual(during.wg0r, first.wg0r, "a fresh key for this rotation");
  await r.prepare(config(iface({ next: NEXT })));
  assert.equal((await disk.wgKeys(["wg0r"])).wg0r, during.wg0r, "made once per rotation");
  assert.deepEqual(Object.keys(await disk.wgRotations()), ["wg0r"]);

  // Finished: the config names wg0r as the interface; wg0's key is forgotten.
  await r.prepare(config(iface({ name: "wg0r", listen_port: 52820 })));
  assert.deepEqual(Object.keys(await disk.publicKeys()), ["wg0r"]);
  assert.deepEqual(await disk.wgRotations(), {});

  // The next rotation back to wg0, cancelled: the new wg0 key is forgotten, wg0r keeps serving.
  await r.prepare(
    config(iface({ name: "wg0r", listen_port: 52820, next: { id: 2, name: "wg0", listen_port: 51820 } })),
  );
  assert.deepEqual(Object.keys(await disk.publicKeys()).sort(), ["wg0", "wg0r"]);
  await r.prepare(config(iface({ name: "wg0r", listen_port: 52820 })));
  assert.deepEqual(Object.keys(await disk.publicKeys()), ["wg0r"]);
  assert.equal((await disk.wgKeys(["wg0r"])).wg0r, during.wg0r);
});

Deno.test("NodeWgRotation reports progress only while a rotation runs, and a route change asks for an apply", () => {
  const r = new NodeWgRotation(new NodeState(new MemFs(), "/state"), memoryLogger());
  const look = {
    routes: new Map([["wg0r", ["10.13.13.3/32"]]]),
    progress: [{ name: "wg0", moved: 1, pending: 0 }],
  };
  assert.equal(
    r.take({ routes: new Map([["wg0r", []]]), progress: [] }),
    false,
    "no moved client: nothing to apply",
  );
  assert.equal(r.take(look), true);
  assert.equal(r.take({ ...look, routes: new Map([["wg0r", ["10.13.13.3/32"]]]) }), false, "same routes");
  assert.deepEqual(r.fields(config(iface({ next: NEXT }))), {
    wg_rotation: [{ name: "wg0", moved: 1, pending: 0 }],
  });
  assert.deepEqual(r.fields(config(iface())), {});
  const desired = r.extend(config(iface({ next: NEXT })), {
    interfaces: [],
    forwarding: { ipv4: true, ipv6: false },
  }, keys);
  assert.deepEqual(desired.interfaces.map((i) => [i.name, i.routes]), [["wg0r", ["10.13.13.3/32"]]]);
  assert.deepEqual(desired.overlaps, [{ old: "wg0", next: "wg0r" }], "replies follow the arriving device");
  const idle = { interfaces: [], forwarding: { ipv4: true, ipv6: false } };
  assert.equal(r.extend(config(iface()), idle, keys), idle, "no overlap without a rotation");
});

Deno.test("samplesFromDump() makes one sample of a client both devices carry during a rotation", () => {
  const dump = [
    ["wg0", "(hidden)", "pub0", "51820", "off"],
    ["wg0", A.publicKey, "(none)", "192.0.2.7:4000", "10.13.13.3/32", "1000", "500", "700", "off"],
    ["wg0", B.publicKey, "(none)", "(none)", "10.13.13.4/32", "0", "0", "0", "off"],
    ["wg0r", "(hidden)", "pub1", "52820", "off"],
    ["wg0r", A.publicKey, "(none)", "192.0.2.7:4001", "10.13.13.3/32", "1100", "20", "30", "off"],
    ["wg0r", B.publicKey, "(none)", "(none)", "10.13.13.4/32", "0", "0", "0", "off"],
  ].map((f) => f.join("\t")).join("\n");
  assert.deepEqual(samplesFromDump(dump, 5), [
    { at: 5, peer: A.publicKey, rx: 520, tx: 730, handshake: 1100, endpoint: "192.0.2.7:4001" },
    { at: 5, peer: B.publicKey, rx: 0, tx: 0, handshake: 0, endpoint: null },
  ]);
});
