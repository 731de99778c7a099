// deno-lint-ignore-file no-console
// Benchmark behind scripts/bench-apply (root): one WireGuard interface with 10,000 peers in a network
// namespace. Prints our cold apply against raw `wg setconf` of the same peers (plus the same interface
// creation, address and up, as wg-quick would do), our one-peer change (the incremental path: planned
// against the last observe, applied through wireguard-go's UAPI socket) against a raw `wg set` of that
// peer, as ratios of medians measured side by side in one run, the no-op tick (incremental and full),
// and the idle RSS of a process with the node's code loaded and its engine holding the 10,000-peer
// baseline (scripts/lib/idle_node.ts), with and without the V8 flags and malloc settings the node ships with, side by side.
import type { HostState } from "../src/core/host_state.ts";
import { memoryLogger } from "../src/core/logger.ts";
import { realFs, realUnixRequest } from "../src/core/ports/real.ts";
import { createEngine } from "../src/node/reconcile/engine.ts";
import { socketUapi } from "../src/node/drivers/uapi.ts";
import { renderPeersConfig } from "../src/node/drivers/wg.ts";
import { type Host, withWorld } from "../test/support/netns.ts";
import { waitFor } from "../test/support/wait.ts";
import { keyPair } from "../test/support/netns_vpn.ts";

const DRIFT_MS = 60_000;
/** `wg set IF peer $1 allowed-ips $2`, timed by bash itself: prints seconds. */
const RAW_WG_SET = 's=$EPOCHREALTIME; wg set wg0 peer "$1" allowed-ips "$2" || exit 1; e=$EPOCHREALTIME; ' +
  'echo "$e - $s" | awk \'{ printf "%.6f\\n", $1 - $3 }\'';

// The idle process whose RSS is measured is scripts/lib/idle_node.ts (the node's code loaded, its engine
// holding the converged 10,000 peers).
const PEERS = Number(Deno.env.get("BENCH_PEERS") ?? 10_000);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);
/**
 * The launches the idle engine is measured with, side by side: no V8 flags, the node's V8 flags alone
 * (scripts/lib/permissions.txt's --v8-flags), and as shipped (those and systemd/wirebuddy-node.service's
 * MALLOC_* environment).
 * BENCH_IDLE_V8_FLAGS adds V8 flag sets, BENCH_IDLE_ENV environment sets ("K=V K=V", with the shipped
 * flags), each list separated by `|`. BENCH_IDLE_SECONDS: how long each idles before its RSS is read.
 */
const SHIPPED_V8_FLAGS = (await Deno.readTextFile(new URL("./lib/permissions.txt", import.meta.url)))
  .match(/^node .*--v8-flags=(\S+)/m)?.[1] ?? "";
const SHIPPED_ENV = [
  ...(await Deno.readTextFile(new URL("../systemd/wirebuddy-node.service", import.meta.url)))
    .matchAll(/^Environment=(MALLOC_\w+=\S+)$/gm),
].map((m) => m[1]!).join(" ");
type Launch = { flags: string; env: string };
const IDLE_LAUNCHES: Launch[] = [
  { flags: "", env: "" },
  ...(SHIPPED_ENV ? [{ flags: SHIPPED_V8_FLAGS, env: "" }] : []),
  { flags: SHIPPED_V8_FLAGS, env: SHIPPED_ENV },
  ...(Deno.env.get("BENCH_IDLE_V8_FLAGS") ?? "").split("|").filter(Boolean).map((flags) => ({
    flags,
    env: "",
  })),
  ...(Deno.env.get("BENCH_IDLE_ENV") ?? "").split("|").filter(Boolean).map((env) => ({
    flags: SHIPPED_V8_FLAGS,
    env,
  })),
];
const IDLE_SECONDS = Number(Deno.env.get("BENCH_IDLE_SECONDS") ?? 30);

const randomKey = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

