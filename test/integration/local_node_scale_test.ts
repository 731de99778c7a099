// The master's own data plane at fleet size (issue 17, item 1): a node with 10,000 clients. The master's
// `local` node peers with that node over its tunnel, with every client address as allowed IPs (so DNS
// answers reach the real client addresses). The master renders its config from a real database, the
// node side takes it through the sync schema, and the real engine applies it to wireguard-go in a
// network namespace; `wg show wg0 allowed-ips` must list exactly those 10,001 addresses, and one more
// client must change that one peer with one command.
import assert from "node:assert/strict";
import { memoryLogger } from "../../src/core/logger.ts";
import { hostStateFromNodeConfig } from "../../src/core/node_config.ts";
import { realFs } from "../../src/core/ports/real.ts";
import { ConfigResponseSchema } from "../../src/core/sync.ts";
import { generateKeyPair } from "../../src/core/wg_keys.ts";
import { createEngine } from "../../src/node/reconcile/engine.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { testMaster } from "../support/master.ts";
import { enrolled, sendHeartbeat } from "../support/signed_node.ts";

const CLIENTS = 10_000;

/** The allowed IPs `wg show` lists for one peer. */
async function allowedIpsOf(host: Host, publicKey: string): Promise<string[]> {
  const out = (await host.run(["wg", "show", "wg0", "allowed-ips"])).stdout;
  const line = out.split("\n").find((l) => l.startsWith(`${publicKey}\t`));
  return line ? line.split("\t")[1]!.trim().split(/\s+/) : [];
}

const sorted = (xs: string[]) => [...xs].sort();

Deno.test({
  name:
    "the master's own node peers with a 10,000-client node: its tunnel peer carries all 10,000 addresses and wg show matches",
  ignore: skipUnlessRoot("the local node scale test"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const m = await testMaster();
    const dir = await Deno.makeTempDir({ prefix: "wbt-scale-" });
    try {
      const token = await m.token("write");
      const iface = await (await m.api("/interfaces", {
        method: "POST",
        token,
        json: { name: "wg0", ipv4_pool: "10.20.0.0/16", listen_port: 51820, dns: "10.20.0.1" },
      })).json();
      const tokyo = await enrolled(m, "tokyo");
      const tokyoKey = (await generateKeyPair()).publicKey;
      const beat = await sendHeartbeat(m, tokyo, {
        interfaces: [{ name: "wg0", public_key: tokyoKey, listen_port: 51820, peers: CLIENTS }],
      });
      assert.equal(beat.res.status, 200, beat.text);

      // 10,000 clients on tokyo (rows as the peers service writes them; keys need only be distinct).
      const base = (await generateKeyPair()).publicKey;
      const clientKey = (i: number) =>
        btoa(
          String.fromCharCode(
            ...new Uint8Array(32).map((_, j) => j < 4 ? (i >> (8 * j)) & 255 : base.charCodeAt(j)),
          ),
        );
      const address = (i: number) => `10.20.${Math.floor(i / 250) + 1}.${(i % 250) + 2}/32`;
      const insert = (i: number) =>
        m.db.run(
          `INSERT INTO peers (interface_id, node_id, name, public_key, ipv4, routing, created_at, updated_at)
           VALUES (:iface, :node, :name, :key, :ip, 'full', 1, 1)`,
          { iface: iface.id, node: tokyo.node.id, name: `client-${i}`, key: clientKey(i), ip: address(i) },
        );
      m.db.tx(() => {
        for (let i = 0; i < CLIENTS; i++) insert(i);
      });

      const local = m.services.nodes.list().find((n) => n.isLocal)!;
      const tunnel = m.services.nodes.get(tokyo.node.id).interfaces[0]!.address;
      /** The local node's config as the node takes it: JSON over the wire, then the sync schema. */
      const desired = async () => {
        const wire = JSON.stringify({ kind: "config", config: await m.services.sync.config(local.id) });
        const parsed = ConfigResponseSchema.parse(JSON.parse(wire));
        assert.equal(parsed.kind, "config");
        return hostStateFromNodeConfig(parsed.kind === "config" ? parsed.config : null!, {});
      };
      const first = await desired();
      const nodePeer = first.interfaces[0]!.peers.find((p) => p.publicKey === tokyoKey)!;
      assert.equal(nodePeer.allowedIps.length, CLIENTS + 1, "tokyo's tunnel address and its 10,000 clients");

      await withWorld(async (world) => {
        const host = await world.host("mst", { wireguard: true });
        const log = memoryLogger("info");
        const engine = createEngine(
          { exec: host.exec, fs: realFs, log },
          { statePath: `${dir}/dataplane.json`, wgImpl: "userspace" },
        );
        const t0 = performance.now();
        const r = await engine.reconcileOnce(first);
        const ms = Math.round(performance.now() - t0);
        assert.ok(r.ok, r.error?.message.slice(0, 500) ?? "");
        const expected = [tunnel, ...Array.from({ length: CLIENTS }, (_, i) => address(i))];
        const shown = await allowedIpsOf(host, tokyoKey);
        assert.equal(shown.length, CLIENTS + 1);
        assert.deepEqual(sorted(shown), sorted(expected));
        // deno-lint-ignore no-console
        console.log(
          `  applied the 10,001-address node peer in ${ms} ms; wg show lists ${shown.length} addresses`,
        );

        // One more client on tokyo: one command for that one peer, and wg show follows.
        insert(CLIENTS);
        log.lines.length = 0;
        const second = await engine.reconcileOnce(await desired());
        assert.ok(second.ok, second.error?.message.slice(0, 500) ?? "");
        assert.equal(second.commands, 1);
        assert.deepEqual(log.lines.filter((l) => l.includes("[#]")), ["<6>[#] wg addconf wg0 /dev/stdin"]);
        assert.deepEqual(sorted(await allowedIpsOf(host, tokyoKey)), sorted([...expected, address(CLIENTS)]));
        const idle = await engine.reconcileOnce(await desired());
        assert.deepEqual([idle.planned, idle.commands], [0, 0], "then nothing to do");
      });
    } finally {
      m.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
