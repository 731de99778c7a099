// deno-lint-ignore-file no-console
// Benchmark behind scripts/bench-apply (root): one WireGuard interface with 10,000 peers in a network
// namespace. Prints our cold apply against raw `wg setconf` of the same peers (plus the same interface
// creation, address and up, as wg-quick would do), and our one-peer change (observe included) against a
// raw `wg set` of that peer, as ratios of medians measured side by side in one run.
import type { HostState } from "../src/core/host_state.ts";
import { memoryLogger } from "../src/core/logger.ts";
import { realFs } from "../src/core/ports/real.ts";
import { createEngine } from "../src/node/reconcile/engine.ts";
import { renderPeersConfig } from "../src/node/drivers/wg.ts";
import { type Host, withWorld } from "../test/support/netns.ts";
import { waitFor } from "../test/support/wait.ts";
import { keyPair } from "../test/support/netns_vpn.ts";

const PEERS = Number(Deno.env.get("BENCH_PEERS") ?? 10_000);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 3);

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
      const engine = createEngine({ exec: host.exec, fs: realFs, log: memoryLogger("warn") }, {
        statePath: `${dir}/state-${round}.json`,
        wgImpl: "auto",
      });
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

    // One peer changed: our full tick (observe + plan + apply) against a raw `wg set` of that peer.
    const engine = createEngine({ exec: host.exec, fs: realFs, log: memoryLogger("warn") }, {
      statePath: `${dir}/state-${ROUNDS - 1}.json`,
      wgImpl: "auto",
    });
    const noop = await engine.reconcileOnce(desired("wg0"));
    if (!noop.ok || noop.commands !== 0) {
      throw new Error("the interface is not converged before the one-peer test");
    }
    const oneOurs: number[] = [];
    const oneRaw: number[] = [];
    const observeOnly: number[] = [];
    const target = PEERS >> 1;
    for (let i = 0; i < 7; i++) {
      const changed = peers.map((
        p,
        j,
      ) => (j === target ? { ...p, allowedIps: [...p.allowedIps, `10.99.${i}.0/24`] } : p));
      oneOurs.push(
        await timed(async () => {
          const r = await engine.reconcileOnce(desired("wg0", changed));
          if (!r.ok || r.commands !== 1) throw new Error(`expected one command, got ${r.commands}`);
        }),
      );
      // The same change by hand (a peer's allowed IPs set to what we just set): the host stays converged.
      oneRaw.push(
        await timed(() =>
          host.run([
            "wg",
            "set",
            "wg0",
            "peer",
            peers[target]!.publicKey,
            "allowed-ips",
            changed[target]!.allowedIps.join(","),
          ])
        ),
      );
      observeOnly.push(
        await timed(async () => {
          const r = await engine.reconcileOnce(desired("wg0", changed));
          if (!r.ok || r.commands !== 0) throw new Error("the no-op tick ran a command");
        }),
      );
    }
    const c = { ours: median(ours), raw: median(raw) };
    const o = { ours: median(oneOurs), raw: median(oneRaw) };
    const f = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log(
      `peers: ${PEERS}, wireguard-go in a network namespace, medians of ${ROUNDS} cold and 7 one-peer runs`,
    );
    console.log(
      `cold apply:  ours ${f(c.ours)}  vs raw wireguard-go + wg setconf + ip addr + up ${f(c.raw)}  ratio ${
        (c.ours / c.raw).toFixed(2)
      }x (goal <= 1.3x)`,
    );
    console.log(
      `one peer:    ours ${f(o.ours)} (observe + plan + apply)  vs raw wg set ${f(o.raw)}  ratio ${
        (o.ours / o.raw).toFixed(2)
      }x (goal <= 1.5x)`,
    );
    console.log(
      `no-op tick with ${PEERS} peers (observe + plan only, for reference): ${f(median(observeOnly))}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
