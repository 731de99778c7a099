// wirebuddy-master: wiring only. Parses the command line and WIREBUDDY_* once, builds the real ports,
// and runs `serve` (default), `admin create|reset-password|token`, `node local-token`, `version` or
// `--help`.
import { parseArgs } from "node:util";
import { EX_CONFIG } from "../core/env.ts";
import { AppError } from "../core/errors.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import { realClock, realFs, realResolveHost, stderrSink } from "../core/ports/real.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { createApp } from "./app.tsx";
import { bootMaster, resolveSecretKey } from "./boot.ts";
import { backupCommand, backupJob, restoreCommand } from "./backup_cli.ts";
import { type MasterConfig, parseMasterEnv, trustedOrigins } from "./config.ts";
import { serveGuarded } from "./http/conn_guard.ts";
import { SCHEMA_VERSION } from "./db/db.ts";
import { masterJobs, rotationJobs, runScheduler } from "./scheduler.ts";
import { tcpProbe } from "./health_probe.ts";
import { tcpDnsExchange } from "./dns_tcp.ts";

const VERSION = denoJson.version;
const print = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));

const HELP = `wirebuddy-master ${VERSION}: the WireBuddy control plane (web UI, JSON API, node sync).

Usage:
  wirebuddy-master [serve]                              run the server (default)
  wirebuddy-master admin create --username NAME         create an admin; password from stdin
  wirebuddy-master admin reset-password --username NAME set a password from stdin; ends sessions
  wirebuddy-master admin token --username NAME [--scope read|write] [--name N] [--expires-in-days D]
                                                        print a new API token of an admin (for automation)
  wirebuddy-master node local-token                     print a new enrollment token for the master's own
                                                        \`local\` node (used by install.sh; old ones stop working)
  wirebuddy-master backup [--out FILE|-] [--passphrase-file F]
                                                        write an encrypted backup (database, secret key, TLS
                                                        identity) to FILE, stdout (-) or the data dir's
                                                        backups/; passphrase from stdin or F, never argv
  wirebuddy-master restore FILE|- [--passphrase-file F] restore a backup into the data dir (stop the master
                                                        first); with -, stdin holds the passphrase line and
                                                        then the backup; exit 65 damaged file, 77 wrong
                                                        passphrase, 78 backup from a newer schema
  wirebuddy-master version                              print the version
  wirebuddy-master --help                               this text

Configuration comes from WIREBUDDY_* environment variables (see README.md).
`;

function fail(log: Logger, err: unknown): never {
  if (err instanceof AppError && err.code === "config") {
    log.error(err.message);
    Deno.exit(EX_CONFIG);
  }
  log.error("failed", { err: err instanceof Error ? err.message : String(err) });
  Deno.exit(1);
}

async function readPasswordFromStdin(): Promise<string> {
  if (Deno.stdin.isTerminal()) {
    throw new AppError(
      "bad_request",
      'Pipe the password on stdin, e.g. `printf %s "$PW" | wirebuddy-master admin create ...`',
    );
  }
  const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
  return text.replace(/\r?\n$/, "");
}

