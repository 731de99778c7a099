// Simulated nodes over the real sync API, all in this process, against a master in a process of its own
// (scripts/lib/fleet_master.ts: real services, real HTTP app, TLS on 127.0.0.1). Each node has its own
// P-256 identity, enrolls from an address of its own (127.x.y.z, as X-Forwarded-For to a master that
// trusts loopback proxies: bench only) with its own token, has one client peer on a shared interface,
// holds its long-poll and heartbeats every 30 s (±10 %, phases spread), through the node's real
// SyncClient (signed requests, verified answers). Prints, per size:
//   nodes | heartbeat p50 / p99 | errors | master CPU | RSS steady / peak | one interface edit reaches
//   all nodes p50 / p99 (reached / nodes) | master stop
// After enrolling (fetch over HTTP/2, one connection per --per-conn nodes), each node holds its long-poll
// on an HTTP/1.1 connection of its own, as a real node does, and heartbeats over a connection it shares
// with --per-conn - 1 others (this container caps open files at 20,000 per process: 10,000 nodes cannot
// hold two sockets each). Those connections are scripts/lib/h1_conn.ts, far cheaper for this process than
// fetch(); --fetch sends everything through the shared HTTP/2 fetch clients instead (as before 2026-12-02:
// this process then saturated first, and its own delays were most of the heartbeat latency it printed).
// Everything is bounded: phases have deadlines and the whole run stops after --max-minutes.
// Nodes use sync sessions (HMAC per request); --sign makes them sign every request (ECDSA) as before.
// After the real enrollment and session opening, each node's requests are built with node:crypto
// (scripts/lib/fleet_node.ts) so this process is not the bottleneck; --real-client uses the node's own
// SyncClient for every request instead (faithful, but one process cannot play 10,000 of them).
// --heap samples the master's heap allocations from before enrollment and prints, at the end of the steady
// window, what is still alive by where it was allocated.
// --profile samples the master's CPU through its inspector during the steady window and during the fan-out
// and prints the functions with the most self time (scripts/lib/cpu_profile.ts).
//   scripts/bench-fleet [--nodes 300] [--nodes 1000,3000,10000] [--per-conn 25] [--measure 65] [--sign]
//                       [--fetch] [--profile] [--heap] [--baseline DIR]
// --baseline DIR also runs, for each size and just before this tree's master, the master of another
// checkout (e.g. `git archive <commit> | tar -x -C DIR`; same simulated nodes, same machine): its rows
// are marked "before", this tree's "after", so a change is measured side by side in one run.
import { parseArgs } from "node:util";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  ConfigResponseSchema,
  generateSigningKeys,
  HeartbeatResponseSchema,
  readToken,
} from "../src/core/sync.ts";
import { realClock } from "../src/core/ports/real.ts";
import { CheapNode, fetchSend, type Send } from "./lib/fleet_node.ts";
import { H1Conn } from "./lib/h1_conn.ts";
import { lagMeter, pct } from "./lib/stats.ts";
import { heapSites, Inspector, ownTimes, selfTimes, startHeapSampling } from "./lib/cpu_profile.ts";
import {
  enroll,
  type FetchFactory,
  type HttpFetch,
  type SessionStore,
  SyncClient,
} from "../src/node/sync_client.ts";

