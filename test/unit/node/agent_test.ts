// The real agent against the real master app (in memory, through app.request), with a fake engine and
// a memory filesystem: enrollment, signed sync, long-polled config, heartbeat with metrics, removal,
// and the refusals of the trust model. No permissions, no network.
import assert from "node:assert/strict";
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { readToken } from "../../../src/core/sync.ts";
import { runAgent } from "../../../src/node/agent.ts";
import type { NodeDaemonConfig } from "../../../src/node/config.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import type { Engine } from "../../../src/node/reconcile/engine.ts";
import { NodeState } from "../../../src/node/state.ts";
import type { FetchFactory } from "../../../src/node/sync_client.ts";
import { Secret } from "../../../src/core/secret.ts";
import { MemFs, ScriptedExec } from "../../support/fakes.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { waitFor as poll } from "../../support/wait.ts";

/** The master's (fake) time, with real sleeps: the agent's loops run, and signatures fall in the window. */
const clockOf = (m: TestMaster) => ({
  now: () => m.clock.now(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
    }),
});

class FakeEngine implements Engine {
  states: HostState[] = [];
  reconcileOnce(desired: HostState) {
    this.states.push(structuredClone(desired));
    return Promise.resolve({ ok: true, planned: 0, commands: 0, warnings: [] });
  }
  get last(): HostState | undefined {
    return this.states[this.states.length - 1];
  }
}

/** fetch into the in-memory master; `down` simulates an unreachable master. */
function masterFetch(m: TestMaster, opts: { down?: () => boolean; ip?: string } = {}): FetchFactory {
  return () => async (url, init) => {
    if (opts.down?.()) throw new TypeError("connection refused");
    return await m.app.request(url, init, { remoteAddr: opts.ip ?? "198.51.100.20" });
  };
}

function agentConfig(token: string | null, overrides: Partial<NodeDaemonConfig> = {}): NodeDaemonConfig {
  return {
    token: token ? new Secret(token) : null,
    dataDir: "/var/lib/wirebuddy-node",
    masterUrl: null,
    wgImpl: "userspace",
    wireguardGoDir: null,
    heartbeatMs: 100,
    metricsMs: 50,
    reconcileMs: 10_000,
    driftMs: 60_000,
    configWaitMs: 1_000,
    requestTimeoutMs: 5_000,
    backoffMinMs: 20,
    backoffMaxMs: 100,
    queueMax: 10_000,
    logLevel: "debug",
    ...overrides,
  };
}

/** The agent's loops tick every 20–100 ms here: check every 10 ms, give up after 5 s. */
const waitFor = <T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000) =>
  poll(what, check, { timeoutMs, intervalMs: 10 });

async function world() {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await (await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: 51820, dns: "10.13.13.1" },
  })).json();
  const node = await (await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "frankfurt", fqdn: "de.example.com", wg_port: 51821 },
  }))
    .json();
  return { m, token, iface, node };
}

function startNode(
  m: TestMaster,
  enrollment: string | null,
  fs = new MemFs(),
  extra: { down?: () => boolean } = {},
) {
  const engine = new FakeEngine();
  const log = memoryLogger();
  const queue = new MetricsQueue(":memory:", 10_000);
  const exec = new ScriptedExec((argv) =>
    argv.join(" ") === "wg show all dump" ? { code: 0, stdout: "", stderr: "" } : undefined
  );
  const stop = new AbortController();
  const done = runAgent(
    {
      exec,
      clock: clockOf(m),
      log,
      fetchFor: masterFetch(m, extra),
      engine,
      state: new NodeState(fs, "/var/lib/wirebuddy-node"),
      queue,
      hostname: "fra-1",
      version: "test",
    },
    agentConfig(enrollment),
    stop.signal,
  );
  return { engine, log, queue, fs, done, stop: async () => (stop.abort(), await done, queue.close()) };
}