async function serve(config: MasterConfig, log: Logger): Promise<void> {
  const fleet = {
    probe: tcpProbe((o) => Deno.connect(o)),
    dnsExchange: tcpDnsExchange((o) => Deno.connect(o)),
    resolveHost: (host: string) => realResolveHost(host),
    fetch: globalThis.fetch,
    processStats: () => {
      const m = Deno.memoryUsage();
      return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
    },
    version: VERSION,
    metricsToken: config.metricsToken,
  };
  const ports = { fs: realFs, clock: realClock, log, fleet, version: VERSION };
  const { services, tls, close } = await bootMaster(config, ports);
  // A duration as its variable takes it: 12h, 90s, 5m (the largest unit that divides it exactly).
  const secs = (ms: number) =>
    ms % 3_600_000 === 0
      ? `${ms / 3_600_000}h`
      : ms % 60_000 === 0
      ? `${ms / 60_000}m`
      : ms % 1000 === 0
      ? `${ms / 1000}s`
      : `${ms}ms`;
  const settings = [
    { label: "Public URL", value: config.publicUrl.href, env: "WIREBUDDY_PUBLIC_URL" },
    { label: "Listen", value: `${config.listen.hostname}:${config.listen.port}`, env: "WIREBUDDY_LISTEN" },
    { label: "TLS", value: config.tls.mode, env: "WIREBUDDY_TLS" },
    ...(tls
      ? [{ label: "TLS certificate SHA-256 (the pin in node tokens)", value: tls.fingerprint, env: "" }]
      : []),
    { label: "Behind a trusted proxy", value: String(config.trustProxy), env: "WIREBUDDY_TRUST_PROXY" },
    { label: "Data directory", value: config.dataDir, env: "WIREBUDDY_DATA_DIR" },
    { label: "Session lifetime", value: secs(config.sessionTtlMs), env: "WIREBUDDY_SESSION_TTL" },
    { label: "Node offline after", value: secs(config.nodeStaleAfterMs), env: "WIREBUDDY_NODE_STALE_AFTER" },
    {
      label: "Node check interval",
      value: secs(config.nodeCheckIntervalMs),
      env: "WIREBUDDY_NODE_CHECK_INTERVAL",
    },
    {
      label: "Enrollment token lifetime",
      value: secs(config.enrollmentTokenTtlMs),
      env: "WIREBUDDY_ENROLLMENT_TOKEN_TTL",
    },
    {
      label: "Sync requests per node per minute",
      value: String(config.syncRatePerMinute),
      env: "WIREBUDDY_SYNC_RATE_LIMIT",
    },
    { label: "Log level", value: config.logLevel, env: "WIREBUDDY_LOG_LEVEL" },
    { label: "Version", value: `${VERSION} (schema v${SCHEMA_VERSION})`, env: "" },
  ];
  const app = createApp(services, {
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    origins: trustedOrigins(config),
    bodies: config.bodies,
    settings,
  });

  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      log.info("shutting down", { signal });
      services.configVersions.shutdown(); // answer waiting long-polls now: Deno.serve waits for open requests
      stop.abort();
    });
  }
  // Deno.serve behind a relay that enforces handshake, header and idle timeouts and connection caps.
  const net = { listen: Deno.listen, listenTls: Deno.listenTls, connect: Deno.connect, serve: Deno.serve };
  const server = serveGuarded(net, {
    hostname: config.listen.hostname,
    port: config.listen.port,
    tls: tls ? { cert: tls.cert, key: tls.key } : null,
    limits: config.connections,
    trustLoopback: config.trustProxy,
    signal: stop.signal,
    warn: (message, fields) => log.warn(message, fields),
    onListen: () => {
      log.info("WireBuddy master listening", {
        url: config.publicUrl.href,
        listen: `${config.listen.hostname}:${config.listen.port}`,
        tls: config.tls.mode,
        ...(tls ? { tls_sha256: tls.fingerprint } : {}),
        version: VERSION,
      });
    },
  }, (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr.hostname }));

  const jobs = runScheduler(
    [
      ...masterJobs(services, { staleCheckMs: config.nodeCheckIntervalMs }),
      ...(config.backup && services.backups ? [backupJob(services.backups, config.backup)] : []),
      ...rotationJobs(services, config.rotation),
    ],
    { clock: realClock, log },
    stop.signal,
  );

  services.sync.warmSecrets().then(
    (n) => log.debug("opened sealed keys ahead of the first sync", { count: n }),
    (err) => log.error("cannot open sealed keys", { err: err instanceof Error ? err.message : String(err) }),
  );

  const setup = await services.accounts.newSetupToken();
  if (setup) {
    const url = new URL(`/setup?token=${setup.token}`, config.publicUrl).href;
    log.warn(`No admin account yet. Open this one-time setup link to create one: ${url}`, {
      valid_until: new Date(setup.expiresAt).toISOString(),
    });
  }
  await server.finished;
  await jobs;
  close();
  log.info("stopped");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      help: { type: "boolean", short: "h" },
      username: { type: "string" },
      name: { type: "string" },
      scope: { type: "string" },
      "expires-in-days": { type: "string" },
      out: { type: "string" },
      "passphrase-file": { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command = "serve", sub] = positionals;
  if (values.help || command === "help") {
    print(HELP);
    return;
  }
  if (command === "version") {
    print(`wirebuddy-master ${VERSION} (deno ${Deno.version.deno}, schema v${SCHEMA_VERSION})`);
    return;
  }

  const env = Deno.env.toObject();
  const format = env.JOURNAL_STREAM ? "journald" : "terminal";
  const early = createLogger({ sink: stderrSink, format });
  const parsed = parseMasterEnv(env);
  if (!parsed.ok) {
    for (const p of parsed.problems) early.error(`configuration: ${p}`);
    Deno.exit(EX_CONFIG);
  }
  const config = parsed.value;
  const log = createLogger({ sink: stderrSink, format, level: config.logLevel });

  try {
    if (command === "serve") return await serve(config, log);
    if (command === "admin" && (sub === "create" || sub === "reset-password")) {
      if (!values.username) throw new AppError("bad_request", "--username is required");
      const password = await readPasswordFromStdin();
      const { services, close } = await bootMaster(config, { fs: realFs, clock: realClock, log });
      try {
        const user = await services.accounts.cliUpsertAdmin(
          values.username,
          password,
          sub === "create" ? "create" : "reset",
        );
        log.info(sub === "create" ? "admin created" : "password reset; the user's sessions were ended", {
          username: user.username,
        });
      } finally {
        close();
      }
      return;
    }
    if (command === "admin" && sub === "token") {
      // An API token for automation (install scripts, tests): printed once on stdout, audited as "cli".
      if (!values.username) throw new AppError("bad_request", "--username is required");
      const { services, close } = await bootMaster(config, { fs: realFs, clock: realClock, log });
      try {
        const user = services.accounts.list().find((u) =>
          u.username.toLowerCase() === values.username!.toLowerCase()
        );
        if (!user) throw new AppError("not_found", `User "${values.username}" not found`);
        const actor = {
          kind: "user" as const,
          userId: user.id,
          username: user.username,
          role: user.role,
          sessionHash: "",
        };
        const { token } = await services.tokens.create(actor, null, {
          name: values.name ?? "cli",
          scope: values.scope ?? "write",
          expires_in_days: Number(values["expires-in-days"] ?? 90),
        });
        print(token);
      } finally {
        close();
      }
      return;
    }
    if (command === "backup" || command === "restore") {
      const ports = { fs: realFs, clock: realClock, log, version: VERSION };
      const io = {
        print,
        write: async (text: string) => void await Deno.stdout.write(new TextEncoder().encode(text)),
        readStdin: async () =>
          Deno.stdin.isTerminal()
            ? null
            : new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer()),
        // Whether something answers on the master's listen port (a running master: restore refuses).
        listening: async () => {
          const hostname = ["0.0.0.0", "::"].includes(config.listen.hostname)
            ? "127.0.0.1"
            : config.listen.hostname;
          try {
            (await Deno.connect({ hostname, port: config.listen.port })).close();
            return true;
          } catch {
            return false;
          }
        },
      };
      const code = command === "backup"
        ? await backupCommand(config, ports, io, {
          out: values.out,
          passphraseFile: values["passphrase-file"],
        })
        : await restoreCommand(config, ports, io, {
          file: sub,
          passphraseFile: values["passphrase-file"],
          secretKey: await resolveSecretKey(config, ports),
        });
      if (code !== 0) Deno.exit(code);
      return;
    }
    if (command === "node" && sub === "local-token") {
      // The master host's own data plane (wirebuddy-node beside the master) enrolls with this; install.sh
      // runs it at first install, before any admin exists. Printed once on stdout, audited as "installer".
      const { services, close } = await bootMaster(config, { fs: realFs, clock: realClock, log });
      try {
        const local = services.nodes.list().find((n) => n.isLocal)!;
        print(await services.nodes.regenerateToken({ kind: "system", name: "installer" }, null, local.id));
      } finally {
        close();
      }
      return;
    }
    throw new AppError("bad_request", `Unknown command "${positionals.join(" ")}". Try --help.`);
  } catch (err) {
    if (err instanceof AppError && err.code !== "config" && err.code !== "internal") {
      log.error(err.message);
      Deno.exit(err.code === "bad_request" ? 64 : 1);
    }
    fail(log, err);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    // parseArgs errors (unknown flag) land here
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `wirebuddy-master: ${err instanceof Error ? err.message : String(err)}\n\n${HELP}` + "\n",
      ),
    );
    Deno.exit(64);
  }
}
