// The master's configuration: every WIREBUDDY_* variable it reads, parsed once at start.
import { z } from "zod";
import {
  booleanText,
  durationText,
  type EnvResult,
  type EnvVar,
  isLoopback,
  listenText,
  parseEnv,
} from "../core/env.ts";
import type { LogLevel } from "../core/logger.ts";
import type { HashLimits } from "../core/password.ts";
import { Secret } from "../core/secret.ts";
import type { GuardLimits } from "./http/conn_guard.ts";
import type { BodyLimits } from "./http/middleware.ts";
import type { HealthIntervals } from "./service/health.ts";
import { count, sizeText, timeout } from "./config_schemas.ts";
import { parseSignIn, SIGN_IN_ENV, type SignInConfig } from "./config_sign_in.ts";
import { parseRotation, ROTATION_ENV, type RotationConfig } from "./config_rotation.ts";

export const MASTER_ENV: readonly EnvVar[] = [
  {
    name: "WIREBUDDY_DATA_DIR",
    schema: z.string().min(1).default("/var/lib/wirebuddy"),
    default: "/var/lib/wirebuddy",
    description: "Where the database, TLS certificate and key live (`scripts/dev` uses `./data`).",
  },
  {
    name: "WIREBUDDY_SECRET_KEY",
    schema: z.string().min(32, "must be at least 32 characters (try: openssl rand -base64 48)").optional(),
    required: "required",
    description:
      "Master secret: seals private keys at rest and signs tokens. Keep it safe; the database cannot be read without it. In dev mode one is generated into the data dir.",
  },
  {
    name: "WIREBUDDY_LISTEN",
    schema: listenText.default({ hostname: "0.0.0.0", port: 8443 }),
    default: "0.0.0.0:8443",
    description: "Address and port of the web UI, API and sync API.",
  },
  {
    name: "WIREBUDDY_PUBLIC_URL",
    schema: z.url({ protocol: /^https?$/, error: "must be an http(s) URL like https://vpn.example.com:8443" })
      .optional(),
    description:
      "The URL operators and nodes use to reach the master (default: derived from the listen address).",
  },
  {
    name: "WIREBUDDY_TLS",
    schema: z.enum(["self-signed", "files", "off"]).default("self-signed"),
    default: "self-signed",
    description:
      "`self-signed` (a P-256 certificate kept in the data dir), `files` (see below), or `off` (only on loopback or with `WIREBUDDY_TRUST_PROXY=true` behind a TLS-terminating proxy).",
  },
  {
    name: "WIREBUDDY_TLS_CERT_FILE",
    schema: z.string().min(1).optional(),
    description: "PEM certificate chain, with `WIREBUDDY_TLS=files`.",
  },
  {
    name: "WIREBUDDY_TLS_KEY_FILE",
    schema: z.string().min(1).optional(),
    description: "PEM private key, with `WIREBUDDY_TLS=files`.",
  },
  {
    name: "WIREBUDDY_TRUST_PROXY",
    schema: booleanText.default(false),
    default: "false",
    description: "Trust `X-Forwarded-For`/`X-Forwarded-Proto` from a reverse proxy on loopback.",
  },
  {
    name: "WIREBUDDY_SESSION_TTL",
    schema: durationText.default(12 * 3_600_000),
    default: "12h",
    description: "How long a UI session lasts before the user must log in again.",
  },
  {
    name: "WIREBUDDY_NODE_STALE_AFTER",
    schema: durationText.default(90_000),
    default: "90s",
    description: "A node whose last heartbeat is older than this is marked offline.",
  },
  {
    name: "WIREBUDDY_NODE_CHECK_INTERVAL",
    schema: durationText.default(60_000),
    default: "60s",
    description: "How often the master looks for stale nodes.",
  },
  {
    name: "WIREBUDDY_HEALTH_INTERVALS",
    schema: z.string().regex(
      /^\d+(ms|s|m|h)?(,\d+(ms|s|m|h)?){4}$/,
      "must be five durations like 30s,2m,5m,15m,30m",
    )
      .transform((v) => v.split(",").map((d) => durationText.parse(d)) as unknown as HealthIntervals)
      .default([30_000, 120_000, 300_000, 900_000, 1_800_000]),
    default: "30s,2m,5m,15m,30m",
    description:
      "Tunnel health check intervals after 0–2, 3–5, 6–10, 11–20 and 21+ consecutive failures (the node is offline from 3 failures, unreachable from 11).",
  },
  {
    name: "WIREBUDDY_HEALTH_TIMEOUT",
    schema: timeout(3_000),
    default: "3s",
    description: "A tunnel health check that gets no signed answer within this fails.",
  },
  {
    name: "WIREBUDDY_HEALTH_PORT",
    schema: count(1, 65535, 51821),
    default: "51821",
    description:
      "TCP port of the nodes' health responders (on their tunnel addresses only; set the same on the nodes).",
  },
  {
    name: "WIREBUDDY_CONFIG_APPLY_DEADLINE",
    schema: durationText.default(5 * 60_000),
    default: "5m",
    description:
      "A live node that has not applied its current config after this gets one `config.not_applied` event.",
  },
  {
    name: "WIREBUDDY_WEBHOOK_RETRY_MIN",
    schema: timeout(10_000),
    default: "10s",
    description: "Delay before a failed webhook delivery is retried; doubles with each failure.",
  },
  {
    name: "WIREBUDDY_WEBHOOK_RETRY_MAX",
    schema: timeout(3_600_000),
    default: "1h",
    description: "Longest delay between two attempts of a webhook delivery (15 attempts in all).",
  },
  {
    name: "WIREBUDDY_METRICS_TOKEN",
    schema: z.string().min(16, "must be at least 16 characters").optional(),
    description: "A scrape token for `GET /metrics` (Prometheus `bearer_token`); a read API token works too.",
  },
  {
    name: "WIREBUDDY_ENROLLMENT_TOKEN_TTL",
    schema: durationText.default(24 * 3_600_000),
    default: "24h",
    description: "How long a node enrollment token stays valid.",
  },
  {
    name: "WIREBUDDY_SYNC_RATE_LIMIT",
    schema: z.coerce.number().int().min(10).max(100_000).default(120),
    default: "120",
    description: "Sync requests allowed per node per minute (429 beyond).",
  },
  {
    name: "WIREBUDDY_PASSWORD_HASH_CONCURRENCY",
    schema: count(1, 64, 2),
    default: "2",
    description:
      "Password hashes (logins, password changes) computed at once; each takes 64 MiB for about 100 ms.",
  },
  {
    name: "WIREBUDDY_PASSWORD_HASH_QUEUE",
    schema: count(0, 10_000, 16),
    default: "16",
    description: "Password hashes that may wait for a free slot; beyond them a login is answered 503.",
  },
  {
    name: "WIREBUDDY_MAX_FORM_BODY",
    schema: sizeText.default(64 * 1024),
    default: "64KiB",
    description: "Largest request body of the web UI's forms (login, setup, every page); 413 beyond.",
  },
  {
    name: "WIREBUDDY_MAX_API_BODY",
    schema: sizeText.default(256 * 1024),
    default: "256KiB",
    description: "Largest request body of the JSON API; 413 beyond.",
  },
  {
    name: "WIREBUDDY_MAX_SYNC_BODY",
    schema: sizeText.default(512 * 1024),
    default: "512KiB",
    description: "Largest request body of the node sync API (a heartbeat with its metrics); 413 beyond.",
  },
  {
    name: "WIREBUDDY_BODY_TIMEOUT",
    schema: timeout(30_000),
    default: "30s",
    description: "A request body must arrive completely within this, or the request is refused (400).",
  },
  {
    name: "WIREBUDDY_HANDSHAKE_TIMEOUT",
    schema: timeout(10_000),
    default: "10s",
    description: "A new connection must finish its TLS handshake within this, or it is closed.",
  },
  {
    name: "WIREBUDDY_HEADER_TIMEOUT",
    schema: timeout(15_000),
    default: "15s",
    description:
      "A request's headers must arrive completely within this after its first byte, or the connection is closed.",
  },
  {
    name: "WIREBUDDY_IDLE_TIMEOUT",
    schema: timeout(60_000),
    default: "60s",
    description:
      "A connection with no request in progress and no bytes moving for this long is closed (a node's long-poll is a request in progress).",
  },
  {
    name: "WIREBUDDY_MAX_CONNECTIONS",
    schema: count(16, 1_000_000, 16384),
    default: "16384",
    description:
      "Open connections in all; more are closed at once. Each takes up to five file descriptors (three without TLS): the unit's `LimitNOFILE=131072` covers the default (a fleet of 10,000 nodes holds 10,000 long-polls).",
  },
  {
    name: "WIREBUDDY_MAX_CONNECTIONS_PER_ADDRESS",
    schema: count(1, 1_000_000, 64),
    default: "64",
    description:
      "Open connections from one client address; more are closed at once (not applied to a trusted proxy on loopback).",
  },
  ...SIGN_IN_ENV,
  ...ROTATION_ENV,
  {
    name: "WIREBUDDY_LOG_LEVEL",
    schema: z.enum(["debug", "info", "warn", "error"]).default("info"),
    default: "info",
    description: "`debug`, `info`, `warn` or `error`.",
  },
  {
    name: "WIREBUDDY_BACKUP_INTERVAL",
    schema: durationText.refine((ms) => ms >= 60_000, "must be at least 1m").optional(),
    description:
      "Make an encrypted backup into `backups` in the data dir this often (e.g. `1d`); unset: only on demand.",
  },
  {
    name: "WIREBUDDY_BACKUP_KEEP",
    schema: count(1, 10_000, 7),
    default: "7",
    description: "How many scheduled backups to keep (the oldest are removed).",
  },
  {
    name: "WIREBUDDY_BACKUP_PASSPHRASE_FILE",
    schema: z.string().min(1).optional(),
    description: "File holding the scheduled backups' passphrase (required with an interval).",
  },
  {
    name: "WIREBUDDY_DEV",
    schema: booleanText.default(false),
    default: "false",
    description:
      "Development mode: generates a secret key into the data dir when none is set (with a warning).",
  },
];

