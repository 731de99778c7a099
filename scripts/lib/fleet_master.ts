// The master under test for scripts/bench-fleet, in a process of its own (so its CPU and RSS are its
// own): the real services and HTTP app served by Deno.serve over TLS on 127.0.0.1, with the liveness
// and housekeeping jobs. It trusts X-Forwarded-For from loopback (bench only), so each simulated node
// enrolls and syncs from an address of its own. Prints one JSON line when ready
// ({ port, cert, token }); SIGTERM or a closed stdin stops it (long-polls answered at once).
import { parseArgs } from "node:util";
import { createApp } from "../../src/master/app.tsx";
import { openDb } from "../../src/master/db/db.ts";
import { runScheduler } from "../../src/master/scheduler.ts";
import { initSecrets } from "../../src/master/service/secrets.ts";
import { createServices } from "../../src/master/service/services.ts";
import { createLogger } from "../../src/core/logger.ts";
import { realClock } from "../../src/core/ports/real.ts";
import { selfSignedCert } from "../../src/core/x509.ts";

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
  try {
    return await app.fetch(req, { remoteAddr: (info.remoteAddr as Deno.NetAddr).hostname });
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
// The bench's end (or its crash) closes stdin: never outlive it.
(async () => {
  for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  await shutdown();
})();
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ port, cert: cert.certPem, token }) + "\n"));
