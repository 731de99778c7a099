// The node's configuration: every WIREBUDDY_* variable it reads, parsed once at start.
import { z } from "zod";
import { durationText, type EnvResult, type EnvVar, parseEnv } from "../core/env.ts";
import type { LogLevel } from "../core/logger.ts";
import { Secret } from "../core/secret.ts";

export const NODE_ENV: readonly EnvVar[] = [
  {
    name: "WIREBUDDY_ENROLLMENT_TOKEN",
    schema: z.string().trim().max(8000).optional(),
    required: "first start",
    description:
      "The token from the master's Nodes page (it carries the master URL and TLS pin). Needed only until the node has enrolled.",
  },
  {
    name: "WIREBUDDY_NODE_DATA_DIR",
    schema: z.string().min(1).default("/var/lib/wirebuddy-node"),
    default: "/var/lib/wirebuddy-node",
    description: "Identity key and certificate, WireGuard keys, the last good config and the metrics queue.",
  },
  {
    name: "WIREBUDDY_MASTER_URL",
    schema: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    description: "Override the master URL from the token (e.g. the master's own `local` node on loopback).",
  },
  {
    name: "WIREBUDDY_WG_IMPL",
    schema: z.enum(["auto", "kernel", "userspace"]).default("auto"),
    default: "auto",
    description: "`kernel` WireGuard, `userspace` (wireguard-go), or `auto`: kernel when it is available.",
  },
  {
    name: "WIREBUDDY_WIREGUARD_GO_DIR",
    schema: z.string().regex(/^\/\S+$/, "must be an absolute path").optional(),
    description:
      "Where wirebuddy-wireguard-go.service takes requests for userspace interfaces (install.sh sets `/run/wireguard/.wirebuddy` where the kernel has no WireGuard). Unset: the node starts wireguard-go itself, and it then ends with the node's unit.",
  },
  {
    name: "WIREBUDDY_HEARTBEAT_INTERVAL",
    schema: durationText.default(30_000),
    default: "30s",
    description: "How often the node reports status and sends queued metrics.",
  },
  {
    name: "WIREBUDDY_METRICS_INTERVAL",
    schema: durationText.default(30_000),
    default: "30s",
    description: "How often the node samples `wg show` into its metrics queue.",
  },
  {
    name: "WIREBUDDY_RECONCILE_INTERVAL",
    schema: durationText.default(30_000),
    default: "30s",
    description: "How often the node re-checks its host against the config (repairs hand edits and reboots).",
  },
  {
    name: "WIREBUDDY_DRIFT_INTERVAL",
    schema: durationText.default(60_000),
    default: "60s",
    description:
      "Longest time between full reads of the host (`wg show`, `ip`, `iptables-save`): peer changes in between are applied against the last read, and a hand edit is repaired by the next full read (also after any failed apply). 0 reads the host on every tick.",
  },
  {
    name: "WIREBUDDY_CONFIG_WAIT",
    schema: durationText.default(50_000),
    default: "50s",
    description: "How long one config long-poll waits for a change before asking again.",
  },
  {
    name: "WIREBUDDY_REQUEST_TIMEOUT",
    schema: durationText.default(20_000),
    default: "20s",
    description:
      "How long one request to the master may take before it counts as failed (a config long-poll gets WIREBUDDY_CONFIG_WAIT on top).",
  },
  {
    name: "WIREBUDDY_BACKOFF_MIN",
    schema: durationText.default(5_000),
    default: "5s",
    description: "First retry delay after a failed sync (doubles, with jitter).",
  },
  {
    name: "WIREBUDDY_BACKOFF_MAX",
    schema: durationText.default(300_000),
    default: "5m",
    description:
      "Longest retry delay after failed syncs. Heartbeats retry at least once per WIREBUDDY_HEARTBEAT_INTERVAL, and the first one that gets through wakes the config pull.",
  },
  {
    name: "WIREBUDDY_METRICS_QUEUE_MAX",
    schema: z.coerce.number().int().min(10).max(1_000_000).default(10_000),
    default: "10000",
    description: "Samples kept while the master is unreachable; the oldest are dropped (and counted) beyond.",
  },
  {
    name: "WIREBUDDY_HEALTH_PORT",
    schema: z.coerce.number().int().min(0).max(65535).default(51821),
    default: "51821",
    description:
      "TCP port of the health responder the master's tunnel check reaches, bound only to this node's tunnel addresses (0: off; the node then never counts as online).",
  },
  {
    name: "WIREBUDDY_DNS_DIR",
    schema: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, "must be an absolute path").default(
      "/etc/unbound/wirebuddy",
    ),
    default: "/etc/unbound/wirebuddy",
    description:
      "DNS (the master's `local` node only): the directory whose `wb-*.conf` files Unbound includes; the node writes them.",
  },
  {
    name: "WIREBUDDY_UNBOUND_CONF",
    schema: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, "must be an absolute path").default(
      "/etc/unbound/unbound.conf",
    ),
    default: "/etc/unbound/unbound.conf",
    description: "DNS: the Unbound configuration `unbound-control -c` reads its local control socket from.",
  },
  {
    name: "WIREBUDDY_DNSTAP_SOCKET",
    schema: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, "must be an absolute path").default(
      "/run/wirebuddy-node/dnstap.sock",
    ),
    default: "/run/wirebuddy-node/dnstap.sock",
    description: "DNS: the unix socket the node receives the query log's answers on (Unbound's dnstap).",
  },
  {
    name: "WIREBUDDY_UNBOUND_LOG",
    schema: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, "must be an absolute path").default(
      "/var/lib/unbound/wirebuddy-replies.log",
    ),
    default: "/var/lib/unbound/wirebuddy-replies.log",
    description:
      "DNS: Unbound's logfile with a line per reply, which the node tails into the query log (survives reloads and restarts).",
  },
  {
    name: "WIREBUDDY_KEEPALIVED",
    schema: z.string().regex(/^[A-Za-z0-9_./-]+$/, "must be a program name or path").default("keepalived"),
    default: "keepalived",
    description:
      "Failover pools announced by VRRP: the keepalived program (Debian's `keepalived`) the node runs as its child, only while its config has such a pool.",
  },
  {
    name: "WIREBUDDY_KEEPALIVED_DIR",
    schema: z.string().regex(/^\/[A-Za-z0-9_./-]+$/, "must be an absolute path").optional(),
    description:
      "Failover pools: the node's own directory for keepalived's config, the pools' track files, the notify fifo and the pid files (default: `keepalived` in WIREBUDDY_NODE_DATA_DIR). Several nodes on one machine need one each.",
  },
  {
    name: "WIREBUDDY_LOG_LEVEL",
    schema: z.enum(["debug", "info", "warn", "error"]).default("info"),
    default: "info",
    description: "`debug`, `info`, `warn` or `error`.",
  },
];

