// The master under test for scripts/bench-fleet, in a process of its own (so its CPU and RSS are its
// own): the real services and HTTP app served by Deno.serve over TLS on 127.0.0.1, with the liveness
// and housekeeping jobs. It trusts X-Forwarded-For from loopback (bench only), so each simulated node
// enrolls and syncs from an address of its own. Prints one JSON line when ready
// ({ port, cert, token }); SIGTERM or a closed stdin stops it (long-polls answered at once). A line
// "measure [label]" on stdin starts timing heartbeats inside the master (from the handler's call to its answer)
// and its event loop's lag; "report" prints them to stderr, so a heartbeat's latency seen by the
// simulated nodes can be told apart from the time the master's own thread spent on it.
import { parseArgs } from "node:util";
import { getHeapStatistics } from "node:v8";
import { createApp } from "../../src/master/app.tsx";
import { openDb } from "../../src/master/db/db.ts";
import { runScheduler } from "../../src/master/scheduler.ts";
import { initSecrets } from "../../src/master/service/secrets.ts";
import { createServices } from "../../src/master/service/services.ts";
import { createLogger } from "../../src/core/logger.ts";
import { realClock } from "../../src/core/ports/real.ts";
import { selfSignedCert } from "../../src/core/x509.ts";
import { lagMeter, pct } from "./stats.ts";

const args = parseArgs({ options: { dir: { type: "string" } } }).values;
const dir = args.dir ?? await Deno.makeTempDir({ prefix: "wb-fleet-" });
const log = createLogger({
  sink: (line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")),
  level: "warn",
});
const db = openDb(`${dir}/master.db`, Date.now());
const keys = await initSecrets(db, "bench-fleet-secret-0123456789-abcdefghijklmnop");
const cert = await selfSignedCert("127.0.0.1", { ip: ["127.0.0.1"] }, new Date());
const stop = new AbortController();
let port = 0;
let inFlight = 0;
const seen = { measuring: false, label: "", hb: [] as number[], lags: [] as number[], inFlightMax: 0 };
lagMeter(() => seen.measuring ? seen.lags : null);
const publicUrl = new URL("https://127.0.0.1:0");
const listening = Promise.withResolvers<void>();
// deno-lint-ignore prefer-const
let app: ReturnType<typeof createApp>;
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  cert: cert.certPem,
  key: cert.keyPem,
  signal: stop.signal,
  onListen: (a) => {
    port = a.port;
    listening.resolve();
  },
}, async (req, info) => {
  inFlight++;
  seen.inFlightMax = Math.max(seen.inFlightMax, inFlight);
  const started = performance.now();
  try {
    const res = await app.fetch(req, { remoteAddr: (info.remoteAddr as Deno.NetAddr).hostname });
    if (seen.measuring && req.method === "POST" && req.url.endsWith("/api/sync/heartbeat")) {
      seen.hb.push(performance.now() - started);
    }
    return res;
  } finally {
    inFlight--;
  }
});
await listening.promise;
publicUrl.port = String(port);
const services = await createServices(db, realClock, keys, log, {
  sessionTtlMs: 3_600_000,
  publicHost: "127.0.0.1",
  publicUrl,
  tls: { cert: cert.certPem, fingerprint: cert.fingerprint },
});
app = createApp(services, { publicUrl, trustProxy: true });

const system = { kind: "system" as const, name: "bench" };
const admin = await services.accounts.create(system, null, {
  username: "bench",
  password: "bench password 123",
  role: "admin",
});
const actor = {
  kind: "user" as const,
  userId: admin.id,
  username: "bench",
  role: "admin" as const,
  sessionHash: "",
};
const { token } = await services.tokens.create(actor, null, { name: "bench", scope: "write" });

const jobs = runScheduler(
  [
    { name: "mark stale nodes", everyMs: 60_000, run: () => services.liveness.markStale() },
    { name: "metrics housekeeping", everyMs: 10 * 60_000, run: () => services.liveness.housekeeping() },
  ],
  { clock: realClock, log },
  stop.signal,
);

async function shutdown(): Promise<void> {
  if (stop.signal.aborted) return;
  services.configVersions.shutdown();
  stop.abort();
  // Bounded: a stop that takes longer shows in the bench's table as a missed stop.
  await Promise.race([server.finished, new Promise((r) => setTimeout(r, 20_000))]);
  await jobs;
  // Requests already inside the app finish before the database closes (at most 5 s).
  for (let i = 0; inFlight > 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
  db.close();
  if (!args.dir) await Deno.remove(dir, { recursive: true });
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", shutdown);
/**
 * Where the RSS is: V8's heap (used of total), memory outside it that V8 tracks, and the rest; read from
 * V8's statistics and /proc (a profile at 3,000 connections put a 254 ms stall in the Deno.memoryUsage()
 * version, right before the fan-out it was meant to describe). The report says how long it took.
 */
function memory(): string {
  const h = getHeapStatistics();
  const pages = Number(Deno.readTextFileSync("/proc/self/statm").split(" ")[1]);
  const rss = pages * 4096;
  const mb = (n: number) => Math.round(n / 1048576);
  return `RSS ${mb(rss)}, heap ${mb(h.used_heap_size)} of ${mb(h.total_heap_size)}, external ${
    mb(h.external_memory)
  }, other ${mb(rss - h.total_heap_size - h.external_memory)}`;
}
function command(line: string): void {
  if (line.startsWith("measure")) {
    const label = line.slice("measure".length).trim();
    Object.assign(seen, { measuring: true, label, hb: [], lags: [], inFlightMax: inFlight });
  } else if (line === "report") {
    seen.measuring = false;
    const t = performance.now();
    const mem = memory();
    const took = performance.now() - t;
    const f = (x: number) => Number.isNaN(x) ? "-" : x.toFixed(1);
    Deno.stderr.writeSync(new TextEncoder().encode(
      `  inside the master${seen.label ? ` (${seen.label})` : ""}: heartbeat handler p50/p99/max ${
        f(pct(seen.hb, 50))
      } / ${f(pct(seen.hb, 99))} / ${f(pct(seen.hb, 100))} ms (${seen.hb.length}), event loop lag p99/max ${
        f(pct(seen.lags, 99))
      } / ${
        f(pct(seen.lags, 100))
      } ms, requests in the app at most ${seen.inFlightMax}; memory MB: ${mem} (read in ${f(took)} ms)\n`,
    ));
  }
}
// The bench's end (or its crash) closes stdin: never outlive it.
(async () => {
  let buf = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      command(buf.slice(0, i).trim());
      buf = buf.slice(i + 1);
    }
  }
  await shutdown();
})();
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ port, cert: cert.certPem, token }) + "\n"));
