// Failover pools end to end (issue 11), with real processes in network namespaces: the master (its
// `local` node, a DNS responder), two nodes "alpha" and "beta", a stock wg client and an internet host.
// A VRRP pool of the two nodes is made through the master's API (floating address 198.51.100.50 on the
// LAN, announced by the keepalived each node runs), one client peer on it, and the client pings the
// internet host through the pool with its downloaded config, never changed:
// - 10 trials: the serving node is killed (every process in its namespace by pid: node, wireguard-go,
//   keepalived; its LAN port cut) → the pings resume through the other member; the longest gap of each
//   trial is printed, with the median and the max. The killed node comes back between trials (a
//   reboot: its addresses gone, the node started again from its data dir).
// - drain: 0 pings lost beyond the handover gap, the drained node ends with no client session.
// - after the move the client's DNS query reaches the master's resolver with its own tunnel address.
// - the client's traffic across the drain's move: the peer's chart (its totals) and /metrics count both
//   members' bytes once, as each member's `wg show` counted them; the client's own counters agree.
// - a member removed through the API: the pool's key is rotated, the remaining member runs the new key,
//   the removed node has no pool device and no keepalived left; the re-downloaded config works again.
import assert from "node:assert/strict";
import { Cluster, INTERNET_IP, MASTER_IP, type NodeHost, startDeno } from "../support/cluster.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const VIP = "198.51.100.50";
const POOL_PORT = 51900;
const TRIALS = 10;

/** Every process in a WireGuard host's private mount namespace but its holder (node, wireguard-go, keepalived). */
async function processesIn(host: Host): Promise<{ pid: number; name: string }[]> {
  const out: { pid: number; name: string }[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === host.holder!.pid) continue;
    try {
      if ((await Deno.readLink(`/proc/${e.name}/ns/mnt`)) !== host.holder!.mntInode) continue;
      const name = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
      out.push({ pid: Number(e.name), name });
    } catch { /* gone */ }
  }
  return out;
}

const hasVip = async (host: Host) =>
  (await host.exec.run(["ip", "-j", "-4", "address", "show", "dev", "eth0"])).stdout.includes(`"${VIP}"`);

/** `ping -D -i 0.1` from the client: each reply's time, and the longest gap between replies. */
class Pinger {
  readonly #child: Deno.ChildProcess;
  #out = "";
  readonly #done: Promise<void>;
  constructor(host: Host, target: string) {
    const child = new Deno.Command(host.enterArgv[0]!, {
      args: [...host.enterArgv.slice(1), "ping", "-n", "-D", "-i", "0.1", "-W", "1", target],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).spawn();
    this.#child = child;
    this.#done = (async () => {
      const d = new TextDecoder();
      for await (const c of child.stdout) this.#out += d.decode(c, { stream: true });
    })();
  }
  replies(): { at: number; seq: number }[] {
    return [...this.#out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)].map((m) => ({
      at: Number(m[1]) * 1000,
      seq: Number(m[2]),
    }));
  }
  /** Replies received after `since` (ms since the epoch). */
  repliesSince(since: number): number {
    return this.replies().filter((r) => r.at >= since).length;
  }
  async stop(): Promise<{ gapMs: number; lost: number; sent: number }> {
    try {
      this.#child.kill("SIGINT");
    } catch { /* gone */ }
    await this.#child.status;
    await this.#done;
    const r = this.replies();
    let gapMs = 0;
    for (let i = 1; i < r.length; i++) gapMs = Math.max(gapMs, r[i]!.at - r[i - 1]!.at);
    const sent = r.length === 0 ? 0 : r.at(-1)!.seq - r[0]!.seq + 1;
    return { gapMs, lost: sent - r.length, sent };
  }
}

type Bytes = { rx: number; tx: number };
const POOL_DEV = "edge";

