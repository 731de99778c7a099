// Faults a drill on real machines found (issue 17), replayed with real processes in the namespace
// cluster: a master, its local node, nodes "frankfurt" and "tokyo". Short intervals: heartbeat 2 s,
// backoff capped at 20 s, requests given up after 3 s. One test per fault, each in its own cluster:
//   - 200 peers created through the API do not trip the master's own sync rate limit (120/min)   (item 8)
//   - a full disk on frankfurt plus a config change: it keeps running and serving, reports "disk full"
//     and saves the config once there is room again                                              (item 2)
//   - a master outage longer than the backoff cap: every node is online and current within one
//     heartbeat interval (plus margin) of the master's return                                    (item 5)
//   - a 30 s partition of frankfurt while one of its peers moves to tokyo: it logs the lost contact
//     once and drops the peer within seconds of the heal                                         (item 6)
import assert from "node:assert/strict";
import { Cluster, type NodeHost } from "../support/cluster.ts";
import { skipUnlessRoot, withWorld } from "../support/netns.ts";
import { withDeadline } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const HEARTBEAT_MS = 2_000;
const FAULT_ENV = {
  WIREBUDDY_HEARTBEAT_INTERVAL: "2s",
  WIREBUDDY_METRICS_INTERVAL: "2s",
  WIREBUDDY_RECONCILE_INTERVAL: "3s",
  WIREBUDDY_CONFIG_WAIT: "10s",
  WIREBUDDY_REQUEST_TIMEOUT: "3s",
  WIREBUDDY_BACKOFF_MIN: "500ms",
  WIREBUDDY_BACKOFF_MAX: "20s",
};

