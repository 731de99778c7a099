// Credential rotation with a client pinging throughout (issue 14, item 3), with real processes in network
// namespaces: a master with its `local` node, node "frankfurt", a client pinging an internet host through
// frankfurt every 0.2 s. A peer's PSK is rotated, then its keys; the client installs each fresh config as
// soon as frankfurt serves it. Counted: pings lost per rotation; checked: frankfurt no longer knows the old
// key and the new credentials are the ones in use.
import assert from "node:assert/strict";
import { Cluster, INTERNET_IP } from "../support/cluster.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [rotation_test] ${line}`);
};

/** Answered ping sequence numbers and their times, from `ping -D` output. */
function answers(out: string): { seq: number; at: number }[] {
  return [...out.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+)/gm)].map((m) => ({
    seq: Number(m[2]),
    at: Number(m[1]) * 1000,
  }));
}

Deno.test({
  name:
    "rotation: a peer's PSK and then its keys rotate while the client pings; the old key is gone from the node",
  ignore: skipUnlessRoot("the rotation end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt"]);
      const [fra] = c.nodes as [typeof c.nodes[0]];
      const stop = new AbortController();
      try {
        await c.bootstrapAdmin();
        await c.startMaster();
        const iface = await c.api("POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
          listen_port: 51820,
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));
        const local = (await c.api("GET", "/nodes")).body.nodes.find((n: { local: boolean }) => n.local);
        await c.startLocalNode((await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token);
        const node = await c.api("POST", "/nodes", { name: fra.name, fqdn: fra.ip, wg_port: 51820 });
        assert.equal(node.status, 201, JSON.stringify(node.body));
        await c.startNode(fra, node.body.enrollment_token);
        await waitFor("frankfurt online with its key", async () => {
          const n = (await c.api("GET", "/nodes")).body.nodes.find((x: { name: string }) =>
            x.name === fra.name
          );
          return n?.status === "online" && n.interfaces[0]?.public_key;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        const peer = (await c.api("POST", "/peers", {
          interface_id: iface.body.id,
          name: "laptop",
          node_id: node.body.id,
        }))
          .body;
        const wg = async (what: string) => (await fra.host.exec.run(["wg", "show", "wg0", what])).stdout;
        await waitFor(
          "frankfurt serves the peer",
          async () => (await wg("peers")).includes(peer.public_key),
          {
            timeoutMs: 20_000,
          },
        );
        await c.clientUp((await c.api("GET", `/peers/${peer.id}/config`)).body);
        await waitFor("the client pings through frankfurt", () => c.client.ping(INTERNET_IP), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });

        const pinging = c.client.exec.run(["ping", "-4", "-n", "-D", "-i", "0.2", "-W", "1", INTERNET_IP], {
          signal: stop.signal,
        });
        const windows: { what: string; from: number; to: number }[] = [];
        const settle = () => new Promise((r) => setTimeout(r, 3_000)); // pings before and after, on the record

        // --- the PSK ---------------------------------------------------------------------------------
        await settle();
        const pskBefore = await wg("preshared-keys");
        let from = Date.now();
        const psk = await c.api("POST", `/peers/${peer.id}/rotate`, { keys: false });
        assert.equal(psk.status, 200, JSON.stringify(psk.body));
        await waitFor("frankfurt takes the new PSK", async () => (await wg("preshared-keys")) !== pskBefore, {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        await c.clientUp((await c.api("GET", `/peers/${peer.id}/config`)).body);
        windows.push({ what: "PSK", from, to: Date.now() });
        const clientPsk = (await c.client.run(["wg", "show", "wg0", "preshared-keys"])).stdout;
        const nodePsk = (await wg("preshared-keys")).split("\n").find((l) => l.startsWith(peer.public_key));
        assert.equal(
          clientPsk.trim().split(/\s+/)[1],
          nodePsk?.split(/\s+/)[1],
          "client and node share the new PSK",
        );

        // --- the keys --------------------------------------------------------------------------------
        await settle();
        from = Date.now();
        const rotated = await c.api("POST", `/peers/${peer.id}/rotate`, {});
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
        assert.notEqual(rotated.body.public_key, peer.public_key);
        await waitFor(
          "frankfurt serves the new key",
          async () => (await wg("peers")).includes(rotated.body.public_key),
          {
            timeoutMs: 20_000,
            intervalMs: 100,
          },
        );
        await c.clientUp((await c.api("GET", `/peers/${peer.id}/config`)).body);
        windows.push({ what: "keys", from, to: Date.now() });
        await waitFor("a handshake with the new key", async () => {
          const hs = (await wg("latest-handshakes")).split("\n").find((l) =>
            l.startsWith(rotated.body.public_key)
          );
          return Number(hs?.split(/\s+/)[1] ?? 0) > 0;
        }, { timeoutMs: 20_000, intervalMs: 200 });
        assert.ok(!(await wg("peers")).includes(peer.public_key), "frankfurt no longer knows the old key");
        await settle();
        stop.abort();
        const got = answers((await pinging).stdout);
        assert.ok(got.length > 30, "pings were answered");

        // Lost pings per rotation: sequence numbers missing between the last answer before it and the first
        // answer after its window.
        for (const w of windows) {
          const before = got.filter((a) => a.at < w.from).pop()!;
          const after = got.find((a) => a.at > w.to)!;
          const inside = got.filter((a) => a.seq > before.seq && a.seq < after.seq).length;
          const lost = after.seq - before.seq - 1 - inside;
          let gap = 0;
          for (const a of got.filter((a) => a.seq >= before.seq && a.seq <= after.seq)) {
            gap = Math.max(gap, a.at - (got[got.indexOf(a) - 1]?.at ?? a.at));
          }
          log(
            `${w.what} rotation: ${lost} pings lost, longest gap ${Math.round(gap)} ms, took ${
              w.to - w.from
            } ms`,
          );
          // PSK: the node changes it in place and keeps its session, but the client reinstalls its whole
          // config as stock apps do (`wg setconf` replaces its peer, dropping its session): a ping sent or
          // answered in that instant is lost before the client's new handshake. One is that handshake (the
          // issue's "0 lost pings beyond one handshake"); a CI run on an otherwise idle machine lost one
          // (gap 402 ms, the client's install took 227 ms). The keys: a new peer on both sides.
          assert.ok(lost <= (w.what === "PSK" ? 1 : 5), `${w.what}: ${lost} pings lost`);
        }
        const audit = (await c.api("GET", "/audit?action=peer.rotate")).body;
        assert.ok(JSON.stringify(audit).includes("peer.rotate"), JSON.stringify(audit).slice(0, 300));
      } finally {
        stop.abort();
        await c.stopAll();
      }
    });
  },
});