/** A peer's counters in `wg show <dev> transfer` (null: no such device or peer). */
async function transferOf(host: Host, dev: string, key: string): Promise<Bytes | null> {
  const r = await host.exec.run(["wg", "show", dev, "transfer"]);
  if (r.code !== 0) return null;
  for (const line of r.stdout.split("\n")) {
    const [k, rx, tx] = line.trim().split(/\s+/);
    if (k === key) return { rx: Number(rx), tx: Number(tx) };
  }
  return null;
}

/**
 * Each member's bytes for the client from its own `wg show`, read every 100 ms: what each counted since
 * the watch began, adding a counter that went down from zero (a takeover re-adds the peer), as the
 * master does; `last` is each member's newest reading (kept after its peer is gone).
 */
class TransferWatch {
  readonly last = new Map<string, Bytes>();
  readonly counted = new Map<string, Bytes>();
  #stopped = false;
  readonly #done: Promise<void>;
  constructor(readonly members: NodeHost[], readonly key: string) {
    this.#done = (async () => {
      while (!this.#stopped) {
        await this.poll();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }
  async poll(): Promise<void> {
    for (const n of this.members) {
      const now = await transferOf(n.host, POOL_DEV, this.key);
      if (!now) continue;
      const before = this.last.get(n.name);
      const c = this.counted.get(n.name) ?? { rx: 0, tx: 0 };
      if (before) {
        c.rx += now.rx >= before.rx ? now.rx - before.rx : now.rx;
        c.tx += now.tx >= before.tx ? now.tx - before.tx : now.tx;
      }
      this.counted.set(n.name, c);
      this.last.set(n.name, now);
    }
  }
  /** The members' newest readings added up (what /metrics sums: each member's latest counters). */
  lastSum(): Bytes {
    const l = [...this.last.values()];
    return { rx: l.reduce((a, b) => a + b.rx, 0), tx: l.reduce((a, b) => a + b.tx, 0) };
  }
  countedSum(): Bytes {
    const l = [...this.counted.values()];
    return { rx: l.reduce((a, b) => a + b.rx, 0), tx: l.reduce((a, b) => a + b.tx, 0) };
  }
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

Deno.test({
  name:
    "pool failover: the client's pings resume through the other member when the serving one dies (10 trials), drain moves it without loss, DNS follows",
  ignore: skipUnlessRoot("the pool failover end-to-end test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const c = await Cluster.build(world, ["alpha", "beta"]);
      const pingers: Pinger[] = [];
      const watches: TransferWatch[] = [];
      // When a program ends (and how), for the failure report.
      const ended: string[] = [];
      const watch = (name: string, p: { status: Promise<Deno.CommandStatus> } | null) =>
        p?.status.then((s) =>
          ended.push(`${name} ended ${new Date().toISOString()} code=${s.code} signal=${s.signal}`)
        );
      const logs = () =>
        [["master", c.masterProc], ["alpha", c.nodes[0]!.proc], ["beta", c.nodes[1]!.proc]]
          .map(([n, p]) => {
            const lines = ((p as { output(): string } | null)?.output() ?? "").split("\n")
              .filter((l) => !/heartbeat sent|ACK received|Sending gratuitous ARP/.test(l));
            return `---- ${n}\n${lines.slice(-60).join("\n")}`;
          }).concat(ended)
          .join("\n");
      try {
        await c.bootstrapAdmin();
        await c.startMaster();
        watch("master", c.masterProc);
        await c.startDns();
        const iface = await c.api("POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
          listen_port: 51820,
          dns: ["10.13.13.1"],
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));
        const local = (await c.api("GET", "/nodes")).body.nodes.find((n: { local: boolean }) => n.local);
        await c.startLocalNode((await c.api("POST", `/nodes/${local.id}/token`)).body.enrollment_token);
        watch("local", c.localNode);
        const ids = new Map<NodeHost, number>();
        for (const n of c.nodes) {
          const r = await c.api("POST", "/nodes", { name: n.name, fqdn: n.ip, wg_port: 51820 });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          ids.set(n, r.body.id);
          watch(
            n.name,
            await c.startNode(n, r.body.enrollment_token, { WIREBUDDY_RECONCILE_INTERVAL: "1s" }),
          );
        }
        await waitFor("both nodes online", async () => {
          const list = (await c.api("GET", "/nodes")).body.nodes as { name: string; status: string }[];
          return list.filter((n) => ["alpha", "beta"].includes(n.name)).every((n) => n.status === "online");
        }, { timeoutMs: 60_000, intervalMs: 250 });

        // The pool, through the API: its own CIDR and port, the floating address on the nodes' LAN.
        const made = await c.api("POST", "/pools", {
          name: "edge",
          ipv4_pool: "10.77.0.0/24",
          listen_port: POOL_PORT,
          dns: ["10.13.13.1"],
          announce: { kind: "vrrp", address: `${VIP}/24`, vrid: 77, advert_ms: 200, link: null },
        });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const poolId = made.body.id as number;
        const poolPub = made.body.public_key as string;
        for (const [n, priority] of [[c.nodes[0]!, 200], [c.nodes[1]!, 100]] as const) {
          const r = await c.api("POST", `/pools/${poolId}/members`, { node_id: ids.get(n), priority });
          assert.equal(r.status, 201, JSON.stringify(r.body));
        }
        const peer = (await c.api("POST", "/peers", { interface_id: poolId, name: "roaming phone" })).body;
        assert.ok(peer.id, JSON.stringify(peer));
        const conf = (await c.api("GET", `/peers/${peer.id}/config`)).body as string;
        assert.match(conf, new RegExp(`Endpoint = ${VIP.replaceAll(".", "\\.")}:${POOL_PORT}`), conf);
        const clientKey = conf.match(/PrivateKey = (\S+)/)![1]!;
        const clientPub = (await c.client.run(["wg", "pubkey"], { stdin: clientKey + "\n" })).stdout.trim();
        const tunnelIp = String(peer.ipv4).replace(/\/32$/, "");

        /** The client's counters on /metrics: each member's latest sample, summed. */
        const metricsBytes = async (): Promise<Bytes | null> => {
          const r = await c.master.exec.run([
            "curl",
            "-sk",
            "-H",
            `Authorization: Bearer ${c.token}`,
            "https://127.0.0.1:8443/metrics",
          ]);
          const value = (name: string) =>
            r.stdout.split("\n").find((l) =>
              l.startsWith(`${name}{`) && l.includes(`public_key="${clientPub}"`)
            )
              ?.split(" ").at(-1);
          const [rx, tx] = [value("wirebuddy_peer_rx_bytes_total"), value("wirebuddy_peer_tx_bytes_total")];
          return rx === undefined || tx === undefined ? null : { rx: Number(rx), tx: Number(tx) };
        };
        /**
         * The totals under the client's traffic chart (/ui/peers/{id}/traffic, last hour), as the admin sees
         * them; null while it has no rate yet ("No traffic samples yet ...").
         */
        let cookie = "";
        const chartBytes = async (): Promise<Bytes | null> => {
          if (!cookie) {
            const login = await c.master.exec.run([
              "curl",
              "-sk",
              "-o",
              "/dev/null",
              "-D",
              "-",
              "-H",
              `Origin: https://${MASTER_IP}:8443`,
              "--data-urlencode",
              "username=root",
              "--data-urlencode",
              "password@-",
              "https://127.0.0.1:8443/login",
            ], { stdin: "a good long password" });
            cookie = [...login.stdout.matchAll(/^set-cookie:\s*([^=;\s]+=[^;\s]*)/gim)].map((m) => m[1]).join(
              "; ",
            );
            assert.match(cookie, /__Host-wb_session=/, login.stdout);
          }
          const page = await c.master.exec.run([
            "curl",
            "-sk",
            "-H",
            `Cookie: ${cookie}`,
            `https://127.0.0.1:8443/ui/peers/${peer.id}/traffic?range=1h`,
          ]);
          const total = (dir: string) => {
            const m = page.stdout.match(
              new RegExp(`class="key ${dir}"></span>[^<]*<strong>([\\d.]+) (B|KiB|MiB|GiB)</strong>`),
            );
            return m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : null;
          };
          const [rx, tx] = [total("rx"), total("tx")];
          if (rx !== null && tx !== null) return { rx, tx };
          assert.match(page.stdout, /No traffic samples yet/, "the chart's totals");
          return null;
        };

        await waitFor("alpha to hold the floating address", () => hasVip(c.nodes[0]!.host), {
          timeoutMs: 60_000,
          intervalMs: 200,
        });
        await c.clientUp(conf);
        await waitFor(
          "the client to ping the internet host through the pool",
          () => c.client.ping(INTERNET_IP),
          {
            timeoutMs: 30_000,
            intervalMs: 200,
          },
        );

        /** Whether a member's last config lists the client in its pool's handover (its endpoint, for the takeover). */
        const knowsClient = async (n: NodeHost) => {
          const saved = JSON.parse(await Deno.readTextFile(`${n.dataDir}/last-config.json`));
          return String(saved.body).includes(`"handover":[{"public_key":"${clientPub}"`);
        };
        /** The member holding the floating address, once the client's pings flow again through it. */
        const settled = async (what: string) =>
          await waitFor(what, async () => {
            const holders = [];
            for (const n of c.nodes) if (n.proc && await hasVip(n.host)) holders.push(n);
            if (holders.length !== 1) return null;
            return (await c.client.ping(INTERNET_IP)) ? holders[0]! : null;
          }, { timeoutMs: 60_000, intervalMs: 200 });

        // --- failover, 10 trials ---------------------------------------------------------------------
        const gaps: number[] = [];
        for (let trial = 1; trial <= TRIALS; trial++) {
          const serving = await settled(`trial ${trial}: a settled pool`);
          const other = c.nodes.find((n) => n !== serving)!;
          // The other member knows where the client is (the handover list in its config): the takeover.
          await waitFor(
            `trial ${trial}: ${other.name}'s config to carry the client's endpoint`,
            () => knowsClient(other),
            { timeoutMs: 30_000, intervalMs: 200 },
          );
          const pinger = new Pinger(c.client, INTERNET_IP);
          pingers.push(pinger);
          await waitFor("the pinger's first replies", () => pinger.repliesSince(0) >= 3, {
            timeoutMs: 5_000,
          });
          // The serving node dies: every process in its namespace, by pid, and its LAN link.
          const procs = await processesIn(serving.host);
          assert.ok(procs.some((p) => p.name === "keepalived"), JSON.stringify(procs));
          const killedAt = Date.now();
          for (const p of procs) {
            try {
              Deno.kill(p.pid, "SIGKILL");
            } catch { /* gone */ }
          }
          await c.partition(serving, true);
          await waitFor(
            `trial ${trial}: pings through ${other.name}`,
            () => pinger.repliesSince(killedAt) >= 10,
            {
              timeoutMs: 30_000,
            },
          ).catch((err) => {
            throw new Error(`${err.message}\n${logs()}`);
          });
          const { gapMs } = await pinger.stop();
          pingers.pop();
          gaps.push(gapMs);
          assert.ok(await hasVip(other.host), `${other.name} holds the address`);
          // The node comes back as after a reboot: no addresses of the old run, the node started again.
          serving.proc = null;
          await serving.host.exec.run(["ip", "address", "del", `${VIP}/24`, "dev", "eth0"]);
          await c.partition(serving, false);
          watch(serving.name, await c.startNode(serving, null, { WIREBUDDY_RECONCILE_INTERVAL: "1s" }));
          await waitFor(
            `trial ${trial}: ${serving.name}'s keepalived back`,
            async () => (await processesIn(serving.host)).some((p) => p.name === "keepalived"),
            {
              timeoutMs: 30_000,
              intervalMs: 200,
            },
          );
        }
        const line = `pool failover over ${TRIALS} trials: longest gap median ${
          (median(gaps) / 1000).toFixed(2)
        } s, max ${(Math.max(...gaps) / 1000).toFixed(2)} s (each: ${
          gaps.map((g) => (g / 1000).toFixed(2)).join(", ")
        } s)`;
        // deno-lint-ignore no-console
        console.log(line);
        assert.ok(median(gaps) < 5_000, line);
        // The takeover handshake works when the gaps stay under a second or so; a trial where it did not
        // get through falls back to the client's own timer (15 s; seen once, a first trial on a loaded
        // machine, cause not found). One such trial is tolerated, within the 20 s bound for what a
        // client does on its own timers; two are a failure.
        assert.ok(gaps.filter((g) => g >= 5_000).length <= 1, line);
        assert.ok(Math.max(...gaps) < 20_000, line);

        // --- drain: the serving member withdraws, the client moves without loss beyond the handover ---
        const serving = await settled("a settled pool before the drain");
        const other = c.nodes.find((n) => n !== serving)!;
        await waitFor(`${other.name}'s config to carry the client's endpoint`, () => knowsClient(other), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });
        // The client's bytes across the move: each member's own counters, watched from here on.
        const transfers = new TransferWatch(c.nodes, clientPub);
        watches.push(transfers);
        await transfers.poll();
        const clientBase = (await transferOf(c.client, "wg0", poolPub))!;
        // The chart (1 h range) counts the bytes between the last samples of consecutive minutes, so its
        // totals start with the client's second minute of samples: the window opens once it has one.
        await waitFor("the client's chart to show totals", async () => (await chartBytes()) !== null, {
          timeoutMs: 70_000,
          intervalMs: 1_000,
        });
        // Quiet: the master has each member's latest counters (/metrics sums them), the chart is current.
        await waitFor("/metrics to sum each member's latest counters for the client", async () => {
          await transfers.poll();
          return JSON.stringify(await metricsBytes()) === JSON.stringify(transfers.lastSum());
        }, { timeoutMs: 20_000, intervalMs: 500 });
        const chartBase = (await chartBytes())!;
        const bulk = async (through: string) => {
          const r = await c.client.exec.run([
            "ping",
            "-n",
            "-q",
            "-c",
            "40",
            "-i",
            "0.02",
            "-s",
            "1000",
            INTERNET_IP,
          ]);
          assert.equal(r.code, 0, `bulk pings through ${through}: ${r.stdout}${r.stderr}`);
        };
        await bulk(serving.name);
        const pinger = new Pinger(c.client, INTERNET_IP);
        pingers.push(pinger);
        await waitFor("the pinger's first replies", () => pinger.repliesSince(0) >= 3, { timeoutMs: 5_000 });
        const drained = await c.api("POST", `/pools/${poolId}/members/${ids.get(serving)}/drain`);
        assert.equal(drained.status, 200, JSON.stringify(drained.body));
        const drainAt = Date.now();
        await waitFor(
          `${other.name} to take the address over`,
          async () => (await hasVip(other.host)) && !(await hasVip(serving.host)),
          { timeoutMs: 15_000 },
        );
        await waitFor("pings through the other member", () => pinger.repliesSince(drainAt) >= 20, {
          timeoutMs: 20_000,
        });
        const drain = await pinger.stop();
        pingers.pop();
        // The handover gap is one WireGuard round of the takeover: every other ping is answered.
        const handoverPings = Math.ceil(drain.gapMs / 100);
        // deno-lint-ignore no-console
        console.log(
          `drain: ${drain.lost} of ${drain.sent} pings lost, longest gap ${
            (drain.gapMs / 1000).toFixed(2)
          } s`,
        );
        assert.ok(drain.gapMs < 3_000, `drain gap ${drain.gapMs} ms`);
        assert.ok(drain.lost <= handoverPings, `lost ${drain.lost} pings beyond the gap's ${handoverPings}`);

        // --- the client's traffic chart counts both members' bytes once ------------------------------
        await bulk(other.name);
        // The master's view settles: /metrics unchanged over two reads, 2 s apart (samples every second).
        // The drained member drops the client's peer once it is safe to stop, after sampling it: the
        // bytes of its last second (the handover's stragglers) are reported too.
        let settledMetrics = "";
        await waitFor("/metrics to settle on the members' counters", async () => {
          await transfers.poll();
          const now = JSON.stringify(await metricsBytes());
          const same = now === settledMetrics;
          settledMetrics = now;
          return same;
        }, { timeoutMs: 20_000, intervalMs: 2_000 });
        const clientNow = (await transferOf(c.client, "wg0", poolPub))!;
        await transfers.stop();
        const counted = transfers.countedSum();
        const per = Object.fromEntries(transfers.counted);
        // Both members carried a bulk's 40 x 1,000 bytes each way: the move happened inside the window.
        for (const n of [serving, other]) {
          const b = transfers.counted.get(n.name);
          assert.ok(
            b && b.rx > 40_000 && b.tx > 40_000,
            `${n.name} carried the client: ${JSON.stringify(per)}`,
          );
        }
        // 1 KiB, against more than 80 KB each way (a member counted twice, or left out, is off by 40 KB or
        // more): the chart prints KiB with one decimal (each total within 52 bytes, read twice); bytes
        // after the watch's last reading of the drained member (it samples the peer before dropping it,
        // so the master has them); a counter reset the 100 ms watch could miss (the takeover re-adds the
        // peer during the drain, while the pinger sends one small ping per 100 ms). It was 4 KiB while
        // the drained member's last second went unreported (384 bytes seen) and the chart kept only the
        // last sample of each minute.
        const TOLERANCE = 1024;
        // The client's own counters also hold the handover's lost packets and handshakes sent to no one.
        const CLIENT_TOLERANCE = 4096;
        const chartNow = (await chartBytes())!;
        const chart = { rx: chartNow.rx - chartBase.rx, tx: chartNow.tx - chartBase.tx };
        const client = { rx: clientNow.rx - clientBase.rx, tx: clientNow.tx - clientBase.tx };
        const traffic = `chart ${JSON.stringify(chart)}, /metrics ${settledMetrics} (members' last ${
          JSON.stringify(transfers.lastSum())
        }), members' wg show ${JSON.stringify(counted)} (${JSON.stringify(per)}), the client's own ${
          JSON.stringify(client)
        }`;
        // deno-lint-ignore no-console
        console.log(`traffic across the move: ${traffic}`);
        const metrics = JSON.parse(settledMetrics) as Bytes;
        const last = transfers.lastSum();
        for (const dir of ["rx", "tx"] as const) {
          assert.ok(Math.abs(chart[dir] - counted[dir]) <= TOLERANCE, `chart ${dir}: ${traffic}`);
          assert.ok(
            Math.abs(metrics[dir] - last[dir]) <= TOLERANCE,
            `/metrics ${dir} ${metrics[dir]} against the members' last counters summed ${
              last[dir]
            }: ${traffic}`,
          );
        }
        // The client's counters cross-check (its tx is what the members received): its tolerance covers
        // the handover's lost packets (pings of 128 bytes, at most the gap's, above) and handshake
        // messages sent to no one.
        assert.ok(
          Math.abs(client.tx - counted.rx) <= CLIENT_TOLERANCE,
          `client tx vs members' rx: ${traffic}`,
        );
        assert.ok(
          Math.abs(client.rx - counted.tx) <= CLIENT_TOLERANCE,
          `client rx vs members' tx: ${traffic}`,
        );
        // The drained member ends with no client session (its config drops the pool's peers once safe).
        await waitFor(`${serving.name} without client sessions`, async () => {
          const p = (await c.api("GET", `/pools/${poolId}`)).body;
          const m = p.members.find((m: { node_id: number }) => m.node_id === ids.get(serving));
          const wg = await serving.host.exec.run(["wg", "show", "all", "latest-handshakes"]);
          const live = wg.stdout.split("\n").some((l) => {
            const [, key, t] = l.trim().split(/\s+/);
            return key === clientPub && Date.now() / 1000 - Number(t) < 180;
          });
          return !live && m?.report?.sessions === 0 && m.report.state === "withdrawn";
        }, { timeoutMs: 60_000, intervalMs: 500 }).catch((err) => {
          throw new Error(`${err.message}\n${logs()}`);
        });

        // --- DNS follows the client: its query reaches the master's resolver with its tunnel address ---
        const before = c.dns!.output().length;
        await waitFor("a DNS answer through the pool and the member's tunnel", async () => {
          const q = startDeno(c.client, [`${ROOT}test/support/dns_query.ts`, "10.13.13.1", "example.com"]);
          return (await q.status).code === 0 && q.output().trim() === "192.0.2.53";
        }, { timeoutMs: 30_000, intervalMs: 500 }).catch(async (err) => {
          const routes = await c.master.exec.run(["wg", "show", "all", "allowed-ips"]);
          const pool = JSON.stringify((await c.api("GET", `/pools/${poolId}`)).body.clients);
          throw new Error(`${err.message}\nmaster's tunnel routes:\n${routes.stdout}\npool clients: ${pool}`);
        });
        const seen = c.dns!.output().slice(before);
        assert.ok(seen.includes(`"from":"${tunnelIp}"`), seen);
        assert.ok(!seen.includes(`"from":"${other.ip}"`), "not NATed to the member's address");

        // --- a member removed: the pool's identity rotated, the removed node holds none of it ----------
        const removed = serving; // drained and safe to stop, as README advises before a removal
        const removal = await c.api("DELETE", `/pools/${poolId}/members/${ids.get(removed)}`);
        assert.ok(removal.status < 300, JSON.stringify(removal.body));
        const rotated = (await c.api("GET", `/pools/${poolId}`)).body;
        assert.notEqual(rotated.public_key, poolPub, "the pool has a new public key");
        assert.deepEqual(rotated.members.map((m: { node_id: number }) => m.node_id), [ids.get(other)]);
        await waitFor(`${other.name}'s pool device to run the new key`, async () => {
          const r = await other.host.exec.run(["wg", "show", POOL_DEV, "public-key"]);
          return r.code === 0 && r.stdout.trim() === rotated.public_key;
        }, { timeoutMs: 20_000, intervalMs: 200 });
        await waitFor(`${removed.name} without the pool's device and keepalived`, async () => {
          const dev = await removed.host.exec.run(["ip", "link", "show", "dev", POOL_DEV]);
          const keepalived = (await processesIn(removed.host)).filter((p) => p.name === "keepalived");
          return dev.code !== 0 && keepalived.length === 0;
        }, { timeoutMs: 20_000, intervalMs: 200 });
        assert.ok(
          !(await removed.host.exec.run(["wg", "show", "all", "public-key"])).stdout.includes(
            rotated.public_key,
          ),
          `${removed.name} never ran the new key`,
        );
        // The client downloads its config again (the old one names a key no member has) and works.
        const reconf = (await c.api("GET", `/peers/${peer.id}/config`)).body as string;
        assert.match(
          reconf,
          new RegExp(`PublicKey = ${rotated.public_key.replace(/[+/]/g, "\\$&")}`),
          reconf,
        );
        await c.clientUp(reconf);
        await waitFor(
          "the client to ping the internet host through the pool with its new config",
          () => c.client.ping(INTERNET_IP),
          { timeoutMs: 20_000, intervalMs: 200 },
        );
        assert.ok(await hasVip(other.host), `${other.name} serves the pool`);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${logs()}`);
      } finally {
        for (const p of pingers) await p.stop().catch(() => {});
        for (const w of watches) await w.stop().catch(() => {});
        // keepalived holds its node's output pipes: end it first, so stopping the node can finish.
        for (const n of c.nodes) {
          for (const p of await processesIn(n.host)) {
            if (p.name !== "keepalived") continue;
            try {
              Deno.kill(p.pid, "SIGKILL");
            } catch { /* gone */ }
          }
        }
        await c.stopAll();
      }
    });
  },
});
