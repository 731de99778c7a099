// The engine's incremental path against real wireguard-go in a network namespace (root): peer changes
// applied through the UAPI socket without reading the host, and a hand edit repaired by the full observe
// that comes once the drift interval has passed.
import assert from "node:assert/strict";
import type { HostState, PeerSpec } from "../../src/core/host_state.ts";
import { memoryLogger } from "../../src/core/logger.ts";
import type { Exec } from "../../src/core/ports/types.ts";
import { realFs, realUnixRequest } from "../../src/core/ports/real.ts";
import { parseWgDump } from "../../src/node/drivers/wg.ts";
import { socketUapi } from "../../src/node/drivers/uapi.ts";
import { createEngine } from "../../src/node/reconcile/engine.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";
import { keyPair, presharedKey } from "../support/netns_vpn.ts";

const ignore = skipUnlessRoot("engine incremental tests");
const DRIFT_MS = 3_000;

/** The engine's Exec, counting the commands that read the host (observe). */
function counting(exec: Exec) {
  const reads: string[] = [];
  const counted: Exec = {
    run(argv, options) {
      const line = argv.join(" ");
      if (/^(wg show|ip -j|ip -\d -j|iptables-save|ip6tables-save|sysctl)/.test(line)) reads.push(line);
      return exec.run(argv, options);
    },
  };
  return { exec: counted, reads };
}

async function wg0(host: Host) {
  return parseWgDump((await host.run(["wg", "show", "all", "dump"])).stdout).get("wg0")!;
}