Deno.test("a node enrolls from its token and logs the manual's lines", async () => {
  const { m, node } = await world();
  const n = startNode(m, node.enrollment_token);
  await waitFor(
    "online",
    () =>
      m.services.nodes.get(node.id).status === "online" &&
      n.log.lines.some((l) => l.includes("heartbeat sent")),
  );
  const text = n.log.lines.join("\n");
  assert.match(text, /NODE_DAEMON starting enrollment with master/);
  assert.match(text, new RegExp(`NODE_DAEMON enrollment successful, node_id=${node.id}`));
  assert.match(text, /NODE_DAEMON starting sync loop \(interval=0s\)|NODE_DAEMON starting sync loop/);
  assert.match(text, /NODE_DAEMON heartbeat sent \(status=online\)/);
  assert.ok(!text.includes(node.enrollment_token), "the token is never logged");
  assert.equal(m.services.nodes.get(node.id).hostname, "fra-1");
  await n.stop();
  m.close();
});

Deno.test("the node applies its config with its own keys and reports only public keys", async () => {
  const { m, token, iface, node } = await world();
  const n = startNode(m, node.enrollment_token);
  const state = await waitFor("config", () => n.engine.last?.interfaces.length ? n.engine.last : undefined);
  const wg0 = state.interfaces[0]!;
  assert.equal(wg0.name, "wg0");
  assert.equal(wg0.listenPort, 51821);
  assert.match(wg0.addresses[0]!, /^10\.13\.13\.\d+\/24$/);
  assert.notEqual(wg0.addresses[0], "10.13.13.1/24");
  const masterPeer = wg0.peers.find((p) => p.publicKey === iface.public_key)!;
  assert.deepEqual(masterPeer.allowedIps, ["10.13.13.1/32"]);
  assert.equal(masterPeer.persistentKeepalive, 25);
  assert.equal(masterPeer.endpoint, "vpn.example.com:51820");
  // The node's key reaches the master as a public key only, and the master adds the node as a peer.
  const reported = await waitFor("key", () => m.services.nodes.get(node.id).interfaces[0]?.publicKey);
  const files = [...n.fs.files.keys()].join(" ");
  assert.match(files, /wg-keys\.json/);
  assert.equal(n.fs.files.get("/var/lib/wirebuddy-node/wg-keys.json")!.mode, 0o600);
  const masterState = await m.hostState();
  const nodeAsPeer = masterState.interfaces[0]!.peers.find((p) => p.publicKey === reported)!;
  assert.ok(nodeAsPeer.allowedIps.includes(wg0.addresses[0]!.replace("/24", "/32")));
  // A peer assigned to the node arrives at once (long-poll), and the master routes its address to the node.
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "phone", node_id: node.id },
  }))
    .json();
  await waitFor(
    "peer on node",
    () => n.engine.last?.interfaces[0]?.peers.some((p) => p.publicKey === peer.public_key),
  );
  const hs = await m.hostState();
  assert.ok(hs.interfaces[0]!.peers.find((p) => p.publicKey === reported)!.allowedIps.includes(peer.ipv4));
  assert.ok(
    !hs.interfaces[0]!.peers.some((p) => p.publicKey === peer.public_key),
    "the master does not serve it itself",
  );
  assert.match(n.log.lines.join("\n"), /NODE_DAEMON config applied \(version=\d+/);
  await n.stop();
  m.close();
});

Deno.test("metrics are delivered exactly once and deleted only after the ack", async () => {
  const { m, iface, node } = await world();
  const n = startNode(m, node.enrollment_token);
  await waitFor("enrolled", () => m.services.nodes.get(node.id).status === "online");
  const key = iface.public_key; // the node's tunnel to the master: a key it may report (not another node's peer)
  const samples = Array.from(
    { length: 1200 },
    (_, i) => ({ at: 1_000_000 + i, peer: key, rx: i, tx: 2 * i, handshake: 0, endpoint: null }),
  );
  n.queue.enqueue(samples);
  await waitFor("queue drained", () => n.queue.stats().size === 0, 10_000);
  const stored =
    m.db.get<{ n: number }>("SELECT count(*) AS n FROM peer_metrics WHERE public_key = :key", { key })!.n;
  assert.equal(stored, 1200);
  assert.match(n.log.lines.join("\n"), /ACK received: deleted 500 metrics \(up to seq 500\)/);
  // The same batch sent again (a lost ack) is skipped by sequence number.
  const seq =
    m.db.get<{ s: number }>("SELECT last_metric_seq AS s FROM nodes WHERE id = :id", { id: node.id })!.s;
  assert.ok(seq >= 1200);
  await n.stop();
  m.close();
});