await withWorld(async (world) => {
  const host: Host = await world.host("bench", { wireguard: true });
  const inet = await world.host("inet");
  await world.link(host, "eth1", inet, "eth0", { a: ["203.0.113.1/24"] });
  await host.run(["ip", "route", "add", "default", "dev", "eth1"]);
  const keys = await keyPair();
  const peers = Array.from({ length: PEERS }, (_, i) => ({
    publicKey: randomKey(),
    allowedIps: [`10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
  }));
  const desired = (name: string, ps = peers): HostState => ({
    interfaces: [{
      name,
      privateKey: keys.privateKey,
      addresses: ["10.127.0.1/16"],
      listenPort: 51820,
      peers: ps,
      routes: [],
      forward: true,
      masquerade: true,
    }],
    forwarding: { ipv4: true, ipv6: true },
  });
  const setconf = `[Interface]\nPrivateKey = ${keys.privateKey}\nListenPort = 51820\n\n` +
    renderPeersConfig(peers.map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps })));
  const dir = await Deno.makeTempDir({ prefix: "wb-bench-" });
  // wireguard-go's sockets live in the host's private mount namespace.
  const sockets = `/proc/${host.holder!.pid}/root/run/wireguard`;
  const engineAt = (statePath: string, driftIntervalMs = DRIFT_MS) =>
    createEngine(
      { exec: host.exec, fs: realFs, log: memoryLogger("warn"), uapi: socketUapi(realUnixRequest, sockets) },
      { statePath, wgImpl: "auto", driftIntervalMs },
    );
  try {
    const ours: number[] = [];
    const raw: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raw.push(
        await timed(async () => {
          await host.run(["wireguard-go", "wgraw"]);
          await host.run(["wg", "setconf", "wgraw", "/dev/stdin"], { stdin: setconf });
          await host.run(["ip", "address", "add", "10.127.0.1/16", "dev", "wgraw"]);
          await host.run(["ip", "link", "set", "dev", "wgraw", "up"]);
        }),
      );
      await host.run(["ip", "link", "delete", "dev", "wgraw"]);
      await waitFor(
        "wireguard-go to let go of wgraw",
        async () => !(await host.run(["wg", "show", "interfaces"])).stdout.includes("wgraw"),
      );
      const engine = engineAt(`${dir}/state-${round}.json`);
      ours.push(
        await timed(async () => {
          const r = await engine.reconcileOnce(desired("wg0"));
          if (!r.ok) throw r.error;
        }),
      );
      if (round < ROUNDS - 1) {
        const r = await engine.reconcileOnce({ interfaces: [], forwarding: { ipv4: true, ipv6: true } });
        if (!r.ok) throw r.error;
      }
    }
    const dump = (await host.run(["wg", "show", "wg0", "peers"])).stdout.trim().split("\n").length;
    if (dump !== PEERS) throw new Error(`expected ${PEERS} peers on wg0, found ${dump}`);

    // One peer changed: our tick (incremental: planned against the last observe, applied through the
    // UAPI socket) against a raw `wg set` of that peer, as an admin would run it from a shell in the
    // namespace: timed by bash itself ($EPOCHREALTIME around the command), so nsenter is not counted.
    const statePath = `${dir}/state-${ROUNDS - 1}.json`;
    const engine = engineAt(statePath);
    const full = engineAt(statePath, 0);
    const first = await engine.reconcileOnce(desired("wg0"));
    if (!first.ok || first.commands !== 0 || !first.observed) {
      throw new Error("the interface is not converged before the one-peer test");
    }
    const oneOurs: number[] = [];
    const oneRaw: number[] = [];
    const noopIncremental: number[] = [];
    const noopFull: number[] = [];
    const target = PEERS >> 1;
    for (let i = 0; i < 15; i++) {
      const changed = peers.map((
        p,
        j,
      ) => (j === target ? { ...p, allowedIps: [...p.allowedIps, `10.99.${i}.0/24`] } : p));
      oneOurs.push(
        await timed(async () => {
          const r = await engine.reconcileOnce(desired("wg0", changed));
          if (!r.ok || r.commands !== 1 || r.observed) {
            throw new Error(`expected one command and no observe, got ${r.commands} (${r.error?.message})`);
          }
        }),
      );
      // The same change by hand (a peer's allowed IPs set to what we just set): the host stays converged.
      const rawSet = await host.run([
        "bash",
        "-c",
        RAW_WG_SET,
        "bash",
        peers[target]!.publicKey,
        changed[target]!.allowedIps.join(","),
      ]);
      oneRaw.push(Number(rawSet.stdout.trim()) * 1000);
      noopIncremental.push(
        await timed(async () => {
          const r = await engine.reconcileOnce(desired("wg0", changed));
          if (!r.ok || r.commands !== 0) throw new Error("the no-op tick ran a command");
        }),
      );
      if (i % 3 === 0) {
        noopFull.push(
          await timed(async () => {
            const r = await full.reconcileOnce(desired("wg0", changed));
            if (!r.ok || r.commands !== 0 || !r.observed) {
              throw new Error("the full no-op tick ran a command");
            }
          }),
        );
      }
    }
    const last = peers.map((
      p,
      j,
    ) => (j === target ? { ...p, allowedIps: [...p.allowedIps, `10.99.14.0/24`] } : p));
    const idleRss = await measureIdleRss(host, dir, statePath, sockets, desired("wg0", last));
    const c = { ours: median(ours), raw: median(raw) };
    const o = { ours: median(oneOurs), raw: median(oneRaw) };
    const f = (ms: number) => `${ms.toFixed(1)} ms`;
    const f2 = (ms: number) => `${ms.toFixed(2)} ms`;
    console.log(
      `peers: ${PEERS}, wireguard-go in a network namespace, medians of ${ROUNDS} cold and 15 one-peer runs`,
    );
    console.log(
      `cold apply:  ours ${f(c.ours)}  vs raw wireguard-go + wg setconf + ip addr + up ${f(c.raw)}  ratio ${
        (c.ours / c.raw).toFixed(2)
      }x (goal <= 1.3x)`,
    );
    console.log(
      `one peer:    ours ${f2(o.ours)} (incremental: no host read, one UAPI write)  vs raw wg set ${
        f2(o.raw)
      } (timed by bash in the namespace)  ratio ${(o.ours / o.raw).toFixed(2)}x (goal <= 1.5x)`,
    );
    console.log(
      `no-op tick:  ${f2(median(noopIncremental))} between full observes (0 commands, no host read); ` +
        `a full one (observe ${PEERS} peers + plan, every ${DRIFT_MS / 1000} s and after a failure) ${
          f(median(noopFull))
        }`,
    );
    console.log(
      `idle RSS:    a bare deno process ${idleRss.bare.toFixed(1)} MB; goal for the engine <= 50 MB`,
    );
    for (const v of idleRss.variants) {
      const shipped = v.flags === SHIPPED_V8_FLAGS && v.env === SHIPPED_ENV ? " (as shipped)" : "";
      console.log(
        `  ${PEERS} peers held, V8 flags ${v.flags || "(none)"}, env ${v.env || "(none)"}${shipped}: ` +
          `${v.rss.toFixed(1)} MB after ${Math.max(IDLE_SECONDS, 10)} s idle (${
            v.early.toFixed(1)
          } MB in the ` +
          `first 5 s), ${
            (v.rss - idleRss.variants[0].rss).toFixed(1)
          } MB vs none; its last tick: ${v.last}; ` +
          `its first (full) tick: ${v.first}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** VmRSS of a process, in MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/**
 * Spawns a deno process, waits for `readyLines` lines on stdout, reads its RSS (the highest of the samples
 * in the first 5 s, and of those in the last 5 s of `IDLE_SECONDS`), ends it by PID.
 */
async function idleProcessRss(
  args: string[],
  readyLines: number,
  env: Record<string, string> = {},
): Promise<{ early: number; rss: number; first: string; last: string }> {
  const child = new Deno.Command(Deno.execPath(), { args, env, stdout: "piped", stderr: "inherit" }).spawn();
  const lines: string[] = [];
  const pump = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (buf + chunk).split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  try {
    await waitFor("the idle process to be ready", () => lines.length >= readyLines, { timeoutMs: 180_000 });
    const samples: number[] = [];
    for (let i = 0; i < Math.max(IDLE_SECONDS, 10); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      samples.push(await rssMb(child.pid));
    }
    return {
      early: Math.max(...samples.slice(0, 5)),
      rss: Math.max(...samples.slice(-5)),
      first: lines[0] ?? "",
      last: lines.at(-1) ?? "",
    };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await pump.catch(() => {});
  }
}

async function measureIdleRss(host: Host, dir: string, statePath: string, sockets: string, state: HostState) {
  const variants = [];
  for (const launch of IDLE_LAUNCHES) {
    const desiredPath = `${dir}/idle-desired.json`;
    await Deno.writeTextFile(desiredPath, JSON.stringify(state), { mode: 0o600 });
    const env = Object.fromEntries(launch.env.split(" ").filter(Boolean).map((kv) => kv.split("=", 2)));
    const engine = await idleProcessRss(
      [
        "run",
        "--quiet",
        "--allow-all",
        ...(launch.flags ? [`--v8-flags=${launch.flags}`] : []),
        new URL("./lib/idle_node.ts", import.meta.url).pathname,
        "--enter",
        JSON.stringify(host.enterArgv),
        "--state",
        statePath,
        "--desired",
        desiredPath,
        "--sockets",
        sockets,
      ],
      3,
      env,
    );
    variants.push({ ...launch, ...engine });
  }
  const bare = await idleProcessRss([
    "eval",
    "console.log('ready'); setInterval(() => {}, 1000)",
  ], 1);
  return { variants, bare: bare.rss };
}