Deno.test({
  name: "engine: peer changes go through the UAPI socket without observing (20,000 allowed IPs too); " +
    "a peer removed by hand is restored within the drift interval",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-incremental-" });
    try {
      await withWorld(async (world) => {
        const host = await world.host("inc", { wireguard: true });
        const server = await keyPair();
        const peers: PeerSpec[] = [];
        for (let i = 0; i < 3; i++) {
          peers.push({ publicKey: (await keyPair()).publicKey, allowedIps: [`10.60.0.${i + 2}/32`] });
        }
        const desired = (ps: PeerSpec[]): HostState => ({
          interfaces: [{
            name: "wg0",
            privateKey: server.privateKey,
            addresses: ["10.60.0.1/24"],
            listenPort: 51820,
            peers: ps,
            routes: [],
            forward: true,
            masquerade: false,
          }],
          forwarding: { ipv4: true, ipv6: false },
        });
        const log = memoryLogger("info");
        const { exec, reads } = counting(host.exec);
        const engine = createEngine({
          exec,
          fs: realFs,
          log,
          // The host's private mount namespace holds wireguard-go's sockets.
          uapi: socketUapi(realUnixRequest, `/proc/${host.holder!.pid}/root/run/wireguard`),
        }, { statePath: `${dir}/dataplane.json`, wgImpl: "userspace", driftIntervalMs: DRIFT_MS });

        const cold = await engine.reconcileOnce(desired(peers));
        assert.ok(cold.ok, cold.error?.message ?? "");
        assert.ok(
          log.lines.some((l) =>
            l.includes("[#] uapi wg0 set private-key [redacted] listen-port 51820 <3 peers>")
          ),
          "the new interface is configured through its socket",
        );
        const settled = await engine.reconcileOnce(desired(peers));
        assert.deepEqual([settled.ok, settled.commands, settled.observed], [true, 0, true]);

        // A node peer on a master carries every client's address: 20,000 of them, through the socket.
        const big: PeerSpec = {
          publicKey: (await keyPair()).publicKey,
          allowedIps: Array.from(
            { length: 20_000 },
            (_, i) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`,
          ),
        };
        const withBig = [...peers, big];
        const readsBefore = reads.length;
        const added = await engine.reconcileOnce(desired(withBig));
        assert.deepEqual(
          [added.ok, added.commands, added.observed],
          [true, 1, false],
          added.error?.message ?? "",
        );
        assert.deepEqual(reads.slice(readsBefore), [], "an incremental apply reads nothing from the host");
        assert.equal((await wg0(host)).peers.get(big.publicKey)?.allowedIps.length, 20_000);
        assert.ok(
          log.lines.some((l) =>
            l.includes(`[#] uapi wg0 set peer ${big.publicKey} allowed-ips <20000 entries>`)
          ),
        );
        const changed = withBig.map((
          p,
          i,
        ) => (i === 1 ? { ...p, allowedIps: [...p.allowedIps, "10.61.0.0/24"] } : p));
        const one = await engine.reconcileOnce(desired(changed));
        assert.deepEqual([one.ok, one.commands, one.observed], [true, 1, false]);
        assert.deepEqual((await wg0(host)).peers.get(peers[1]!.publicKey)?.allowedIps, [
          "10.60.0.3/32",
          "10.61.0.0/24",
        ]);

        // A preshared key, an endpoint and keepalive through the socket; then taken away again. Each time
        // an engine that reads the host (no drift interval) finds nothing to do: UAPI and `wg` agree.
        const psk = await presharedKey();
        const full = createEngine({ exec: host.exec, fs: realFs, log: memoryLogger("info") }, {
          statePath: `${dir}/dataplane.json`,
          wgImpl: "userspace",
        });
        const extras = changed.map((p, i) =>
          i === 2 ? { ...p, presharedKey: psk, endpoint: "192.0.2.9:51820", persistentKeepalive: 25 } : p
        );
        const plain = changed.map((p, i) => (i === 2 ? { ...p, persistentKeepalive: 0 } : p));
        for (const [what, ps] of [["set", extras], ["cleared", plain]] as const) {
          const r = await engine.reconcileOnce(desired(ps));
          assert.deepEqual(
            [r.ok, r.commands, r.observed],
            [true, 1, false],
            `${what}: ${r.error?.message ?? ""}`,
          );
          const peer = (await wg0(host)).peers.get(peers[2]!.publicKey)!;
          assert.equal(peer.presharedKey, what === "set" ? psk : null);
          assert.equal(peer.persistentKeepalive, what === "set" ? 25 : 0);
          assert.equal(peer.endpoint, "192.0.2.9:51820", "an endpoint no longer desired stays as it is");
          const check = await full.reconcileOnce(desired(ps));
          assert.deepEqual(
            [check.ok, check.planned, check.observed],
            [true, 0, true],
            `${what}: the full plan is []`,
          );
        }
        assert.ok(!log.lines.some((l) => l.includes(psk)), "the preshared key is never logged");
        const final = plain;

        // By hand, behind the engine's back; the reconcile loop keeps ticking with the same config.
        // First a full tick, so the drift interval starts now (the steps above may have taken a while).
        await waitFor("a full tick", async () => {
          const r = await engine.reconcileOnce(desired(final));
          assert.ok(r.ok && r.commands === 0, r.error?.message ?? `ran ${r.commands} commands`);
          return r.observed;
        }, { timeoutMs: DRIFT_MS + 10_000, intervalMs: 200 });
        const victim = peers[0]!.publicKey;
        const removedAt = Date.now();
        await host.run(["wg", "set", "wg0", "peer", victim, "remove"]);
        const ticks: { observed?: boolean; commands: number }[] = [];
        await waitFor("the peer removed by hand to be restored", async () => {
          const r = await engine.reconcileOnce(desired(final));
          assert.ok(r.ok, r.error?.message ?? "");
          ticks.push({ ...(r.observed !== undefined ? { observed: r.observed } : {}), commands: r.commands });
          return (await wg0(host)).peers.has(victim);
        }, { timeoutMs: DRIFT_MS + 10_000, intervalMs: 200 });
        const restoredAfter = Date.now() - removedAt;
        assert.ok(restoredAfter < DRIFT_MS + 5_000, `restored after ${restoredAfter} ms`);
        assert.deepEqual(ticks.at(-1), { observed: true, commands: 1 }, "a full observe restored it");
        assert.ok(
          ticks.slice(0, -1).every((t) => t.observed === false && t.commands === 0),
          "until the drift interval passed, ticks neither read the host nor ran a command",
        );
        assert.ok(ticks.length > 1, "there were incremental ticks before the full one");
        assert.deepEqual((await wg0(host)).peers.get(victim)?.allowedIps, ["10.60.0.2/32"]);
        for (const line of log.lines) {
          assert.ok(!line.includes(server.privateKey), "no private key in the log");
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
