// wirebuddy-node: wiring only. Parses WIREBUDDY_* once, builds the real ports, engine and queue, and
// runs the agent until SIGTERM (or until the master removes this node).
import { isIP } from "node:net";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { EX_CONFIG } from "../core/env.ts";
import { AppError } from "../core/errors.ts";
import { createLogger } from "../core/logger.ts";
import {
  realClock,
  realExec,
  realFifoLines,
  realFs,
  realSpawn,
  realUnixRequest,
  stderrSink,
} from "../core/ports/real.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { runAgent } from "./agent.ts";
import { parseNodeEnv, parseSupervisorEnv } from "./config.ts";
import { MetricsQueue } from "./metrics/queue.ts";
import { DnsLogQueue } from "./dns/log_queue.ts";
import type { LogFile } from "./dns/reply_log.ts";
import type { ListenUnix } from "./dns/query_log.ts";
import { UnboundResource } from "./dns/unbound.ts";
import { createEngine } from "./reconcile/engine.ts";
import { supervisedWireguardGo } from "./reconcile/userspace.ts";
import { socketUapi } from "./drivers/uapi.ts";
import { runSupervisor } from "./supervisor.ts";
import { PoolAnnouncer } from "./pools/announcer.ts";
import { NodeState } from "./state.ts";
import { readStatus, renderStatus } from "./status.ts";
import type { FetchFactory, PinnedTls } from "./sync_client.ts";
import { pinnedChainPem } from "../core/sync.ts";

const VERSION = denoJson.version;
const out = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));

const HELP =
  `wirebuddy-node ${VERSION}: keeps this host's WireGuard interfaces, forwarding and firewall as the
WireBuddy master says, and keeps serving clients with the last good config while the master is down.

Usage:
  wirebuddy-node            run (first start: WIREBUDDY_ENROLLMENT_TOKEN=<token from the master's Nodes page>)
  wirebuddy-node userspace-supervisor
                            keep wireguard-go running for the node, outside its unit
                            (wirebuddy-wireguard-go.service; needs WIREBUDDY_WIREGUARD_GO_DIR)
  wirebuddy-node status     enrollment, master, last contact, applied version, interfaces, queue, last error
                            (read from the data dir; exit 0 when all is well, 1 otherwise)
  wirebuddy-node version    print the version
  wirebuddy-node --help     this text

Configuration comes from WIREBUDDY_* environment variables (see README.md).
`;

/** The certificates a TLS server presents (leaf first), read without trusting them. */
function presentedChain(url: string): Promise<Uint8Array[]> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: Number(u.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false, // checked against the pin by the caller, nothing is sent before
    }, () => {
      const chain: Uint8Array[] = [];
      const seen = new Set<string>();
      let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (c?.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        chain.push(new Uint8Array(c.raw));
        c = c.issuerCertificate;
      }
      socket.end();
      resolve(chain);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`TLS handshake with ${u.host} timed out`)));
    socket.on("error", reject);
  });
}

/**
 * fetch that trusts exactly the master's own certificate: the saved one, or (a packed token carries only
 * the pin) the chain the master presents when its certificate matches the pin (one client per node run).
 */
/** The certificates to trust: the pinned one (or the presented chain matching its pin) and an announced next one. */
async function trusted(pinned: PinnedTls, url: string): Promise<string[]> {
  const next = pinned.next ? [pinned.next.cert] : [];
  if (pinned.cert) return [pinned.cert, ...next];
  try {
    return [await pinnedChainPem(await presentedChain(url), pinned.sha256 ?? ""), ...next];
  } catch (err) {
    if (next.length > 0) return next; // the master presents the next certificate already
    throw err;
  }
}