export type TlsConfig =
  | { mode: "self-signed" }
  | { mode: "files"; certFile: string; keyFile: string }
  | { mode: "off" };

export type MasterConfig = {
  dataDir: string;
  secretKey: Secret | null;
  listen: { hostname: string; port: number };
  publicUrl: URL;
  tls: TlsConfig;
  trustProxy: boolean;
  sessionTtlMs: number;
  logLevel: LogLevel;
  dev: boolean;
  nodeStaleAfterMs: number;
  nodeCheckIntervalMs: number;
  enrollmentTokenTtlMs: number;
  syncRatePerMinute: number;
  health: { intervals: HealthIntervals; timeoutMs: number; port: number; notAppliedAfterMs: number };
  webhookRetry: { baseDelayMs: number; maxDelayMs: number };
  metricsToken: Secret | null;
  hashing: HashLimits;
  bodies: BodyLimits;
  connections: GuardLimits;
  backup: { intervalMs: number; dir: string; keep: number; passphraseFile: string } | null;
  signIn: SignInConfig;
  rotation: RotationConfig;
};

/**
 * The origins a browser may post from: the public URL's, and the listen address's (loopback when
 * listening on every address). Never the request's own Host header, which an attacker's DNS controls.
 */
export function trustedOrigins(config: Pick<MasterConfig, "publicUrl" | "listen" | "tls">): string[] {
  const scheme = config.tls.mode === "off" ? "http" : "https";
  const { hostname, port } = config.listen;
  const hosts = ["0.0.0.0", "::"].includes(hostname)
    ? ["127.0.0.1", "[::1]", "localhost"]
    : [hostname.includes(":") ? `[${hostname}]` : hostname];
  const origins = hosts.map((h) => new URL(`${scheme}://${h}:${port}`).origin);
  return [...new Set([config.publicUrl.origin, ...origins])];
}

