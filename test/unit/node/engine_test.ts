// The engine's promises, one behaviour per test, on the fake host (no permissions needed).
import assert from "node:assert/strict";
import type { HostState, PeerSpec } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { ExecOptions } from "../../../src/core/ports/types.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import type { WgImpl } from "../../../src/node/reconcile/steps.ts";
import { MemFs } from "../../support/fakes.ts";
import { FakeHost } from "./fake_host.ts";
import { foreignHost, key } from "./fixtures.ts";

const S = key(1), A = key(11), B = key(12), C = key(13), P = key(21);
const STATE = "/var/lib/wb/state.json";

function server(peers: PeerSpec[], extra: Partial<HostState["interfaces"][number]> = {}): HostState {
  return {
    interfaces: [{
      name: "wg0",
      privateKey: S,
      addresses: ["10.0.0.1/24"],
      listenPort: 51820,
      peers,
      routes: [],
      forward: true,
      masquerade: true,
      ...extra,
    }],
    forwarding: { ipv4: true, ipv6: false },
  };
}

function setup(host: FakeHost = foreignHost(), wgImpl: WgImpl = "auto") {
  const log = memoryLogger();
  const fs = new MemFs();
  const engine = createEngine({ exec: host, fs, log }, { statePath: STATE, wgImpl });
  return { host, log, fs, engine };
}

const peerA: PeerSpec = { publicKey: A, presharedKey: P, allowedIps: ["10.0.0.2/32"] };
const peerB: PeerSpec = { publicKey: B, allowedIps: ["10.0.0.3/32"] };

Deno.test("changing one peer runs one command for that peer only", async () => {
  const { host, engine } = setup();
  assert.ok((await engine.reconcileOnce(server([peerA, peerB]))).ok);
  host.commands.length = 0;
  const r = await engine.reconcileOnce(
    server([peerA, { ...peerB, allowedIps: ["10.0.0.3/32", "10.5.0.0/16"] }]),
  );
  assert.equal(r.commands, 1);
  assert.deepEqual(host.commands, [`wg set wg0 peer ${B} allowed-ips 10.0.0.3/32,10.5.0.0/16`]);
});

Deno.test("adding and removing one peer touch only that peer", async () => {
  const { host, engine } = setup();
  await engine.reconcileOnce(server([peerA, peerB]));
  host.commands.length = 0;
  await engine.reconcileOnce(server([peerA, peerB, { publicKey: C, allowedIps: ["10.0.0.4/32"] }]));
  await engine.reconcileOnce(server([peerA, { publicKey: C, allowedIps: ["10.0.0.4/32"] }]));
  assert.deepEqual(host.commands, [
    `wg set wg0 peer ${C} allowed-ips 10.0.0.4/32`,
    `wg set wg0 peer ${B} remove`,
  ]);
});

Deno.test("a connected peer's roamed endpoint and handshake survive every tick that does not change it", async () => {
  const withEndpoint = { ...peerB, endpoint: "192.0.2.10:51820" };
  const { host, engine } = setup();
  await engine.reconcileOnce(server([peerA, withEndpoint]));
  host.connect("wg0", A, "198.51.100.77:40000");
  host.connect("wg0", B, "198.51.100.78:41000"); // roamed away from the configured endpoint
  host.commands.length = 0;
  const noop = await engine.reconcileOnce(server([peerA, withEndpoint]));
  assert.deepEqual([noop.planned, noop.commands], [0, 0], "a tick with nothing to do runs nothing");
  await engine.reconcileOnce(
    server([{ ...peerA, allowedIps: ["10.0.0.2/32", "10.6.0.0/24"] }, withEndpoint]),
  );
  assert.deepEqual(host.commands, [`wg set wg0 peer ${A} allowed-ips 10.0.0.2/32,10.6.0.0/24`]);
  assert.equal(host.peer("wg0", A)!.endpoint, "198.51.100.77:40000");
  assert.equal(host.peer("wg0", B)!.endpoint, "198.51.100.78:41000");
  assert.equal(host.peer("wg0", B)!.handshake, 1_700_000_000);
  // A changed desired endpoint is applied.
  host.commands.length = 0;
  await engine.reconcileOnce(
    server(
      [peerA, { ...peerB, endpoint: "192.0.2.11:51820" }].map((p, i) =>
        i === 0 ? { ...p, allowedIps: ["10.0.0.2/32", "10.6.0.0/24"] } : p
      ),
    ),
  );
  assert.deepEqual(host.commands, [`wg set wg0 peer ${B} endpoint 192.0.2.11:51820`]);
});

