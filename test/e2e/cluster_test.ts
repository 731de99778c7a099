// The multi-node promise, end to end with real processes inside network namespaces: a master (with its
// own `local` node and a DNS responder), two nodes "frankfurt" and "tokyo", a client and an internet
// host. Enrollment from tokens, a client through a node's NAT, DNS through the tunnel with the real
// client address, moving a peer between nodes, and the faults: master down, node rebooted while the
// master is down, node killed, an old token, and metrics across a master restart, counted.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CLIENT_IP, Cluster, INTERNET_IP, startDeno } from "../support/cluster.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { runProgram, withDeadline } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";
import { webhookSignature } from "../../src/master/service/webhooks.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name:
    "cluster: enroll two nodes, serve a client through frankfurt then tokyo, DNS through the tunnel, survive faults",
  ignore: skipUnlessRoot("the cluster end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["frankfurt", "tokyo"]);
      const [fra, tyo] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
      const logs = () =>
        [["master", c.masterProc], ["local", c.localNode], ["frankfurt", fra.proc], ["tokyo", tyo.proc]]
          .map(([n, p]) => `---- ${n}\n${(p as { output(): string } | null)?.output().slice(-3000) ?? ""}`)
          .join("\n");
      try {
        await c.bootstrapAdmin();
        await c.startMaster();
        await c.startDns();
        // Alerts go to a real HTTP server, signed with this secret.
        const hooks = await c.startWebhookReceiver();
        const hook = await c.api("POST", "/webhooks", { name: "ops", url: hooks.url, secret: HOOK_SECRET });
        assert.equal(hook.status, 201, JSON.stringify(hook.body));

        // An interface on the master, whose address is also the clients' resolver.
        const iface = await c.api("POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
          listen_port: 51820,
          dns: "10.13.13.1",
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));

        // The master's own data plane through its `local` node.
        const nodes = (await c.api("GET", "/nodes")).body.nodes;
        const local = nodes.find((n: { local: boolean }) => n.local);
        const localToken = (await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token;
        await c.startLocalNode(localToken);

        // Two nodes from tokens.
        const made: Record<string, { id: number; enrollment_token: string }> = {};
        for (const n of [fra, tyo]) {
          const r = await c.api("POST", "/nodes", { name: n.name, fqdn: n.ip, wg_port: 51820 });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          made[n.name] = r.body;
          await c.startNode(n, r.body.enrollment_token);
        }
        const allOnline = async () => {
          const list = (await c.api("GET", "/nodes")).body.nodes as {
            name: string;
            status: string;
            interfaces: { public_key: string | null }[];
          }[];
          return list.filter((n) => ["frankfurt", "tokyo"].includes(n.name)).every((n) =>
            n.status === "online" && n.interfaces[0]?.public_key
          );
        };
        await waitFor("both nodes online with their keys reported", allOnline, {
          timeoutMs: 60_000,
          intervalMs: 250,
        });
        for (const n of [fra, tyo]) {
          const out = n.proc!.output();
          assert.match(out, /NODE_DAEMON starting enrollment with master/);
          assert.match(out, new RegExp(`NODE_DAEMON enrollment successful, node_id=${made[n.name]!.id}`));
          assert.match(out, /NODE_DAEMON starting sync loop \(interval=1s\)/);
          assert.match(out, /NODE_DAEMON heartbeat sent \(status=online\)/);
          assert.match(out, /NODE_DAEMON config applied \(version=\d+/);
        }

        // A peer on frankfurt: the client brings up its downloaded config and reaches the internet via NAT.
        const peer = (await c.api("POST", "/peers", {
          interface_id: iface.body.id,
          name: "laptop",
          node_id: made.frankfurt!.id,
        })).body;
        const conf1 = await c.api("GET", `/peers/${peer.id}/config`);
        assert.equal(conf1.status, 200, String(conf1.body));
        assert.match(conf1.body, new RegExp(`Endpoint = ${fra.ip}:51820`));
        await waitFor(
          "frankfurt to serve the peer",
          async () =>
            (await fra.host.exec.run(["wg", "show", "wg0", "peers"])).stdout.includes(peer.public_key),
          { timeoutMs: 20_000 },
        );
        await c.clientUp(conf1.body);
        await waitFor(
          "the client to ping the internet through frankfurt",
          () => c.client.ping(INTERNET_IP),
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const fraKey = (await fra.host.run(["wg", "show", "wg0", "public-key"])).stdout.trim();
        assert.ok((await c.handshakeAge(c.client, fraKey)) !== null, "handshake with frankfurt");

        // DNS crosses the tunnel to the master, which sees the client's tunnel address.
        const answer = await waitFor(
          "a DNS answer through the tunnel",
          async () => {
            const q = await startDeno(c.client, [
              `${ROOT}test/support/dns_query.ts`,
              "10.13.13.1",
              "example.com",
            ]);
            const s = await q.status;
            return s.code === 0 ? q.output().trim() : null;
          },
          { timeoutMs: 30_000, intervalMs: 500 },
        );
        assert.equal(answer, "192.0.2.53");
        assert.ok(c.dns!.output().includes(`"from":"${peer.ipv4.replace("/32", "")}"`), c.dns!.output());
        assert.ok(!c.dns!.output().includes(`"from":"${fra.ip}"`), "not NATed to the node's address");

        // Move the peer to tokyo: the new config works and frankfurt removed it.
        const moved = await c.api("PATCH", `/peers/${peer.id}`, { node_id: made.tokyo!.id });
        assert.equal(moved.status, 200);
        await waitFor(
          "frankfurt to drop the peer",
          async () =>
            !(await fra.host.exec.run(["wg", "show", "wg0", "peers"])).stdout.includes(peer.public_key),
          { timeoutMs: 20_000 },
        );
        const conf2 = (await c.api("GET", `/peers/${peer.id}/config`)).body;
        assert.match(conf2, new RegExp(`Endpoint = ${tyo.ip}:51820`));
        await c.clientUp(conf2);
        await waitFor(
          "the client to ping the internet through tokyo",
          () => c.client.ping(INTERNET_IP),
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const tyoKey = (await tyo.host.run(["wg", "show", "wg0", "public-key"])).stdout.trim();
        assert.ok((await c.handshakeAge(c.client, tyoKey)) !== null, "handshake with tokyo");

        // Fault: the master stops; the client's traffic keeps flowing.
        // Nodes are long-polling: the master must answer them at once, not hold its shutdown for their wait.
        await withDeadline(c.stopMaster(), 10_000, "the master to stop");
        await c.localNode?.stop("SIGTERM");
        for (let i = 0; i < 5; i++) {
          assert.ok(await c.client.ping(INTERNET_IP), `ping ${i} with the master down`);
        }

        // Fault: tokyo "reboots" while the master is down: process killed, interface gone, then started again.
        await tyo.proc!.stop("SIGKILL");
        await tyo.host.run(["ip", "link", "del", "wg0"]);
        assert.equal(await c.client.ping(INTERNET_IP), false, "traffic stops with tokyo's interface gone");
        // (Its periodic repair is slowed down, so a hand-deleted interface stays deleted for the health check below.)
        await c.startNode(tyo, null, { WIREBUDDY_RECONCILE_INTERVAL: "10m" });
        await waitFor(
          "traffic back from tokyo's last good config",
          () => c.client.ping(INTERNET_IP),
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        assert.match(tyo.proc!.output(), /applied the last good config/);
        assert.match(tyo.proc!.output(), /master unreachable/);

        // Metrics queue up while the master is down; after its restart every sample arrives exactly once.
        await waitFor("tokyo to queue samples", () => queuedSeq(tyo.dataDir) > 5, {
          timeoutMs: 20_000,
          intervalMs: 250,
        });
        await c.startMaster();
        await waitFor("tokyo's queue to drain", () => queueSize(tyo.dataDir) === 0, {
          timeoutMs: 30_000,
          intervalMs: 250,
        });
        const lastSeq = queuedSeq(tyo.dataDir);
        const db = new DatabaseSync(`${c.dir}/master/wirebuddy.db`, { readOnly: true });
        try {
          const row = db.prepare("SELECT last_metric_seq AS s FROM nodes WHERE id = ?").get(
            made.tokyo!.id,
          ) as { s: number };
          const stored = db.prepare("SELECT count(*) AS n FROM peer_metrics WHERE node_id = ?").get(
            made.tokyo!.id,
          ) as { n: number };
          assert.ok(row.s >= lastSeq, `master acked up to ${row.s}, node queued up to ${lastSeq}`);
          assert.equal(
            stored.n,
            row.s,
            "every sample exactly once: stored rows equal the sequence numbers sent",
          );
        } finally {
          db.close();
        }
        assert.match(tyo.proc!.output(), /ACK received: deleted \d+ metrics \(up to seq \d+\)/);

        await fleetHealth(c, hooks, made);

        // Fault: frankfurt is killed; the master shows it offline within the (4 s) stale window.
        await fra.proc!.stop("SIGKILL");
        await waitFor(
          "frankfurt offline",
          async () => {
            const list = (await c.api("GET", "/nodes")).body.nodes as { name: string; status: string }[];
            return list.find((n) => n.name === "frankfurt")?.status === "offline";
          },
          { timeoutMs: 15_000, intervalMs: 250 },
        );

        // An old token, after a new one was made, is refused by a real node process.
        const fresh = await c.api("POST", `/nodes/${made.frankfurt!.id}/token`);
        assert.equal(fresh.status, 200);
        const stale = await c.startNode(
          { ...fra, dataDir: `${c.dir}/fra-again` },
          made.frankfurt!.enrollment_token,
        );
        const status = await stale.status;
        assert.equal(status.code, 78, stale.output());
        assert.match(stale.output(), /already used or replaced/);
      } catch (err) {
        // deno-lint-ignore no-console
        console.error(logs());
        throw err;
      } finally {
        await c.stopAll();
        await Deno.remove(c.dir, { recursive: true }).catch(() => {});
      }
    });
  },
});