const args = parseArgs({
  options: {
    nodes: { type: "string", default: "300" },
    "per-conn": { type: "string", default: "25" },
    heartbeat: { type: "string", default: "30" },
    measure: { type: "string", default: "65" },
    "edit-timeout": { type: "string", default: "60" },
    "max-minutes": { type: "string", default: "25" },
    sign: { type: "boolean", default: false },
    "real-client": { type: "boolean", default: false },
    fetch: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    heap: { type: "boolean", default: false },
    baseline: { type: "string" },
  },
}).values;
const sizes = args.nodes!.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0 && n <= 20_000);
const perConn = Math.max(1, Number(args["per-conn"]));
const heartbeatMs = Number(args.heartbeat) * 1000;
const measureMs = Number(args.measure) * 1000;
const editTimeoutMs = Number(args["edit-timeout"]) * 1000;
const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
// The listener goes when the timer fires: the run's one stop signal would otherwise collect one per sleep
// of every node (millions in a 10,000-node run), and each addEventListener scans them all (this process's
// CPU went there, and its delays into the latencies it printed).
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((r) => {
    const onAbort = () => (clearTimeout(t), r());
    const t = setTimeout(() => (signal?.removeEventListener("abort", onAbort), r()), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
const ms = (
  x: number,
) => (Number.isNaN(x) ? "-" : x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString("en"));

// Whole-run bound: whatever happens, stop.
const deadline = setTimeout(() => {
  out(`bench-fleet: --max-minutes ${args["max-minutes"]} reached; stopping`);
  Deno.exit(2);
}, Number(args["max-minutes"]) * 60_000);

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

function procStats(pid: number): { cpuTicks: number; rssMb: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+)/);
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}

/** A node's session kept in memory (a real node keeps it on disk, 0600). */
function memorySessions(): SessionStore {
  let kept: { id: string; key: string } | null = null;
  return {
    loadSession: () => Promise.resolve(kept),
    saveSession: (s) => Promise.resolve(void (kept = s)),
  };
}

/** What a simulated node does after enrollment: long-poll its config, heartbeat. */
type Link = {
  config(have: number, signal: AbortSignal): Promise<{ kind: string; version: number }>;
  heartbeat(have: number, signal: AbortSignal): Promise<void>;
};

/** Through the node's own SyncClient (zod-checked answers): faithful, and heavy for 10,000 in one process. */
function realLink(client: SyncClient): Link {
  return {
    config: async (have, signal) => {
      const path = `/api/sync/config?have=${have}&wait=55`;
      const { value } = await client.getSigned(path, ConfigResponseSchema, signal);
      return { kind: value.kind, version: value.kind === "config" ? value.config.config_version : have };
    },
    heartbeat: async (have, signal) => {
      await client.post(
        "/api/sync/heartbeat",
        { status: "online", applied_version: have },
        HeartbeatResponseSchema,
        signal,
      );
    },
  };
}

/** Through CheapNode (session MACs with node:crypto, JSON.parse only); heartbeats through `beats`. */
function cheapLink(node: CheapNode, beats: CheapNode = node): Link {
  return {
    config: async (have, signal) => {
      // As a node in a session asks once it holds a config (src/node/delta.ts): deltas.
      const path = `/api/sync/config?have=${have}&wait=55${have > 0 ? "&delta=1" : ""}`;
      const v = await node.request("GET", path, null, signal) as {
        kind: string;
        config?: { config_version: number };
        config_version?: number;
      };
      // A delta names its version at the top (src/core/sync_delta.ts); a config inside it.
      return { kind: v.kind, version: v.config?.config_version ?? v.config_version ?? have };
    },
    heartbeat: async (have, signal) => {
      await beats.request("POST", "/api/sync/heartbeat", { status: "online", applied_version: have }, signal);
    },
  };
}

async function identity() {
  const keys = await generateSigningKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=bench-node",
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return { key: keys.privateKey, certPem: cert.toString("pem") };
}

type Row = {
  nodes: number;
  label: string;
  hbP50: number;
  hbP99: number;
  hbCount: number;
  errors: number;
  cpu: number;
  rss: number;
  rssPeak: number;
  editP50: number;
  editP99: number;
  reached: number;
  stopMs: number;
  /** This process (the simulated nodes): its CPU and its event loop's lag p99 in the steady window. */
  simCpu: number;
  simLagP99: number;
};

async function runSize(n: number, label = "", root = "."): Promise<Row> {
  const inspectPort = 19_229;
  const master = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      ...(args.profile || args.heap ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
      "scripts/lib/fleet_master.ts",
    ],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = master.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the master exited before it was ready");
    buf += value;
  }
  reader.releaseLock();
  master.stdout.cancel().catch(() => {});
  const inspector = args.profile || args.heap ? await Inspector.connect(inspectPort) : null;
  // --heap: what the master's heap holds from enrollment on, by where it was allocated.
  if (args.heap) await startHeapSampling(inspector!);
  const profiled = async (what: string, during: () => Promise<void>) => {
    if (!args.profile) return await during();
    await inspector?.start();
    await during();
    if (!inspector) return;
    const profile = await inspector.stop();
    const { busyMs, idleMs, rows } = selfTimes(profile, 12);
    out(
      `  master profile, ${what}: busy ${Math.round(busyMs)} ms, idle ${Math.round(idleMs)} ms; self time:`,
    );
    for (const r of rows) out(`    ${r}`);
    const own = ownTimes(profile, 18);
    out(`  the same, by the nearest caller in our code:`);
    for (const r of own.rows) out(`    ${r}`);
    out(`  the longest stalls:`);
    for (const r of own.stalls) out(`    ${r}`);
  };
  const control = master.stdin.getWriter();
  const tell = (line: string) => control.write(new TextEncoder().encode(line + "\n"));
  const info = JSON.parse(buf.slice(0, buf.indexOf("\n"))) as { port: number; cert: string; token: string };
  const base = `https://127.0.0.1:${info.port}`;
  const admin = Deno.createHttpClient({ caCerts: [info.cert] });
  const api = async (method: string, path: string, json: unknown) => {
    const res = await fetch(`${base}/api${path}`, {
      method,
      client: admin,
      headers: { authorization: `Bearer ${info.token}`, "content-type": "application/json" },
      body: JSON.stringify(json),
    });
    const body = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const wg0 = await api("POST", "/interfaces", { name: "wg0", ipv4_pool: "10.0.0.0/16", listen_port: 51820 });
  const wg1 = await api("POST", "/interfaces", {
    name: "wg1",
    ipv4_pool: "10.64.0.0/16",
    listen_port: 51821,
  });
  const t0 = performance.now();
  const made: { id: number; enrollment_token: string }[] = new Array(n);
  await pool([...Array(n).keys()], 8, async (i) => {
    made[i] = await api("POST", "/nodes", { name: `n${i}`, fqdn: `n${i}.bench.invalid` });
    await api("POST", "/peers", { interface_id: wg1.id, name: `c${i}`, node_id: made[i].id });
  });
  out(`  ${n} nodes with a client peer each made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // One HTTP/2 connection per group of nodes; each node's requests carry its own address.
  const clients = Array.from(
    { length: Math.ceil(n / perConn) },
    () => Deno.createHttpClient({ caCerts: [info.cert] }),
  );
  const addr = (i: number) => `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  // HTTP/1.1 connections: one per node for its long-poll, one per group for heartbeats (opened on use;
  // closed at the end, which ends their requests in flight: they take no abort signal).
  const h1: H1Conn[] = [];
  const beatConns = Array.from({ length: Math.ceil(n / perConn) }, () => new H1Conn(info.port, info.cert));
  const h1Send =
    (conn: H1Conn, i: number, onArrival: (at: number, text: string) => void): Send =>
    async (method, path, headers, body) => {
      const a = await conn.request(method, path, { ...headers, "x-forwarded-for": addr(i) }, body);
      onArrival(performance.now(), a.text);
      return { status: a.status, header: (name) => a.headers.get(name) ?? null, text: a.text };
    };
  /** A simulated node; `polledAt`/`answeredAt`/`answer`: its latest long-poll, for the fan-out's diagnosis. */
  type Sim = {
    link: Link;
    have: number;
    reachedAt: number | null;
    polledAt: number;
    answeredAt: number;
    answer: string;
  };
  const sims: Sim[] = new Array(n);
  const stats = {
    hb: [] as number[],
    /** Heartbeats during the edit's fan-out (not in `hb`: the steady window's). */
    hbFan: [] as number[],
    errors: 0,
    measuring: false,
    editAt: 0,
    editMtu: 0,
  };
  const fetchFor = (i: number, onArrival?: (at: number, text: string) => void): FetchFactory => () => {
    const f: HttpFetch = async (url, init) => {
      const res = await fetch(url, {
        ...init,
        client: clients[Math.floor(i / perConn)],
        headers: { ...(init.headers as Record<string, string>), "x-forwarded-for": addr(i) },
      });
      const text = await res.text();
      onArrival?.(performance.now(), text);
      return new Response(text, { status: res.status, headers: res.headers });
    };
    return f;
  };
  // Each node starts its loops as soon as it has enrolled, as a real node does (starting them only once
  // the whole fleet had enrolled left the first nodes silent for longer than the offline threshold).
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  const runLoops = async (sim: Sim) => {
    const poll = (async () => {
      while (!stop.signal.aborted) {
        try {
          sim.polledAt = performance.now();
          const value = await sim.link.config(sim.have, stop.signal);
          sim.answeredAt = performance.now();
          sim.answer = value.kind;
          if (value.kind === "config" || value.kind === "delta") sim.have = value.version;
          else if (value.kind === "removed") return;
        } catch (e) {
          sim.answeredAt = performance.now();
          sim.answer = `error: ${e instanceof Error ? e.message.slice(0, 80) : e}`;
          if (stop.signal.aborted) return;
          if (stats.measuring) stats.errors++;
          await sleep(1000 + Math.random() * 4000, stop.signal);
        }
      }
    })();
    const beat = (async () => {
      await sleep(Math.random() * heartbeatMs, stop.signal);
      while (!stop.signal.aborted) {
        const started = performance.now();
        try {
          await sim.link.heartbeat(sim.have, stop.signal);
          if (stats.measuring) (stats.editAt ? stats.hbFan : stats.hb).push(performance.now() - started);
        } catch {
          if (stop.signal.aborted) return;
          if (stats.measuring) stats.errors++;
        }
        await sleep(heartbeatMs * (0.9 + 0.2 * Math.random()), stop.signal);
      }
    })();
    await Promise.all([poll, beat]);
  };
  const t1 = performance.now();
  await pool([...Array(n).keys()], 8, async (i) => {
    const token = made[i].enrollment_token;
    const id = await identity();
    // Arrival before the node checks the answer's proof; kept only for answers carrying the edit.
    const onArrival = (at: number, text: string) => {
      const s = sims[i];
      if (stats.editMtu && s && s.reachedAt === null && text.includes(`"mtu":${stats.editMtu}`)) {
        s.reachedAt = at;
      }
    };
    const { enrollment } = await enroll(fetchFor(i), realClock, token, readToken(token)!, id, {
      hostname: `n${i}`,
      version: "bench",
      masterUrl: base,
      timeoutMs: 30_000,
    });
    const sim: Sim = { link: null!, have: 0, reachedAt: null, polledAt: 0, answeredAt: 0, answer: "" };
    const sessions = memorySessions();
    const client = new SyncClient(
      fetchFor(i, onArrival),
      realClock,
      enrollment,
      id.key,
      base,
      { timeoutMs: 70_000 }, // above the 55 s long-poll
      args.sign ? null : sessions, // --sign: ECDSA per request, as before sessions
    );
    sim.link = realLink(client);
    if (!args.sign && !args["real-client"]) {
      await client.session.current(); // opened with the real protocol (one ECDSA exchange)
      const opened = (await sessions.loadSession())!;
      const cheap = (send: Send) => new CheapNode(enrollment.node_id, enrollment.node_secret, opened, send);
      if (args.fetch) {
        sim.link = cheapLink(cheap(fetchSend(fetchFor(i, onArrival)(null), base)));
      } else {
        const own = new H1Conn(info.port, info.cert);
        h1.push(own);
        sim.link = cheapLink(
          cheap(h1Send(own, i, onArrival)),
          cheap(h1Send(beatConns[Math.floor(i / perConn)], i, onArrival)),
        );
      }
    }
    sims[i] = sim;
    loops.push(runLoops(sim));
  });
  out(`  enrolled in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  // Steady state: every node has its config and has beaten at least once before measuring.
  await sleep(heartbeatMs * 1.1);
  const a = procStats(master.pid);
  const sa = procStats(Deno.pid);
  const ta = performance.now();
  // A heartbeat's latency includes this process's own delays: its event loop's lag is printed beside it.
  const lags: number[] = [];
  const lagTimer = lagMeter(() => lags);
  stats.measuring = true;
  await tell("measure steady");
  let rssPeak = a.rssMb;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, procStats(master.pid).rssMb)), 1000);
  await profiled("steady heartbeats", () => sleep(measureMs));
  if (args.heap) { for (const line of await heapSites(inspector!, 25)) out(`  master heap: ${line}`); }
  await tell("report");
  const b = procStats(master.pid);
  const sb = procStats(Deno.pid);
  clearInterval(lagTimer);
  const cpu = ((b.cpuTicks - a.cpuTicks) / 100) / ((performance.now() - ta) / 1000) * 100;
  const simCpu = ((sb.cpuTicks - sa.cpuTicks) / 100) / ((performance.now() - ta) / 1000) * 100;

  // One interface edit (the first interface: every node carries it); how long until each node has it.
  stats.editMtu = 1380;
  const ea = procStats(master.pid);
  const ca = procStats(Deno.pid);
  stats.editAt = performance.now();
  await tell("measure fan-out");
  await profiled("the edit's fan-out", async () => {
    await api("PATCH", `/interfaces/${wg0.id}`, { mtu: stats.editMtu });
    const editEnd = performance.now() + editTimeoutMs;
    while (performance.now() < editEnd && sims.some((s) => s.reachedAt === null)) await sleep(200);
  });
  const lat = sims.filter((s) => s.reachedAt !== null).map((s) => s.reachedAt! - stats.editAt);
  // CPU seconds the fan-out took, until the last node had it: the master's and these simulated nodes'.
  const lastAt = Math.max(0, ...lat) / 1000;
  const fanMaster = (procStats(master.pid).cpuTicks - ea.cpuTicks) / 100;
  const fanClients = (procStats(Deno.pid).cpuTicks - ca.cpuTicks) / 100;
  out(
    `  fan-out: last node after ${lastAt.toFixed(2)} s; CPU until now: master ${
      fanMaster.toFixed(2)
    } s, simulated nodes ${fanClients.toFixed(2)} s`,
  );
  await tell("report");
  stats.measuring = false;
  clearInterval(sampler);
  const missed = sims.filter((s) => s.reachedAt === null);
  if (missed.length > 0) {
    const now = performance.now();
    const waiting = missed.filter((s) => s.polledAt > s.answeredAt);
    const ages = waiting.map((s) => (now - s.polledAt) / 1000);
    const kinds = new Map<string, number>();
    for (const s of missed) {
      if (s.answeredAt > stats.editAt) kinds.set(s.answer, (kinds.get(s.answer) ?? 0) + 1);
    }
    out(
      `  not reached: ${missed.length}; a long-poll in flight for ${waiting.length} of them (sent p50/max ${
        ms(pct(ages, 50))
      } / ${ms(pct(ages, 100))} s ago); answers after the edit: ${JSON.stringify(Object.fromEntries(kinds))}`,
    );
  }
  out(
    `  heartbeats during the fan-out: p50/p99 ${ms(pct(stats.hbFan, 50))} / ${
      ms(pct(stats.hbFan, 99))
    } ms (${stats.hbFan.length})`,
  );

  inspector?.close();
  const ts = performance.now();
  master.kill("SIGTERM");
  const exited = await Promise.race([master.status.then(() => true), sleep(30_000).then(() => false)]);
  const stopMs = exited ? performance.now() - ts : NaN;
  if (!exited) master.kill("SIGKILL");
  stop.abort();
  for (const c of [...h1, ...beatConns]) c.close(); // ends their requests in flight
  await Promise.all(loops);
  for (const c of clients) c.close();
  admin.close();
  await control.close().catch(() => {});
  await master.status;
  return {
    nodes: n,
    label,
    hbP50: pct(stats.hb, 50),
    hbP99: pct(stats.hb, 99),
    hbCount: stats.hb.length,
    errors: stats.errors,
    cpu,
    rss: b.rssMb,
    rssPeak,
    editP50: pct(lat, 50),
    editP99: pct(lat, 99),
    reached: lat.length,
    stopMs,
    simCpu,
    simLagP99: pct(lags, 99),
  };
}

const rows: Row[] = [];
for (const n of sizes) {
  out(
    `bench-fleet: ${n} nodes (${Math.ceil(n / perConn)} connections, heartbeat ${heartbeatMs / 1000} s, ${
      args.sign ? "ECDSA per request" : "sessions"
    })`,
  );
  if (args.baseline) {
    out(`  before: the master of ${args.baseline}`);
    rows.push(await runSize(n, "before ", args.baseline));
    out(`  after: this tree's master`);
    rows.push(await runSize(n, "after "));
  } else {
    rows.push(await runSize(n));
  }
}
out("");
out(
  "| nodes | heartbeat p50 / p99 (beats) | errors | master CPU | RSS steady / peak | edit reaches all p50 / p99 (reached) | stop | simulated nodes: CPU, loop lag p99 |",
);
out("|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  out(
    `| ${r.label}${r.nodes.toLocaleString("en")} | ${ms(r.hbP50)} / ${
      ms(r.hbP99)
    } ms (${r.hbCount}) | ${r.errors} | ${Math.round(r.cpu)} % | ${Math.round(r.rss)} / ${
      Math.round(r.rssPeak)
    } MB | ${ms(r.editP50)} / ${ms(r.editP99)} ms (${r.reached} of ${r.nodes}) | ${ms(r.stopMs)} ms | ${
      Math.round(r.simCpu)
    } %, ${ms(r.simLagP99)} ms |`,
  );
}
clearTimeout(deadline);