type NodeJson = {
  id: number;
  name: string;
  local: boolean;
  status: string;
  last_error: string | null;
  config_version: number;
  applied_version: number;
  interfaces: { public_key: string | null }[];
};

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [cluster_faults] ${line}`);
};

const count = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l)).length;

type Setup = {
  c: Cluster;
  fra: NodeHost;
  tyo: NodeHost;
  ifaceId: number;
  made: Record<string, number>;
  nodes: () => Promise<NodeJson[]>;
  peersOf: (n: NodeHost) => Promise<string[]>;
  peer: (name: string, node: string) => Promise<{ id: number; public_key: string }>;
};

const current = (n: NodeJson) => n.status === "online" && n.applied_version === n.config_version;

/** A cluster with the master at its default sync rate limit, its local node, frankfurt and tokyo, online. */
function clusterTest(name: string, body: (s: Setup) => Promise<void>) {
  Deno.test({
    name,
    ignore: skipUnlessRoot("the cluster faults test"),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withWorld(async (world) => {
        const c = await Cluster.build(world, ["frankfurt", "tokyo"]);
        const [fra, tyo] = c.nodes as [NodeHost, NodeHost];
        c.masterOverrides = { WIREBUDDY_SYNC_RATE_LIMIT: "120" }; // the default: the limiter under test
        const nodes = async () => (await c.api("GET", "/nodes")).body.nodes as NodeJson[];
        const peersOf = async (n: NodeHost) =>
          (await n.host.exec.run(["wg", "show", "wg0", "peers"])).stdout.split("\n").filter(Boolean);
        try {
          await c.bootstrapAdmin();
          await c.startMaster();
          const iface = await c.api("POST", "/interfaces", {
            name: "wg0",
            ipv4_pool: "10.13.0.0/16",
            listen_port: 51820,
          });
          assert.equal(iface.status, 201, JSON.stringify(iface.body));
          const local = (await nodes()).find((n) => n.local)!;
          const localToken = (await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token;
          await c.startLocalNode(localToken, FAULT_ENV);
          // Frankfurt keeps its data on a small disk of its own (a tmpfs in its mount namespace).
          await fra.host.run(["mkdir", "-p", fra.dataDir]);
          await fra.host.run([
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=32m,mode=0700",
            "wbt-nodedata",
            fra.dataDir,
          ]);
          const made: Record<string, number> = {};
          for (const n of [fra, tyo]) {
            const r = await c.api("POST", "/nodes", { name: n.name, fqdn: n.ip, wg_port: 51820 });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            made[n.name] = r.body.id;
            await c.startNode(n, r.body.enrollment_token, FAULT_ENV);
          }
          await waitFor("every node online with its keys", async () => {
            const list = await nodes();
            return list.length === 3 &&
              list.every((n) => current(n) && (n.local || n.interfaces[0]?.public_key));
          }, { timeoutMs: 60_000, intervalMs: 250 });
          const peer = async (name: string, node: string) => {
            const r = await c.api("POST", "/peers", {
              interface_id: iface.body.id,
              name,
              node_id: made[node],
            });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            return r.body as { id: number; public_key: string };
          };
          await body({ c, fra, tyo, ifaceId: iface.body.id, made, nodes, peersOf, peer });
        } catch (err) {
          // deno-lint-ignore no-console
          console.error(
            [["master", c.masterProc], ["local", c.localNode], ["frankfurt", fra.proc], ["tokyo", tyo.proc]]
              .map(([n, p]) =>
                `---- ${n}\n${(p as { output(): string } | null)?.output().slice(-4000) ?? ""}`
              )
              .join("\n"),
          );
          throw err;
        } finally {
          await c.stopAll();
          await Deno.remove(c.dir, { recursive: true }).catch(() => {});
        }
      });
    },
  });
}

clusterTest(
  "cluster: 200 peers created through the API do not trip the master's own sync rate limit (item 8)",
  async (s) => {
    const t0 = Date.now();
    const bulk: string[] = [];
    for (let i = 0; i < 200; i++) bulk.push((await s.peer(`bulk-${i}`, "frankfurt")).public_key);
    await waitFor("frankfurt serving all 200", async () => {
      const served = new Set(await s.peersOf(s.fra));
      return bulk.every((k) => served.has(k));
    }, { timeoutMs: 60_000, intervalMs: 250 });
    await waitFor("every node current", async () => (await s.nodes()).every(current), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    log(`200 peers created and served in ${Date.now() - t0} ms`);
    for (
      const [name, p] of [["local", s.c.localNode], ["frankfurt", s.fra.proc], ["tokyo", s.tyo.proc]] as const
    ) {
      assert.doesNotMatch(p!.output(), /Too many sync requests|HTTP 429/, `${name} was rate limited`);
    }
  },
);

clusterTest(
  "cluster: a node whose disk fills up keeps serving its new config and reports 'disk full', without a restart (item 2)",
  async (s) => {
    const { fra } = s;
    let exited = false;
    fra.proc!.status.then(() => (exited = true));
    await fra.host.exec.run(["dd", "if=/dev/zero", `of=${fra.dataDir}/fill`, "bs=1M", "count=64"]);
    const df = (await fra.host.run(["df", "--output=avail", fra.dataDir])).stdout;
    assert.match(df, /^\s*0\s*$/m, `the disk is full: ${df}`);
    const late = await s.peer("after-the-disk-filled", "frankfurt");
    await waitFor(
      "frankfurt serving the new peer",
      async () => (await s.peersOf(fra)).includes(late.public_key),
      {
        timeoutMs: 20_000,
      },
    );
    const full = await waitFor("'disk full' on the master", async () => {
      const n = (await s.nodes()).find((x) => x.name === "frankfurt")!;
      return n.status === "error" && /disk full/.test(n.last_error ?? "") ? n.last_error : null;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    log(`frankfurt reports: ${full}`);
    assert.match(full, /disk full: cannot save the config \(version \d+\)/);
    assert.equal(exited, false, "the daemon keeps running");
    assert.equal(count(fra.proc!.output(), /starting sync loop/), 1, "no restart");
    assert.doesNotMatch(fra.proc!.output(), /applied the last good config/);
    await fra.host.run(["rm", `${fra.dataDir}/fill`]);
    await waitFor("frankfurt online again", async () => {
      const n = (await s.nodes()).find((x) => x.name === "frankfurt")!;
      return n.status === "online" && n.last_error === null;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const saved = (await fra.host.run(["cat", `${fra.dataDir}/last-config.json`])).stdout;
    assert.ok(saved.includes(late.public_key), "the config is saved once there is room");
  },
);

clusterTest(
  "cluster: after a master outage longer than the backoff cap every node is online and current within one heartbeat interval (item 5)",
  async (s) => {
    const { c } = s;
    await withDeadline(c.stopMaster(), 10_000, "the master to stop");
    const down = Date.now();
    await waitFor("an outage longer than the 20 s backoff cap", () => Date.now() - down >= 25_000, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    await c.startMaster();
    const back = Date.now();
    for (const n of ["frankfurt", "tokyo"]) await s.peer(`after-the-outage-${n}`, n);
    await waitFor("every node online and current", async () => (await s.nodes()).every(current), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const recovery = Date.now() - back;
    log(
      `after a ${Math.round((back - down) / 1000)} s outage: every node online and current ${recovery} ms ` +
        "after the master's return",
    );
    assert.ok(
      recovery <= HEARTBEAT_MS + 5_000,
      `${recovery} ms: more than one heartbeat interval and a margin`,
    );
  },
);

clusterTest(
  "cluster: a partitioned node logs the lost contact once and drops a moved peer within seconds of the heal (item 6)",
  async (s) => {
    const { c, fra, tyo } = s;
    const moved = await s.peer("moving", "frankfurt");
    await waitFor(
      "frankfurt serving the peer",
      async () => (await s.peersOf(fra)).includes(moved.public_key),
    );
    const lostBefore = count(fra.proc!.output(), /lost contact with the master/);
    await c.partition(fra, true);
    const cut = Date.now();
    assert.equal((await c.api("PATCH", `/peers/${moved.id}`, { node_id: s.made.tokyo })).status, 200);
    await waitFor(
      "tokyo serving the moved peer",
      async () => (await s.peersOf(tyo)).includes(moved.public_key),
      {
        timeoutMs: 20_000,
      },
    );
    await waitFor(
      "frankfurt to notice",
      () => count(fra.proc!.output(), /lost contact with the master/) > lostBefore,
      { timeoutMs: 20_000 },
    );
    await waitFor("a 30 s partition", () => Date.now() - cut >= 30_000, {
      timeoutMs: 40_000,
      intervalMs: 500,
    });
    assert.ok((await s.peersOf(fra)).includes(moved.public_key), "cut off, frankfurt still serves it");
    await c.partition(fra, false);
    const healed = Date.now();
    await waitFor(
      "frankfurt to drop the moved peer",
      async () => !(await s.peersOf(fra)).includes(moved.public_key),
      {
        timeoutMs: 90_000,
        intervalMs: 100,
      },
    );
    const converged = Date.now() - healed;
    log(`partition healed: frankfurt converged ${converged} ms later`);
    const out = fra.proc!.output();
    assert.equal(count(out, /lost contact with the master/), lostBefore + 1, "said once, not per retry");
    assert.match(out, /lost contact with the master: .*no answer from the master within 3s/);
    assert.match(out, /contact with the master restored after \d+s/);
    assert.ok(converged <= 10_000, `converged ${converged} ms after the heal`);
  },
);