const HOOK_SECRET = "webhook-secret-0123456789";

type Hooks = Awaited<ReturnType<Cluster["startWebhookReceiver"]>>;
type NodeStatusJson = { id: number; name: string; status: string; last_seen: string | null };

async function nodeNamed(c: Cluster, name: string): Promise<NodeStatusJson> {
  const list = (await c.api("GET", "/nodes")).body.nodes as NodeStatusJson[];
  return list.find((n) => n.name === name)!;
}

/**
 * Distinct events of one type for one node, derived at or after `since` (ms), that the receiver got with a
 * valid signature (retries of one event count once).
 */
async function signedEvents(hooks: Hooks, type: string, node: string, since = 0): Promise<string[]> {
  const ids = new Set<string>();
  for (const r of hooks.received()) {
    const body = JSON.parse(r.body);
    if (r.event !== type || body.node?.name !== node || Date.parse(body.at) < since) continue;
    assert.equal(r.signature, await webhookSignature(HOOK_SECRET, Number(r.timestamp), r.body), "signature");
    assert.equal(body.id, r.event_id);
    ids.add(r.event_id!);
  }
  return [...ids];
}

/**
 * Fleet health, end to end: a node stopped and started gives exactly one node.down and one node.up
 * (signed); "Check now" answers with a latency; a node whose WireGuard interface is deleted by hand while
 * its daemon heartbeats is not online; /metrics passes promtool and shows a peer's stored counters; a
 * master restart while deliveries are queued loses none of them.
 */
