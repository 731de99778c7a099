// Builds every service from the database, the clock, the keys and the logger. No singletons. The
// wiring is explicit: the interfaces and peers services report changes to ConfigVersions (the
// HostChanges port), which bumps the hosts' config_version and wakes their long-polls; one SecretBox
// seals and opens every secret.
import type { Logger } from "../../core/logger.ts";
import type { HashLimits, ScryptCost } from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { AccountService, type ThrottlePolicy } from "./accounts.ts";
import { ApiTokenService } from "./api_tokens.ts";
import { AuditService } from "./audit.ts";
import { ClientConfigService } from "./client_configs.ts";
import { ConfigVersions } from "./config_versions.ts";
import { InterfaceService } from "./interfaces.ts";
import { LivenessService } from "./liveness.ts";
import { NodeAdminService } from "./node_admin.ts";
import { PeerService } from "./peers.ts";
import { ReadinessService } from "./readiness.ts";
import { SecretBox } from "./secret_box.ts";
import type { MasterKeys } from "./secrets.ts";
import { SyncService } from "./sync.ts";
import { SyncKeys, type TlsPin } from "./sync_keys.ts";
import { TrafficService } from "./traffic.ts";

export type Services = {
  clock: Clock;
  log: Logger;
  audit: AuditService;
  accounts: AccountService;
  tokens: ApiTokenService;
  interfaces: InterfaceService;
  peers: PeerService;
  clientConfigs: ClientConfigService;
  nodes: NodeAdminService;
  sync: SyncService;
  configVersions: ConfigVersions;
  liveness: LivenessService;
  traffic: TrafficService;
  readiness: ReadinessService;
};

export type NodeOptions = {
  tokenTtlMs: number;
  staleAfterMs: number;
  longPollMaxMs: number;
  /** Requests per node per minute on the sync endpoints. */
  syncRatePerMinute: number;
  metricsRawKeepMs: number;
};

export const DEFAULT_NODE_OPTIONS: NodeOptions = {
  tokenTtlMs: 24 * 3_600_000,
  staleAfterMs: 90_000,
  longPollMaxMs: 55_000,
  syncRatePerMinute: 120,
  metricsRawKeepMs: 24 * 3_600_000,
};

export type ServiceOptions = {
  sessionTtlMs: number;
  /** The host name clients reach the master's own interfaces at (from WIREBUDDY_PUBLIC_URL). */
  publicHost: string;
  publicUrl: URL;
  /** The self-signed certificate enrollment tokens pin; null with a publicly trusted one. */
  tls?: TlsPin | null;
  nodes?: Partial<NodeOptions>;
  scryptCost?: ScryptCost;
  throttle?: ThrottlePolicy;
  /** Bounds on concurrent password hashing (default DEFAULT_HASH_LIMITS). */
  hashing?: HashLimits;
};

/** Builds the services, loads the master's sync signing key and makes its `local` node (first start). */
export async function createServices(
  db: Db,
  clock: Clock,
  keys: MasterKeys,
  log: Logger,
  opts: ServiceOptions,
): Promise<Services> {
  const node = { ...DEFAULT_NODE_OPTIONS, ...opts.nodes };
  const { publicHost, publicUrl } = opts;
  const audit = new AuditService(db, clock);
  const accounts = new AccountService(db, clock, audit, log, {
    sessionTtlMs: opts.sessionTtlMs,
    ...(opts.scryptCost ? { cost: opts.scryptCost } : {}),
    ...(opts.throttle ? { throttle: opts.throttle } : {}),
    ...(opts.hashing ? { hashing: opts.hashing } : {}),
  });
  const tokens = new ApiTokenService(db, clock, audit);
  const secrets = new SecretBox(keys.sealKey);
  const syncKeys = new SyncKeys(db, secrets, keys.hmacKey);
  const configVersions = new ConfigVersions(db, { longPollMaxMs: node.longPollMaxMs });
  const nodes = new NodeAdminService(db, clock, audit, syncKeys, configVersions, {
    publicUrl,
    publicHost,
    tokenTtlMs: node.tokenTtlMs,
  });
  const services: Services = {
    clock,
    log,
    audit,
    accounts,
    tokens,
    interfaces: new InterfaceService(db, clock, audit, secrets, configVersions),
    peers: new PeerService(db, clock, audit, secrets, configVersions),
    clientConfigs: new ClientConfigService(db, clock, audit, secrets, { publicHost }),
    nodes,
    sync: new SyncService(db, clock, audit, log, syncKeys, configVersions, secrets, {
      publicHost,
      syncRatePerMinute: node.syncRatePerMinute,
    }),
    configVersions,
    liveness: new LivenessService(db, clock, audit, log, {
      staleAfterMs: node.staleAfterMs,
      metricsRawKeepMs: node.metricsRawKeepMs,
    }),
    traffic: new TrafficService(db, clock),
    readiness: new ReadinessService(db, keys),
  };
  await syncKeys.load(opts.tls ?? null);
  nodes.ensureLocalNode();
  return services;
}