Deno.test("a foreign interface of a desired name that is not WireGuard is left alone, with a warning", async () => {
  const host = foreignHost();
  host.links.set("wg0", { name: "wg0", kind: "dummy", up: true, mtu: 1500, addresses: ["192.0.2.1/32"] });
  const { engine, log } = setup(host);
  const r = await engine.reconcileOnce(server([peerA]));
  assert.ok(r.ok);
  assert.ok(!host.commands.some((c) => c.includes("wg0")), host.commands.join("\n"));
  assert.ok(log.lines.some((l) => l.includes("wg0 exists and is not WireGuard")));
  assert.equal(host.links.get("wg0")!.kind, "dummy");
});

Deno.test("WIREBUDDY_WG_IMPL: auto uses the kernel module when there is one", async () => {
  const host = foreignHost();
  host.kernelWireguard = true;
  const { engine, log } = setup(host, "auto");
  await engine.reconcileOnce(server([]));
  assert.equal(host.commands[0], "ip link add dev wg0 type wireguard");
  assert.ok(!host.commands.some((c) => c.startsWith("wireguard-go")));
  assert.ok(log.lines.some((l) => l.includes("impl=kernel")));
});

Deno.test("WIREBUDDY_WG_IMPL: auto falls back to wireguard-go once, and says so", async () => {
  const { host, engine, log } = setup(foreignHost(), "auto");
  const state = server([]);
  state.interfaces.push({
    ...state.interfaces[0]!,
    name: "wg1",
    listenPort: 51821,
    addresses: ["10.1.0.1/24"],
  });
  assert.ok((await engine.reconcileOnce(state)).ok);
  assert.deepEqual(host.commands.filter((c) => /link add|wireguard-go/.test(c)), [
    "ip link add dev wg0 type wireguard",
    "wireguard-go wg0",
    "wireguard-go wg1",
  ]);
  assert.ok(log.lines.some((l) => l.includes("The kernel has no WireGuard; falling back to wireguard-go")));
});

Deno.test("WIREBUDDY_WG_IMPL: userspace never tries the kernel; kernel fails loudly without it", async () => {
  const u = setup(foreignHost(), "userspace");
  await u.engine.reconcileOnce(server([]));
  assert.equal(u.host.commands[0], "wireguard-go wg0");
  const k = setup(foreignHost(), "kernel");
  const r = await k.engine.reconcileOnce(server([]));
  assert.equal(r.ok, false);
  assert.match(r.error!.message, /ip link add dev wg0 type wireguard exited 2: Error: Unknown device type\./);
});

Deno.test("apply stops at the first failure, names the command, quotes stderr and redacts keys", async () => {
  const host = foreignHost();
  host.failNext = { match: /^wg addconf/, stderr: `Key is not the correct length or format: \`${S}'` };
  const { engine, log } = setup(host);
  const r = await engine.reconcileOnce(server([peerA, peerB]));
  assert.equal(r.ok, false);
  assert.match(
    r.error!.message,
    /wg addconf wg0 \/dev\/stdin exited 2: Key is not the correct length or format/,
  );
  assert.ok(!r.error!.message.includes(S), "the private key is redacted");
  assert.match(r.error!.message, /\[redacted\]/);
  assert.equal(host.commands.at(-1), "wg addconf wg0 /dev/stdin", "nothing runs after the failure");
  for (const line of log.lines) for (const k of [S, P]) assert.ok(!line.includes(k), line);
  // The next tick plans again and finishes the job.
  const next = await engine.reconcileOnce(server([peerA, peerB]));
  assert.ok(next.ok, next.error?.message ?? "");
  assert.equal((await engine.reconcileOnce(server([peerA, peerB]))).planned, 0);
});