export function parseMasterEnv(env: Record<string, string | undefined>): EnvResult<MasterConfig> {
  return parseEnv(MASTER_ENV, env, (raw) => {
    const problems: string[] = [];
    const listen = raw.WIREBUDDY_LISTEN as MasterConfig["listen"];
    const dev = raw.WIREBUDDY_DEV as boolean;
    const trustProxy = raw.WIREBUDDY_TRUST_PROXY as boolean;
    const secret = raw.WIREBUDDY_SECRET_KEY as string | undefined;
    if (!secret && !dev) {
      problems.push("WIREBUDDY_SECRET_KEY is required (generate one: openssl rand -base64 48)");
    }

    let tls: TlsConfig = { mode: "self-signed" };
    const mode = raw.WIREBUDDY_TLS as TlsConfig["mode"];
    if (mode === "files") {
      const certFile = raw.WIREBUDDY_TLS_CERT_FILE as string | undefined;
      const keyFile = raw.WIREBUDDY_TLS_KEY_FILE as string | undefined;
      if (!certFile) problems.push("WIREBUDDY_TLS_CERT_FILE is required when WIREBUDDY_TLS=files");
      if (!keyFile) problems.push("WIREBUDDY_TLS_KEY_FILE is required when WIREBUDDY_TLS=files");
      tls = { mode, certFile: certFile ?? "", keyFile: keyFile ?? "" };
    } else if (mode === "off") {
      if (!isLoopback(listen.hostname) && !trustProxy) {
        problems.push(
          `WIREBUDDY_TLS=off is only allowed on a loopback address or with WIREBUDDY_TRUST_PROXY=true (listen is ${listen.hostname})`,
        );
      }
      tls = { mode };
    }

    const scheme = mode === "off" && !trustProxy ? "http" : "https";
    const host = ["0.0.0.0", "::"].includes(listen.hostname) ? "127.0.0.1" : listen.hostname;
    const publicUrl = new URL(
      (raw.WIREBUDDY_PUBLIC_URL as string | undefined) ??
        `${scheme}://${host.includes(":") ? `[${host}]` : host}:${listen.port}`,
    );
    const backupEvery = raw.WIREBUDDY_BACKUP_INTERVAL as number | undefined;
    const passphraseFile = raw.WIREBUDDY_BACKUP_PASSPHRASE_FILE as string | undefined;
    if (backupEvery && !passphraseFile) {
      problems.push("WIREBUDDY_BACKUP_PASSPHRASE_FILE is required with WIREBUDDY_BACKUP_INTERVAL");
    }
    const signIn = parseSignIn(raw, problems);
    if (problems.length > 0) return { ok: false, problems };
    const dataDir = raw.WIREBUDDY_DATA_DIR as string;
    const [dir, keep] = [`${dataDir}/backups`, raw.WIREBUDDY_BACKUP_KEEP as number];
    const backup = backupEvery && passphraseFile
      ? { intervalMs: backupEvery, dir, keep, passphraseFile }
      : null;
    return {
      ok: true,
      value: {
        dataDir,
        secretKey: secret ? new Secret(secret) : null,
        listen,
        publicUrl,
        tls,
        trustProxy,
        sessionTtlMs: raw.WIREBUDDY_SESSION_TTL as number,
        logLevel: raw.WIREBUDDY_LOG_LEVEL as LogLevel,
        dev,
        nodeStaleAfterMs: raw.WIREBUDDY_NODE_STALE_AFTER as number,
        nodeCheckIntervalMs: raw.WIREBUDDY_NODE_CHECK_INTERVAL as number,
        enrollmentTokenTtlMs: raw.WIREBUDDY_ENROLLMENT_TOKEN_TTL as number,
        syncRatePerMinute: raw.WIREBUDDY_SYNC_RATE_LIMIT as number,
        health: {
          intervals: raw.WIREBUDDY_HEALTH_INTERVALS as HealthIntervals,
          timeoutMs: raw.WIREBUDDY_HEALTH_TIMEOUT as number,
          port: raw.WIREBUDDY_HEALTH_PORT as number,
          notAppliedAfterMs: raw.WIREBUDDY_CONFIG_APPLY_DEADLINE as number,
        },
        webhookRetry: {
          baseDelayMs: raw.WIREBUDDY_WEBHOOK_RETRY_MIN as number,
          maxDelayMs: raw.WIREBUDDY_WEBHOOK_RETRY_MAX as number,
        },
        metricsToken: raw.WIREBUDDY_METRICS_TOKEN ? new Secret(raw.WIREBUDDY_METRICS_TOKEN as string) : null,
        hashing: {
          concurrency: raw.WIREBUDDY_PASSWORD_HASH_CONCURRENCY as number,
          queue: raw.WIREBUDDY_PASSWORD_HASH_QUEUE as number,
        },
        bodies: {
          formBytes: raw.WIREBUDDY_MAX_FORM_BODY as number,
          apiBytes: raw.WIREBUDDY_MAX_API_BODY as number,
          syncBytes: raw.WIREBUDDY_MAX_SYNC_BODY as number,
          timeoutMs: raw.WIREBUDDY_BODY_TIMEOUT as number,
        },
        connections: {
          handshakeTimeoutMs: raw.WIREBUDDY_HANDSHAKE_TIMEOUT as number,
          headerTimeoutMs: raw.WIREBUDDY_HEADER_TIMEOUT as number,
          idleTimeoutMs: raw.WIREBUDDY_IDLE_TIMEOUT as number,
          maxTotal: raw.WIREBUDDY_MAX_CONNECTIONS as number,
          maxPerAddress: raw.WIREBUDDY_MAX_CONNECTIONS_PER_ADDRESS as number,
        },
        backup,
        signIn,
        rotation: parseRotation(raw),
      },
    };
  });
}