export type NodeDaemonConfig = {
  token: Secret | null;
  dataDir: string;
  masterUrl: string | null;
  wgImpl: "auto" | "kernel" | "userspace";
  /** WIREBUDDY_WIREGUARD_GO_DIR: a supervisor starts wireguard-go (null: the engine does). */
  wireguardGoDir: string | null;
  heartbeatMs: number;
  metricsMs: number;
  reconcileMs: number;
  /** WIREBUDDY_DRIFT_INTERVAL: the longest time between full observes of the host. */
  driftMs: number;
  configWaitMs: number;
  requestTimeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  queueMax: number;
  /** The tunnel health responder's port (0 or absent: off). */
  healthPort?: number;
  /** Unbound's include directory, control configuration and the query log's socket (dns/unbound.ts). */
  dns?: { dir: string; controlConf: string; dnstapSocket: string; replyLog: string };
  /** keepalived for the VRRP pools: the program and the node's own directory for it (pools/keepalived.ts). */
  keepalived?: { program: string; dir: string };
  logLevel: LogLevel;
};

export function parseNodeEnv(env: Record<string, string | undefined>): EnvResult<NodeDaemonConfig> {
  return parseEnv(NODE_ENV, env, (raw) => {
    const min = raw.WIREBUDDY_BACKOFF_MIN as number;
    const max = raw.WIREBUDDY_BACKOFF_MAX as number;
    if (max < min) {
      return {
        ok: false,
        problems: ["WIREBUDDY_BACKOFF_MAX must not be shorter than WIREBUDDY_BACKOFF_MIN"],
      };
    }
    const token = raw.WIREBUDDY_ENROLLMENT_TOKEN as string | undefined;
    return {
      ok: true,
      value: {
        token: token ? new Secret(token) : null,
        dataDir: raw.WIREBUDDY_NODE_DATA_DIR as string,
        masterUrl: (raw.WIREBUDDY_MASTER_URL as string | undefined)?.replace(/\/$/, "") ?? null,
        wgImpl: raw.WIREBUDDY_WG_IMPL as NodeDaemonConfig["wgImpl"],
        wireguardGoDir: (raw.WIREBUDDY_WIREGUARD_GO_DIR as string | undefined) ?? null,
        heartbeatMs: raw.WIREBUDDY_HEARTBEAT_INTERVAL as number,
        metricsMs: raw.WIREBUDDY_METRICS_INTERVAL as number,
        reconcileMs: raw.WIREBUDDY_RECONCILE_INTERVAL as number,
        driftMs: raw.WIREBUDDY_DRIFT_INTERVAL as number,
        healthPort: raw.WIREBUDDY_HEALTH_PORT as number,
        configWaitMs: raw.WIREBUDDY_CONFIG_WAIT as number,
        requestTimeoutMs: raw.WIREBUDDY_REQUEST_TIMEOUT as number,
        backoffMinMs: min,
        backoffMaxMs: max,
        queueMax: raw.WIREBUDDY_METRICS_QUEUE_MAX as number,
        dns: {
          dir: raw.WIREBUDDY_DNS_DIR as string,
          controlConf: raw.WIREBUDDY_UNBOUND_CONF as string,
          dnstapSocket: raw.WIREBUDDY_DNSTAP_SOCKET as string,
          replyLog: raw.WIREBUDDY_UNBOUND_LOG as string,
        },
        keepalived: {
          program: raw.WIREBUDDY_KEEPALIVED as string,
          dir: (raw.WIREBUDDY_KEEPALIVED_DIR as string | undefined) ??
            `${(raw.WIREBUDDY_NODE_DATA_DIR as string).replace(/\/$/, "")}/keepalived`,
        },
        logLevel: raw.WIREBUDDY_LOG_LEVEL as LogLevel,
      },
    };
  });
}

/** `wirebuddy-node userspace-supervisor`: its request directory and log level, from the same variables. */
export function parseSupervisorEnv(
  env: Record<string, string | undefined>,
): EnvResult<{ dir: string; logLevel: LogLevel }> {
  const vars = NODE_ENV.filter((v) => ["WIREBUDDY_WIREGUARD_GO_DIR", "WIREBUDDY_LOG_LEVEL"].includes(v.name));
  return parseEnv(vars, env, (raw) => {
    const dir = raw.WIREBUDDY_WIREGUARD_GO_DIR as string | undefined;
    if (!dir) {
      return { ok: false, problems: ["WIREBUDDY_WIREGUARD_GO_DIR is required for userspace-supervisor"] };
    }
    return { ok: true, value: { dir, logLevel: raw.WIREBUDDY_LOG_LEVEL as LogLevel } };
  });
}