async function fleetHealth(c: Cluster, hooks: Hooks, made: Record<string, { id: number }>): Promise<void> {
  const [fra, tyo] = c.nodes as [Cluster["nodes"][0], Cluster["nodes"][0]];
  const online = (name: string) => async () => (await nodeNamed(c, name)).status === "online";
  await waitFor(
    "both nodes online after the master's restart",
    async () => await online("frankfurt")() && await online("tokyo")(),
    { timeoutMs: 30_000, intervalMs: 250 },
  );

  // What an operator types first on the node (the daemon rewrites its status file every interval).
  let st = { code: -1, output: "" };
  await waitFor("wirebuddy-node status to report frankfurt well", async () => {
    st = await runProgram("node", ["status"], { WIREBUDDY_NODE_DATA_DIR: fra.dataDir });
    return st.code === 0;
  }, { timeoutMs: 15_000, intervalMs: 500 }).catch(() => {});
  assert.equal(st.code, 0, st.output);
  assert.match(st.output, new RegExp(`Enrollment:\\s+node ${made.frankfurt!.id} "frankfurt"`));
  assert.match(st.output, /Master:\s+https:\/\/198\.51\.100\.1:8443/);
  assert.match(st.output, /Config:\s+applied v\d+/);
  assert.match(st.output, /Interfaces:\s+wg0 10\.13\.13\.\d+\/24: \d+ peers?/);
  assert.match(st.output, /Last error:\s+none/);

  // Stopped, then started: one node.down, one node.up, each signed.
  const base = Date.now();
  await fra.proc!.stop("SIGTERM");
  await waitFor(
    "a node.down for frankfurt",
    async () => (await signedEvents(hooks, "node.down", "frankfurt", base)).length > 0,
    { timeoutMs: 20_000, intervalMs: 250 },
  );
  await c.startNode(fra, null);
  await waitFor(
    "a node.up for frankfurt",
    async () => (await signedEvents(hooks, "node.up", "frankfurt", base)).length > 0,
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  // Settled: three passing checks in a row after it came back (no flapping).
  await waitFor("three passing checks of frankfurt", async () => {
    const h = (await c.api("GET", `/nodes/${made.frankfurt!.id}/health`)).body;
    return h.checks.length >= 3 && h.checks.slice(0, 3).every((x: { ok: boolean }) => x.ok);
  }, { timeoutMs: 30_000, intervalMs: 250 });
  assert.equal(
    (await signedEvents(hooks, "node.down", "frankfurt", base)).length,
    1,
    "exactly one node.down",
  );
  assert.equal((await signedEvents(hooks, "node.up", "frankfurt", base)).length, 1, "exactly one node.up");
  assert.equal((await nodeNamed(c, "frankfurt")).status, "online");

  // Check now: the result and its timing, through the tunnel.
  const check = await c.api("POST", `/nodes/${made.frankfurt!.id}/check`);
  assert.equal(check.status, 200, JSON.stringify(check.body));
  assert.equal(check.body.ok, true, JSON.stringify(check.body));
  assert.equal(typeof check.body.latency_ms, "number");

  // The receiver refuses for a while: deliveries queue up in the outbox.
  await Deno.writeTextFile(hooks.statusFile, "503");

  // tokyo's WireGuard interface deleted by hand: its daemon keeps heartbeating, its tunnel does not answer.
  await tyo.host.run(["ip", "link", "del", "wg0"]);
  await waitFor("tokyo reported not online", async () => (await nodeNamed(c, "tokyo")).status !== "online", {
    timeoutMs: 20_000,
    intervalMs: 250,
  });
  const t = await nodeNamed(c, "tokyo");
  assert.equal(t.status, "offline");
  await waitFor("tokyo heartbeating while offline", async () => {
    const n = await nodeNamed(c, "tokyo");
    return n.status === "offline" && Date.now() - Date.parse(n.last_seen!) < 2_500;
  }, { timeoutMs: 10_000, intervalMs: 250 });

  // /metrics: promtool accepts a scrape, and the laptop's counters equal its newest stored sample.
  const scrape = await waitFor("a scrape whose peer counters equal the stored samples", async () => {
    const m = await c.api("GET", "/../metrics");
    assert.equal(m.status, 200, String(m.body));
    const text = String(m.body);
    const stored = newestSample(c, "laptop");
    const rx = text.match(
      /^wirebuddy_peer_rx_bytes_total\{peer="laptop",interface="wg0",node="tokyo"[^}]*\} (\d+)$/m,
    );
    const tx = text.match(
      /^wirebuddy_peer_tx_bytes_total\{peer="laptop",interface="wg0",node="tokyo"[^}]*\} (\d+)$/m,
    );
    return stored && rx && tx && Number(rx[1]) === stored.rx && Number(tx[1]) === stored.tx &&
        stored.rx > 0 &&
        stored.tx > 0
      ? text
      : null;
  }, { timeoutMs: 20_000, intervalMs: 500 });
  assert.match(scrape, /^wirebuddy_node_up\{node="tokyo"\} 0$/m);
  assert.match(scrape, /^wirebuddy_node_up\{node="frankfurt"\} 1$/m);
  const promtool = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const w = promtool.stdin.getWriter();
  await w.write(new TextEncoder().encode(scrape));
  await w.close();
  const checked = await promtool.output();
  const said = new TextDecoder().decode(checked.stdout) + new TextDecoder().decode(checked.stderr);
  assert.equal(checked.code, 0, `promtool check metrics:\n${said}`);

  // A master restart with deliveries queued loses none of them.
  await waitFor(
    "tokyo's node.down refused once by the receiver",
    () =>
      hooks.received().some((r) =>
        r.event === "node.down" && r.status === 503 && JSON.parse(r.body).node?.name === "tokyo"
      ),
    {
      timeoutMs: 20_000,
      intervalMs: 250,
    },
  );
  const queued = pendingEventIds(c);
  assert.ok(queued.length > 0, "deliveries are queued");
  await c.stopMaster();
  await Deno.writeTextFile(hooks.statusFile, "200");
  await c.startMaster();
  const accepted = () => new Set(hooks.received().filter((r) => r.status === 200).map((r) => r.event_id));
  // Received with a 200, and then (once the answer is back at the master) no longer pending in its outbox.
  await waitFor(
    "every queued delivery delivered after the restart",
    () => queued.every((id) => accepted().has(id)) && !pendingEventIds(c).some((id) => queued.includes(id)),
    { timeoutMs: 30_000, intervalMs: 250 },
  ).catch(() => {});
  assert.deepEqual(
    queued.filter((id) => !accepted().has(id)),
    [],
    "every queued delivery reached the receiver",
  );
  assert.deepEqual(pendingEventIds(c).filter((id) => queued.includes(id)), [], "and none is left pending");
}