const fetchFor: FetchFactory = (pinned) => {
  if (!pinned) return (url, init) => fetch(url, init);
  let client: Promise<Deno.HttpClient> | null = null;
  const clientFor = (url: string) =>
    client ??= (async () =>
      Deno.createHttpClient({
        caCerts: await trusted(pinned, url),
      }))().catch((err) => {
        client = null; // try again with the next request
        throw err;
      });
  return async (url, init) => fetch(url, { ...init, client: await clientFor(url) });
};

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    options: { help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  const command = positionals[0] ?? "run";
  if (values.help || command === "help") return (out(HELP), 0);
  if (command === "version") return (out(`wirebuddy-node ${VERSION} (deno ${Deno.version.deno})`), 0);
  if (command === "userspace-supervisor") return await supervise();
  if (command === "status") {
    // What an operator types first: read the data dir, print, exit 0 when all is well.
    const parsed = parseNodeEnv(Deno.env.toObject());
    const dir = parsed.ok
      ? parsed.value.dataDir
      : (Deno.env.get("WIREBUDDY_NODE_DATA_DIR") ?? "/var/lib/wirebuddy-node");
    const { enrollment, status } = await readStatus(realFs, dir);
    const r = renderStatus(dir, enrollment, status, realClock.now());
    out(r.text);
    return r.ok ? 0 : 1;
  }
  if (command !== "run") {
    out(`Unknown command "${command}". Try --help.`);
    return 64;
  }

  const env = Deno.env.toObject();
  const format = env.JOURNAL_STREAM ? "journald" : "terminal";
  const parsed = parseNodeEnv(env);
  if (!parsed.ok) {
    const early = createLogger({ sink: stderrSink, format });
    for (const p of parsed.problems) early.error(`configuration: ${p}`);
    return EX_CONFIG;
  }
  const config = parsed.value;
  const log = createLogger({ sink: stderrSink, format, level: config.logLevel });

  await realFs.mkdir(config.dataDir, 0o700);
  const queuePath = `${config.dataDir}/metrics_queue.db`;
  if (!(await realFs.exists(queuePath))) await realFs.writeTextAtomic(queuePath, "", 0o600);
  const queue = new MetricsQueue(queuePath, config.queueMax);
  const dnsQueue = new DnsLogQueue(queuePath, Math.max(config.queueMax, 100_000));
  const engineLog = log.child("NODE_DAEMON");
  const engine = createEngine(
    {
      exec: realExec,
      fs: realFs,
      log: engineLog,
      uapi: socketUapi(realUnixRequest),
      now: () => realClock.now(),
      ...(config.wireguardGoDir
        ? {
          wireguardGo: supervisedWireguardGo(
            { fs: realFs, exec: realExec, clock: realClock, log: engineLog },
            config.wireguardGoDir,
          ),
        }
        : {}),
    },
    { statePath: `${config.dataDir}/dataplane.json`, wgImpl: config.wgImpl, driftIntervalMs: config.driftMs },
  );

  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(sig, () => {
      log.info("NODE_DAEMON shutting down (interfaces stay up)", { signal: sig });
      stop.abort();
    });
  }
  try {
    const result = await runAgent(
      {
        exec: realExec,
        clock: realClock,
        log,
        fetchFor,
        engine,
        state: new NodeState(realFs, config.dataDir),
        queue,
        hostname: Deno.hostname(),
        version: VERSION,
        listen: (o) => Deno.listen({ ...o, transport: "tcp" }),
        status: { fs: realFs, pid: Deno.pid },
        ...(config.dns
          ? {
            dns: {
              unbound: new UnboundResource({ exec: realExec, fs: realFs, log: engineLog, paths: config.dns }),
              queue: dnsQueue,
              listenUnix,
              socket: config.dns.dnstapSocket,
              replyLog: config.dns.replyLog,
              logFile: denoLogFile,
            },
          }
          : {}),
        ...(config.keepalived
          ? {
            pools: new PoolAnnouncer({
              exec: realExec,
              fs: realFs,
              clock: realClock,
              log: engineLog,
              paths: config.keepalived,
              routerId: `wirebuddy-${Deno.hostname()}`.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 60),
              spawn: realSpawn,
              signal: (pid, sig) => Deno.kill(pid, sig),
              fifoLines: realFifoLines,
            }),
          }
          : {}),
      },
      config,
      stop.signal,
    );
    log.info(result === "removed" ? "NODE_DAEMON removed from the master; exiting" : "NODE_DAEMON stopped");
    return 0;
  } catch (err) {
    if (err instanceof AppError && err.code === "config") {
      log.error(`NODE_DAEMON ${err.message}`);
      return EX_CONFIG;
    }
    log.error("NODE_DAEMON failed", { error: err instanceof Error ? err.message : String(err) });
    return 1;
  } finally {
    queue.close();
    dnsQueue.close();
  }
}

/**
 * The query log's socket: a stale one is replaced; Unbound (its own user) may connect through the
 * `unbound` group when the node's user is in it (install.sh --dns), else the socket is world-writable
 * inside the node's runtime directory.
 */
const listenUnix: ListenUnix = async (path) => {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o755 });
  await Deno.remove(path).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path });
  const gid = (await Deno.readTextFile("/etc/group").catch(() => "")).match(/^unbound:[^:]*:(\d+):/m)?.[1];
  try {
    if (!gid) throw new Error("no unbound group");
    await Deno.chown(path, null, Number(gid));
    await Deno.chmod(path, 0o660);
  } catch {
    await Deno.chmod(path, 0o666);
  }
  return listener;
};

/** Unbound's reply log (dns/reply_log.ts): one open per read, so inode, size and bytes are one file's. */
const denoLogFile: LogFile = {
  async read(path, offset, max) {
    const f = await Deno.open(path, { read: true }).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    });
    if (!f) return null;
    try {
      const st = await f.stat();
      const bytes = new Uint8Array(Math.max(0, Math.min(max, st.size - offset)));
      let got = 0;
      if (bytes.length > 0) await f.seek(offset, Deno.SeekMode.Start);
      while (got < bytes.length) {
        const n = await f.read(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      return { ino: st.ino ?? 0, size: st.size, bytes: bytes.subarray(0, got) };
    } finally {
      f.close();
    }
  },
};

/** `userspace-supervisor`: wireguard-go for the node, kept by wirebuddy-wireguard-go.service. */
async function supervise(): Promise<number> {
  const env = Deno.env.toObject();
  const format = env.JOURNAL_STREAM ? "journald" : "terminal";
  const parsed = parseSupervisorEnv(env);
  if (!parsed.ok) {
    const early = createLogger({ sink: stderrSink, format });
    for (const p of parsed.problems) early.error(`configuration: ${p}`);
    return EX_CONFIG;
  }
  const log = createLogger({ sink: stderrSink, format, level: parsed.value.logLevel });
  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => stop.abort());
  await runSupervisor(
    {
      clock: realClock,
      log,
      exec: realExec,
      list: async (dir) => {
        const names: string[] = [];
        try {
          for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
        return names;
      },
      mkdir: (dir, mode) => realFs.mkdir(dir, mode),
      spawn: realSpawn,
    },
    { dir: parsed.value.dir },
    stop.signal,
  );
  return 0;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`wirebuddy-node: ${err instanceof Error ? err.message : String(err)}\n`),
    );
    code = 64;
  }
  Deno.exit(code);
}
