// A node's WireGuard key rotated with overlap while a client pings through it (issue 14, item 3), with
// real processes in network namespaces (test/support/cluster.ts): the master with its `local` node, node
// "frankfurt", a client pinging an internet host through frankfurt every 0.2 s. The rotation starts,
// frankfurt brings up wg0r with a key it made itself on port 52820 and announces it; the client installs
// its fresh config (wg setconf): replies to its connections follow the device they arrive on (a
// connection mark, a policy rule and a table of the engine's) and its route follows its handshake, so no
// ping is lost at the switch; the rotation finishes (no ping lost either): wg0 is gone, the marks too,
// the master's tunnel runs on the new key, and a stock wg client holding the old public key cannot
// complete a handshake.
import assert from "node:assert/strict";
import { Cluster, INTERNET_IP } from "../support/cluster.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [rotation_node_wg_test] ${line}`);
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
    "rotation: a node's WireGuard key rotates with an overlap device while the client pings; the old key is refused after",
  ignore: skipUnlessRoot("the node WireGuard key rotation end-to-end test"),
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
        const id = node.body.id;
        await c.startNode(fra, node.body.enrollment_token);
        const nodeView = async () =>
          (await c.api("GET", "/nodes")).body.nodes.find((x: { name: string }) => x.name === fra.name);
        await waitFor("frankfurt online with its key", async () => {
          const n = await nodeView();
          return n?.status === "online" && n.interfaces[0]?.public_key;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        const oldKey: string = (await nodeView()).interfaces[0].public_key;
        const tunnelAddress: string = (await nodeView()).interfaces[0].address.split("/")[0];
        const peer =
          (await c.api("POST", "/peers", { interface_id: iface.body.id, name: "laptop", node_id: id }))
            .body;
        // A second client that never connects: the rotation does not end by itself while it has not moved.
        const idle = await c.api("POST", "/peers", {
          interface_id: iface.body.id,
          name: "tablet",
          node_id: id,
        });
        assert.equal(idle.status, 201, JSON.stringify(idle.body));
        const wg = async (dev: string, what: string) =>
          (await fra.host.exec.run(["wg", "show", dev, what])).stdout.trim();
        await waitFor(
          "frankfurt serves the peer",
          async () => (await wg("wg0", "peers")).includes(peer.public_key),
          {
            timeoutMs: 20_000,
          },
        );
        const oldConf: string = (await c.api("GET", `/peers/${peer.id}/config`)).body;
        assert.match(oldConf, new RegExp(`PublicKey = ${oldKey.replace(/[+/]/g, "\\$&")}`));
        await c.clientUp(oldConf);
        await waitFor("the client pings through frankfurt", () => c.client.ping(INTERNET_IP), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });

        // API validation on the real master.
        assert.equal((await c.api("POST", "/nodes/9999/rotate-wireguard-key")).status, 404);
        assert.equal((await c.api("POST", `/nodes/${id}/rotate-wireguard-key/finish`)).status, 409);
        assert.equal((await c.api("POST", `/nodes/${local.id}/rotate-wireguard-key`)).status, 409);

        // Through frankfurt (forwarded: its replies come back from the internet host) and to frankfurt's
        // own tunnel address (its replies are the node's own packets).
        const pingArgv = (to: string) => ["ping", "-4", "-n", "-D", "-i", "0.2", "-W", "1", to];
        const pinging = c.client.exec.run(pingArgv(INTERNET_IP), { signal: stop.signal });
        const pingingNode = c.client.exec.run(pingArgv(tunnelAddress), { signal: stop.signal });
        const settle = () => new Promise((r) => setTimeout(r, 3_000)); // pings before and after, on the record
        await settle();

        // --- start: wg0r comes up with a new key on the alternate port, announced to the master ----------
        const started = await c.api("POST", `/nodes/${id}/rotate-wireguard-key`);
        assert.equal(started.status, 202, JSON.stringify(started.body));
        assert.equal((await c.api("POST", `/nodes/${id}/rotate-wireguard-key`)).status, 409, "one at a time");
        await waitFor("frankfurt runs wg0r", async () => (await wg("wg0r", "public-key")).length === 44, {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        const newKey = await wg("wg0r", "public-key");
        assert.notEqual(newKey, oldKey);
        assert.equal(await wg("wg0r", "listen-port"), "52820");
        assert.equal(await wg("wg0", "public-key"), oldKey, "the old device keeps its key meanwhile");
        await waitFor("the master accepted the new key", async () => {
          const s = (await c.api("GET", `/nodes/${id}/rotate-wireguard-key`)).body;
          return s.interfaces[0]?.next?.public_key === newKey;
        }, { timeoutMs: 20_000, intervalMs: 200 });
        const addr = (await fra.host.exec.run(["ip", "-4", "-o", "address", "show", "dev", "wg0r"])).stdout;
        assert.match(addr, new RegExp(`${tunnelAddress}/32`), "the next device has a host address only");

        // --- the client installs its fresh config -------------------------------------------------------
        await settle();
        const freshConf: string = (await c.api("GET", `/peers/${peer.id}/config`)).body;
        assert.ok(freshConf.includes(`PublicKey = ${newKey}`), freshConf);
        assert.ok(freshConf.includes(`Endpoint = ${fra.ip}:52820`), freshConf);
        const switchFrom = Date.now();
        await c.clientUp(freshConf);
        await waitFor("frankfurt routes the client through wg0r", async () => {
          const r = await fra.host.exec.run(["ip", "-4", "route", "show", "dev", "wg0r"]);
          return r.stdout.includes(peer.ipv4.split("/")[0]);
        }, { timeoutMs: 20_000, intervalMs: 100 });
        const switchTo = Date.now();
        for (const line of fra.proc!.output().split("\n").filter((l) => l.includes("client routes follow"))) {
          log(`frankfurt: ${line.trim()}`);
        }
        // While the overlap runs, replies follow the device a connection arrived on: our mangle chains,
        // one policy rule and our table routing the interface's subnet through wg0r.
        const mangle = (await fra.host.exec.run(["iptables-save", "-t", "mangle"])).stdout;
        assert.match(mangle, /-A PREROUTING -j WIREBUDDY-MARK\n/);
        assert.match(mangle, /-A WIREBUDDY-MARK -i wg0r -j CONNMARK --set-xmark 0x1000000\/0x1000000/);
        assert.match(mangle, /-A OUTPUT -j WIREBUDDY-MARKOUT/);
        const rules = (await fra.host.exec.run(["ip", "rule", "show"])).stdout;
        assert.match(rules, /^5150:\s+from all fwmark 0x1000000\/0x1000000 lookup 5150/m, rules);
        const table = (await fra.host.exec.run(["ip", "-4", "route", "show", "table", "5150"])).stdout;
        assert.match(table, /^10\.13\.13\.0\/24 dev wg0r/m, table);
        await waitFor("the master counts the moved client", async () => {
          const s = (await c.api("GET", `/nodes/${id}/rotate-wireguard-key`)).body;
          return s.clients_moved === 1 && s.running;
        }, { timeoutMs: 20_000, intervalMs: 200 });

        // --- finish: the old device and key go, the master's tunnel takes the new key --------------------
        await settle();
        const finishFrom = Date.now();
        const finished = await c.api("POST", `/nodes/${id}/rotate-wireguard-key/finish`);
        assert.equal(finished.status, 200, JSON.stringify(finished.body));
        assert.equal(finished.body.running, false);
        await waitFor(
          "frankfurt's wg0 is gone",
          async () => (await fra.host.exec.run(["ip", "link", "show", "wg0"])).code !== 0,
          {
            timeoutMs: 20_000,
            intervalMs: 100,
          },
        );
        await waitFor("wg0r holds the interface's address", async () => {
          const a = (await fra.host.exec.run(["ip", "-4", "-o", "address", "show", "dev", "wg0r"])).stdout;
          return a.includes(`${tunnelAddress}/24`);
        }, { timeoutMs: 20_000, intervalMs: 100 });
        const finishTo = Date.now();
        await waitFor("the finish removed the marks, the rule and the reply table's routes", async () => {
          const m = (await fra.host.exec.run(["iptables-save", "-t", "mangle"])).stdout;
          const r = (await fra.host.exec.run(["ip", "rule", "show"])).stdout;
          const t = await fra.host.exec.run(["ip", "-4", "route", "show", "table", "5150"]);
          return !m.includes("WIREBUDDY-MARK") && !r.includes("lookup 5150") && t.stdout.trim() === "";
        }, { timeoutMs: 20_000, intervalMs: 100 });
        await waitFor("the master's tunnel peer is the new key", async () => {
          const peers = (await c.master.exec.run(["wg", "show", "wg0", "peers"])).stdout;
          return peers.includes(newKey) && !peers.includes(oldKey);
        }, { timeoutMs: 20_000, intervalMs: 200 });
        await waitFor(
          "the master reaches frankfurt through the tunnel",
          async () => (await c.master.exec.run(["ping", "-c", "1", "-W", "1", tunnelAddress])).code === 0,
          {
            timeoutMs: 30_000,
            intervalMs: 500,
          },
        );
        await waitFor("frankfurt online with the new key", async () => {
          const n = await nodeView();
          return n?.status === "online" && n.interfaces[0]?.public_key === newKey;
        }, { timeoutMs: 30_000, intervalMs: 250 });
        await settle();
        stop.abort();
        const tally = (what: string, got: { seq: number; at: number }[]) => {
          assert.ok(got.length > 40, `pings ${what} were answered (${got.length})`);
          let lost = 0;
          let gap = 0;
          for (let i = 1; i < got.length; i++) {
            lost += got[i]!.seq - got[i - 1]!.seq - 1;
            gap = Math.max(gap, got[i]!.at - got[i - 1]!.at);
            if (got[i]!.seq - got[i - 1]!.seq > 1) {
              const at = got[i - 1]!.at;
              log(
                `${what}: lost ${got[i]!.seq - got[i - 1]!.seq - 1} after seq ${got[i - 1]!.seq}: ${
                  Math.round(at - switchFrom)
                } ms after the client's install, ${Math.round(at - finishFrom)} ms after the finish`,
              );
            }
          }
          log(`${what}: ${got.length} pings answered, ${lost} lost, longest gap ${Math.round(gap)} ms`);
          return { lost, gap };
        };
        const forwarded = tally("to the internet host", answers((await pinging).stdout));
        const own = tally("to frankfurt's tunnel address", answers((await pingingNode).stdout));
        log(
          `the client's switch took ${switchTo - switchFrom} ms (install to route), the finish ${
            finishTo - finishFrom
          } ms`,
        );
        // None lost at the client's switch nor at the finish: the reply to the client's first packet on
        // the new key already leaves through wg0r (the connection mark), not after the node's next look.
        for (const [what, { lost, gap }] of [["forwarded", forwarded], ["the node's own", own]] as const) {
          assert.equal(lost, 0, `${what}: ${lost} pings lost`);
          assert.ok(gap < 1_000, `${what}: longest gap ${Math.round(gap)} ms`);
        }

        // --- the old key is refused: a stock wg client holding it cannot complete a handshake -------------
        const withOld = async (endpointPort: number) => {
          const conf = oldConf.replace(/^Endpoint = .*$/m, `Endpoint = ${fra.ip}:${endpointPort}`);
          await c.clientUp(conf);
          await c.client.exec.run(["ping", "-4", "-c", "6", "-i", "0.5", "-W", "1", INTERNET_IP]);
          const hs = (await c.client.run(["wg", "show", "wg0", "latest-handshakes"])).stdout.trim();
          return Number(hs.split(/\s+/)[1] ?? 0);
        };
        assert.equal(await withOld(51820), 0, "no handshake with the old key on the old port");
        assert.equal(await withOld(52820), 0, "no handshake with the old key on the new port");
        await c.clientUp(freshConf);
        await waitFor("the fresh config still works", () => c.client.ping(INTERNET_IP), {
          timeoutMs: 20_000,
          intervalMs: 200,
        });

        const audit = JSON.stringify((await c.api("GET", "/audit?action=node.rotate_wireguard_key")).body);
        assert.ok(audit.includes("node.rotate_wireguard_key"), audit.slice(0, 300));
        const auditFinish = JSON.stringify(
          (await c.api("GET", "/audit?action=node.rotate_wireguard_key.finish")).body,
        );
        assert.ok(auditFinish.includes("node.rotate_wireguard_key.finish"), auditFinish.slice(0, 300));
      } finally {
        stop.abort();
        await c.stopAll();
      }
    });
  },
});