Deno.test("keys go through stdin only, never argv or the log", async () => {
  const { host, engine, log } = setup();
  await engine.reconcileOnce(server([peerA]));
  await engine.reconcileOnce(server([{ ...peerA, presharedKey: key(22) }]));
  host.secrets.add(key(22)); // the fake host throws on any argv that carries a registered key
  await engine.reconcileOnce(server([{ ...peerA, presharedKey: undefined }]));
  assert.equal(host.peer("wg0", A)!.psk, null, "the PSK was removed");
  for (const line of log.lines) for (const k of [S, P, key(22)]) assert.ok(!line.includes(k), line);
  assert.ok(log.lines.some((l) => l.includes(`[#] wg set wg0 peer ${A} preshared-key /dev/stdin`)));
});

Deno.test("the state file records an interface before it is created", async () => {
  const host = foreignHost();
  host.failNext = { match: /^wireguard-go/, stderr: "boom" };
  const { engine, fs } = setup(host);
  assert.equal((await engine.reconcileOnce(server([]))).ok, false);
  const state = JSON.parse(fs.files.get(STATE)!.text);
  assert.deepEqual(Object.keys(state.interfaces), ["wg0"]);
  assert.equal(fs.files.get(STATE)!.mode, 0o600);
  assert.ok((await engine.reconcileOnce(server([]))).ok);
  assert.ok(host.links.has("wg0"));
});

Deno.test("forwarding is only turned on; a failure says clearly what it means", async () => {
  const host = foreignHost();
  host.sysctl.set("net.ipv6.conf.all.forwarding", "1");
  host.failNext = { match: /^sysctl -w/, stderr: 'sysctl: permission denied on key "net.ipv4.ip_forward"' };
  const { engine, log } = setup(host);
  const state = { ...server([]), forwarding: { ipv4: true, ipv6: false } };
  const r = await engine.reconcileOnce(state);
  assert.equal(r.ok, false);
  assert.match(
    r.error!.message,
    /Cannot turn on net\.ipv4\.ip_forward, so forwarded traffic will be dropped/,
  );
  assert.ok(log.lines.some((l) => l.includes("Cannot turn on net.ipv4.ip_forward")));
  assert.ok((await engine.reconcileOnce(state)).ok);
  assert.equal(host.sysctl.get("net.ipv4.ip_forward"), "1");
  assert.equal(host.sysctl.get("net.ipv6.conf.all.forwarding"), "1", "never turned off");
});

Deno.test("a duplicated jump or a hand-edited chain of ours is repaired in one restore", async () => {
  const { host, engine } = setup();
  await engine.reconcileOnce(server([peerA]));
  host.foreignRule(4, "filter", "FORWARD", "-j WIREBUDDY-FWD");
  host.foreignRule(4, "filter", "WIREBUDDY-FWD", "-i eth9 -j ACCEPT");
  host.commands.length = 0;
  await engine.reconcileOnce(server([peerA]));
  assert.deepEqual(host.commands, ["iptables-restore --noflush"]);
  const save = host.save(4);
  assert.equal(save.match(/-A FORWARD -j WIREBUDDY-FWD/g)!.length, 1);
  assert.doesNotMatch(save, /eth9/);
  assert.match(save, /-A FORWARD -j WIREBUDDY-FWD\n-A FORWARD -s 192.0.2.66\/32 -j DROP/);
});