function masterDb(c: Cluster): DatabaseSync {
  return new DatabaseSync(`${c.dir}/master/wirebuddy.db`, { readOnly: true });
}

function newestSample(c: Cluster, peer: string): { rx: number; tx: number } | undefined {
  const db = masterDb(c);
  try {
    return db.prepare(
      `SELECT m.rx, m.tx FROM peer_metrics m JOIN peers p ON p.public_key = m.public_key
       WHERE p.name = ? AND m.resolution = 0 ORDER BY m.at DESC LIMIT 1`,
    ).get(peer) as { rx: number; tx: number } | undefined;
  } finally {
    db.close();
  }
}

function pendingEventIds(c: Cluster): string[] {
  const db = masterDb(c);
  try {
    return (db.prepare(
      `SELECT e.uid FROM webhook_deliveries d JOIN fleet_events e ON e.id = d.event_id WHERE d.state = 'pending'`,
    ).all() as { uid: string }[]).map((r) => r.uid);
  } finally {
    db.close();
  }
}

function queueDb(dir: string): DatabaseSync {
  return new DatabaseSync(`${dir}/metrics_queue.db`, { readOnly: true });
}

function queuedSeq(dir: string): number {
  try {
    const db = queueDb(dir);
    try {
      return Number(
        (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").get() as
          | { seq: number }
          | undefined)?.seq ?? 0,
      );
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

function queueSize(dir: string): number {
  const db = queueDb(dir);
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM queue").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

export { CLIENT_IP };
