// The engine at fleet size: one peer with every client address of a node (the master's own `local`
// node peers with each remote node that way), on the fake host, which refuses an argv argument over
// Linux's 128 KiB limit like the kernel does (E2BIG).
import assert from "node:assert/strict";
import type { HostState, PeerSpec } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { MemFs } from "../../support/fakes.ts";
import { foreignHost, key } from "./fixtures.ts";

const S = key(1), NODE = key(11), CLIENT = key(12);
const clients = (n: number) =>
  Array.from({ length: n }, (_, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 2}/32`);

function master(nodeIps: string[]): HostState {
  const peers: PeerSpec[] = [
    { publicKey: NODE, allowedIps: ["10.0.0.2/32", ...nodeIps] },
    { publicKey: CLIENT, allowedIps: ["10.0.0.3/32"] },
  ];
  return {
    interfaces: [{
      name: "wg0",
      privateKey: S,
      addresses: ["10.0.0.1/16"],
      listenPort: 51820,
      peers,
      routes: [],
      forward: true,
      masquerade: true,
    }],
    forwarding: { ipv4: true, ipv6: false },
  };
}

Deno.test("a node peer with 20,000 client addresses is set through stdin, and changing it touches only that peer", async () => {
  const host = foreignHost();
  const log = memoryLogger();
  const engine = createEngine({ exec: host, fs: new MemFs(), log }, { statePath: "/s.json", wgImpl: "auto" });
  // Two small peers first, as on a young master; then the node's clients arrive in one config.
  assert.ok((await engine.reconcileOnce(master(clients(1)))).ok);
  host.connect("wg0", CLIENT, "198.51.100.9:40000");
  host.commands.length = 0;
  const big = clients(20_000);
  const r = await engine.reconcileOnce(master(big));
  assert.ok(r.ok, r.error?.message ?? "");
  assert.deepEqual(host.commands, ["wg addconf wg0 /dev/stdin"]);
  assert.deepEqual(host.peer("wg0", NODE)!.allowed.length, 20_001);
  assert.equal(host.peer("wg0", CLIENT)!.endpoint, "198.51.100.9:40000", "the other peer is untouched");
  assert.ok(log.lines.every((l) => l.length < 2_000), "no log line carries the whole list");
  // One more client: still one command, for that peer only; then nothing to do.
  host.commands.length = 0;
  assert.ok((await engine.reconcileOnce(master([...big, "10.2.0.1/32"]))).ok);
  assert.deepEqual(host.commands, ["wg addconf wg0 /dev/stdin"]);
  assert.equal(host.peer("wg0", NODE)!.allowed.length, 20_002);
  const again = await engine.reconcileOnce(master([...big, "10.2.0.1/32"]));
  assert.deepEqual([again.planned, again.commands], [0, 0]);
  // Back to a short list: the usual one-line `wg set`, and the list is replaced, not merged.
  host.commands.length = 0;
  assert.ok((await engine.reconcileOnce(master(["10.1.0.2/32"]))).ok);
  assert.deepEqual(host.commands, [`wg set wg0 peer ${NODE} allowed-ips 10.0.0.2/32,10.1.0.2/32`]);
  assert.deepEqual(host.peer("wg0", NODE)!.allowed, ["10.0.0.2/32", "10.1.0.2/32"]);
});

Deno.test("a new peer with 20,000 addresses next to others is added through stdin", async () => {
  const host = foreignHost();
  const engine = createEngine({ exec: host, fs: new MemFs(), log: memoryLogger() }, {
    statePath: "/s.json",
    wgImpl: "auto",
  });
  const desired = master(clients(20_000));
  desired.interfaces[0]!.peers = [desired.interfaces[0]!.peers[1]!];
  assert.ok((await engine.reconcileOnce(desired)).ok);
  host.commands.length = 0;
  const r = await engine.reconcileOnce(master(clients(20_000)));
  assert.ok(r.ok, r.error?.message ?? "");
  assert.deepEqual(host.commands, ["wg addconf wg0 /dev/stdin"]);
  assert.equal(host.peer("wg0", NODE)!.allowed.length, 20_001);
});