Deno.test("every command the engine runs gets LC_ALL=C, so the stderr it matches is English", async () => {
  const host = foreignHost();
  const envs: { line: string; env: ExecOptions["env"] }[] = [];
  const recording = {
    run: (argv: readonly string[], options: ExecOptions = {}) => {
      envs.push({ line: argv.join(" "), env: options.env });
      return host.run(argv, options);
    },
  };
  const engine = createEngine({ exec: recording, fs: new MemFs(), log: memoryLogger() }, {
    statePath: STATE,
    wgImpl: "auto",
  });
  assert.ok((await engine.reconcileOnce(server([peerA, peerB]))).ok);
  assert.ok(envs.some((e) => e.line.startsWith("ip -j")), "reads");
  assert.ok(envs.some((e) => e.line.startsWith("wg addconf")), "and writes");
  for (const e of envs) assert.deepEqual(e.env, { LC_ALL: "C" }, e.line);
});

Deno.test("an IPv4-mapped IPv6 address on a foreign interface does not stop the engine", async () => {
  const host = foreignHost();
  host.links.set("tun9", {
    name: "tun9",
    kind: "tun",
    up: true,
    mtu: 1500,
    addresses: ["::ffff:192.0.2.9/128"],
  });
  const { engine } = setup(host);
  const r = await engine.reconcileOnce(server([peerA]));
  assert.ok(r.ok, r.error?.message ?? "");
  assert.deepEqual(host.links.get("tun9")!.addresses, ["::ffff:192.0.2.9/128"], "left alone");
  assert.equal((await engine.reconcileOnce(server([peerA]))).planned, 0);
});

Deno.test("peer changes to a userspace interface go through its UAPI socket, logged with keys redacted", async () => {
  const host = foreignHost();
  const log = memoryLogger();
  const requests: string[] = [];
  let socket: "none" | "ok" | "fail" = "none";
  const uapi = {
    request(iface: string, text: string) {
      if (socket === "none" || iface !== "wg0") return Promise.resolve(null);
      requests.push(text);
      return Promise.resolve(socket === "ok" ? "errno=0\n\n" : "errno=-22\n\n");
    },
  };
  const engine = createEngine({ exec: host, fs: new MemFs(), log, uapi, now: () => 0 }, {
    statePath: STATE,
    wgImpl: "auto",
    driftIntervalMs: 60_000,
  });
  assert.ok((await engine.reconcileOnce(server([peerB]))).ok, "without a socket, `wg` does it");
  assert.equal((await engine.reconcileOnce(server([peerB]))).commands, 0);
  socket = "ok";
  const before = host.commands.length;
  const r = await engine.reconcileOnce(server([peerA, peerB]));
  assert.deepEqual([r.ok, r.commands, r.observed], [true, 1, false]);
  assert.deepEqual(host.commands.slice(before), [], "no command spawned");
  assert.equal(requests.length, 1);
  assert.match(requests[0]!, /^set=1\npublic_key=[0-9a-f]{64}\npreshared_key=[0-9a-f]{64}\n/);
  assert.ok(requests[0]!.endsWith("replace_allowed_ips=true\nallowed_ip=10.0.0.2/32\n\n"));
  const line = log.lines.find((l) => l.includes("[#] uapi"));
  assert.equal(
    line?.replace(/^<\d>/, ""),
    `[#] uapi wg0 set peer ${A} preshared-key [redacted] allowed-ips 10.0.0.2/32`,
  );
  assert.ok(!log.lines.some((l) => l.includes(P)), "the preshared key is never logged");

  socket = "fail";
  const failed = await engine.reconcileOnce(server([peerB]));
  assert.equal(failed.ok, false);
  assert.match(
    failed.error!.message,
    new RegExp(`uapi wg0 set peer ${A.replaceAll("+", "\\+")} remove failed: errno=-22`),
  );
  socket = "none";
  const after = await engine.reconcileOnce(server([peerB]));
  assert.deepEqual([after.ok, after.observed], [true, true], "after a failure the next tick observes");
});
