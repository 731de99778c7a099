// Crash safety: the engine runs as its own process and is SIGKILLed at random points of an apply; the
// next run must converge with no duplicated rule and nothing left over, every time.
import assert from "node:assert/strict";
import type { HostState, InterfaceSpec } from "../../src/core/host_state.ts";
import { memoryLogger } from "../../src/core/logger.ts";
import { realFs } from "../../src/core/ports/real.ts";
import { createEngine } from "../../src/node/reconcile/engine.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { keyPair, presharedKey } from "../support/netns_vpn.ts";

const ignore = skipUnlessRoot("engine crash-safety test");
const TRIALS = 30;
const CLI = new URL("../support/engine_cli.ts", import.meta.url).pathname;

function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

async function targets(): Promise<HostState[]> {
  const k0 = await keyPair();
  const k1 = await keyPair();
  const psk = await presharedKey();
  const peers = (n: number, base: number) =>
    Array.from({ length: n }, (_, i) => ({
      publicKey: randomKey(),
      allowedIps: [`10.60.${base}.${i + 2}/32`],
      ...(i === 0
        ? { presharedKey: psk, endpoint: `198.51.100.${50 + i}:51820`, persistentKeepalive: 25 }
        : {}),
    }));
  const wg0 = (extra: Partial<InterfaceSpec>): InterfaceSpec => ({
    name: "wg0",
    privateKey: k0.privateKey,
    addresses: ["10.60.0.1/24", "fd60::1/64"],
    listenPort: 51820,
    peers: peers(4, 0),
    routes: ["192.0.2.0/25"],
    forward: true,
    masquerade: true,
    ...extra,
  });
  const wg1: InterfaceSpec = {
    name: "wg1",
    privateKey: k1.privateKey,
    addresses: ["10.61.0.1/24"],
    listenPort: 51821,
    peers: peers(3, 1),
    routes: ["192.0.2.128/25", "2001:db8:61::/48"],
    forward: true,
    masquerade: false,
  };
  const fw = { ipv4: true, ipv6: true };
  return [
    { interfaces: [wg0({})], forwarding: fw },
    {
      interfaces: [wg0({ addresses: ["10.62.0.1/24"], mtu: 1380, peers: peers(2, 2), routes: [] }), wg1],
      forwarding: fw,
    },
    { interfaces: [wg1], forwarding: fw },
    { interfaces: [], forwarding: fw },
  ];
}

/** Runs the engine CLI to `desired`; with `killAfter`, SIGKILLs it right after its n-th command line. */
async function runCli(host: Host, dir: string, desired: HostState, killAfter?: number) {
  const desiredPath = `${dir}/desired-${crypto.randomUUID()}.json`;
  await Deno.writeTextFile(desiredPath, JSON.stringify(desired));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-check",
      CLI,
      "--enter",
      JSON.stringify(host.enterArgv),
      "--state",
      `${dir}/state.json`,
      "--desired",
      desiredPath,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let seen = 0;
  let killed = false;
  const errLines: string[] = [];
  const stderr = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        errLines.push(line);
        if (line.includes("[#] ") && ++seen === killAfter && !killed) {
          killed = true;
          child.kill("SIGKILL");
        }
      }
    }
  })();
  const stdout = new Response(child.stdout).text();
  const status = await child.status;
  await stderr;
  const out = await stdout;
  await Deno.remove(desiredPath);
  return { status, killed, out, errLines, seen };
}

async function checkHost(host: Host, desired: HostState, baseLinks: string[]) {
  const want = desired.interfaces.map((i) => i.name);
  const links = JSON.parse((await host.run(["ip", "-j", "link", "show"])).stdout) as { ifname: string }[];
  assert.deepEqual(
    links.map((l) => l.ifname).sort(),
    [...baseLinks, ...want].sort(),
    "exactly the desired interfaces",
  );
  for (const [tool, save] of [["iptables", "iptables-save"], ["ip6tables", "ip6tables-save"]] as const) {
    const text = (await host.run([save])).stdout;
    const jumps = text.split("\n").filter((l) => /^-A (FORWARD|POSTROUTING) -j WIREBUDDY-/.test(l));
    assert.equal(jumps.length, want.length > 0 ? 2 : 0, `${tool}: one jump per chain, no duplicate`);
    assert.match(
      text,
      /-A FORWARD -s (192\.0\.2\.66\/32|2001:db8:66::\/48) -j DROP/,
      `${tool}: foreign rule survives`,
    );
    const fwd = text.split("\n").filter((l) => l.startsWith("-A WIREBUDDY-FWD"));
    assert.equal(
      fwd.length,
      desired.interfaces.filter((i) => i.forward).length * 2,
      `${tool}: no duplicated rule`,
    );
  }
  const routes = (await host.run(["ip", "route", "show"])).stdout +
    (await host.run(["ip", "-6", "route", "show"])).stdout;
  for (const cidr of ["192.0.2.0/25", "192.0.2.128/25", "2001:db8:61::/48"]) {
    const wanted = desired.interfaces.some((i) => i.routes.includes(cidr));
    assert.equal(routes.includes(cidr), wanted, `route ${cidr} ${wanted ? "present" : "gone"}`);
  }
}

Deno.test({
  name: "engine: SIGKILL at random points of an apply, then a restart, converges every time",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-crash-" });
    try {
      await withWorld(async (world) => {
        const host = await world.host("crash", { wireguard: true });
        const inet = await world.host("inet");
        await world.link(host, "eth1", inet, "eth0", { a: ["203.0.113.1/24", "2001:db8:203::1/64"] });
        await host.run(["ip", "route", "add", "default", "dev", "eth1"]);
        await host.run(["ip", "-6", "route", "add", "default", "dev", "eth1"]);
        await host.run(["iptables", "-A", "FORWARD", "-s", "192.0.2.66/32", "-j", "DROP"]);
        await host.run(["ip6tables", "-A", "FORWARD", "-s", "2001:db8:66::/48", "-j", "DROP"]);
        const baseLinks = ["lo", "eth1"];
        const states = await targets();
        const pick = () => states[Math.floor(Math.random() * states.length)]!;
        let kills = 0;
        for (let trial = 0; trial < TRIALS; trial++) {
          const interrupted = pick();
          const killAfter = 1 + Math.floor(Math.random() * 12);
          const first = await runCli(host, dir, interrupted, killAfter);
          if (first.killed) kills++;
          else assert.equal(first.status.code, 0, `trial ${trial}: ${first.errLines.join("\n")}`);
          const target = Math.random() < 0.5 ? interrupted : pick();
          const second = await runCli(host, dir, target);
          assert.equal(
            second.status.code,
            0,
            `trial ${trial} restart failed:\n${second.errLines.join("\n")}`,
          );
          const engine = createEngine(
            { exec: host.exec, fs: realFs, log: memoryLogger() },
            { statePath: `${dir}/state.json`, wgImpl: "auto" },
          );
          const again = await engine.reconcileOnce(target);
          assert.ok(again.ok, again.error?.message ?? "");
          assert.equal(
            again.planned,
            0,
            `trial ${trial}: converged after the restart (killed after ${killAfter})`,
          );
          await checkHost(host, target, baseLinks);
        }
        assert.ok(kills >= TRIALS / 3, `most trials were actually killed mid-apply (${kills}/${TRIALS})`);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