Deno.test("a used, forged or regenerated token is refused with a clear error", async () => {
  const { m, token, node } = await world();
  const first = startNode(m, node.enrollment_token);
  await waitFor("enrolled", () => m.services.nodes.get(node.id).status === "online");
  await first.stop();
  const reuse = startNode(m, node.enrollment_token);
  await assert.rejects(reuse.done, /already used or replaced/);
  // A forged token: same payload, another MAC.
  const parts = node.enrollment_token.split(".");
  const forged = `${parts[0]}.${parts[1]}.${"A".repeat(43)}`;
  const f = startNode(m, forged);
  await assert.rejects(f.done, /Invalid enrollment token/);
  // A regenerated token invalidates the old one.
  const other =
    await (await m.api("/nodes", { method: "POST", token, json: { name: "tokyo", fqdn: "jp.example.com" } }))
      .json();
  const fresh = await (await m.api(`/nodes/${other.id}/token`, { method: "POST", token })).json();
  const old = startNode(m, other.enrollment_token);
  await assert.rejects(old.done, /already used or replaced/);
  const ok = startNode(m, fresh.enrollment_token);
  await waitFor("tokyo online", () => m.services.nodes.get(other.id).status === "online");
  await ok.stop();
  assert.equal(readToken("garbage"), null);
  m.close();
});

Deno.test("an expired token is refused with its expiry time", async () => {
  const { m, node } = await world();
  m.clock.advance(25 * 3_600_000);
  const n = startNode(m, node.enrollment_token);
  await assert.rejects(n.done, /expired at \d{4}-\d\d-\d\dT/);
  m.close();
});

Deno.test("deleting a node sends a signed 'removed': the node takes everything down and exits", async () => {
  const { m, token, iface, node } = await world();
  const n = startNode(m, node.enrollment_token);
  await waitFor("config", () => n.engine.last?.interfaces.length);
  const peer = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "p", node_id: node.id },
  })).json();
  const res = await (await m.api(`/nodes/${node.id}`, { method: "DELETE", token })).json();
  assert.equal(res.unassigned_peers, 1);
  assert.equal(await n.done, "removed");
  assert.deepEqual(n.engine.last, { interfaces: [], forwarding: { ipv4: false, ipv6: false } });
  assert.equal(await n.fs.readText("/var/lib/wirebuddy-node/enrollment.json"), null);
  assert.equal(
    (await (await m.api(`/peers/${peer.id}`, { token })).json()).node_id,
    null,
    "its peers are unassigned",
  );
  n.queue.close();
  m.close();
});

Deno.test("the last good signed config is applied at start when the master is unreachable", async () => {
  const { m, node } = await world();
  const fs = new MemFs();
  const first = startNode(m, node.enrollment_token, fs);
  const applied = await waitFor(
    "config",
    () => first.engine.last?.interfaces.length ? first.engine.last : undefined,
  );
  await waitFor("saved", () => fs.readText("/var/lib/wirebuddy-node/last-config.json"));
  await first.stop();
  const second = startNode(m, null, fs, { down: () => true });
  const restored = await waitFor("restored", () => second.engine.states[0]);
  assert.deepEqual(restored, applied);
  await waitFor("unreachable logged", () => second.log.lines.some((l) => l.includes("master unreachable")));
  assert.match(second.log.lines.join("\n"), /applied the last good config/);
  await second.stop();
  // A tampered saved config is not applied.
  const saved = JSON.parse((await fs.readText("/var/lib/wirebuddy-node/last-config.json"))!);
  saved.body = saved.body.replace("wg0", "wg9");
  await fs.writeTextAtomic("/var/lib/wirebuddy-node/last-config.json", JSON.stringify(saved));
  const third = startNode(m, null, fs, { down: () => true });
  await waitFor("refusal", () => third.log.lines.some((l) => l.includes("signature does not verify")));
  assert.equal(third.engine.states.length, 0);
  await third.stop();
  m.close();
});
