// Builds every service from the database, the clock, the keys and the logger. No singletons. The
// wiring is explicit: the interfaces and peers services report changes to ConfigVersions (the
// HostChanges port), which bumps the hosts' config_version and wakes their long-polls; one SecretBox
// seals and opens every secret.
import type { Logger } from "../../core/logger.ts";
import { DEFAULT_COST, type HashLimits, HashPool, type ScryptCost } from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { AccountService } from "./accounts.ts";
import { LoginService } from "./login.ts";
import { LoginThrottle, type ThrottlePolicy } from "./login_throttle.ts";
import { SecondFactorService } from "./second_factor.ts";
import { PasskeyService, relyingParty } from "./passkeys.ts";
import { OidcService } from "./oidc.ts";
import type { OidcConfig } from "../config_sign_in.ts";
import { ApiTokenService } from "./api_tokens.ts";
import { AuditService } from "./audit.ts";
import type { BackupService } from "./backup.ts";
import { RotationService } from "./rotation.ts";
import { SigningKeyRotation } from "./signing_rotation.ts";
import { TlsRotation } from "./tls_rotation.ts";
import { IdentityRotation } from "./identity_rotation.ts";
import { NodeWgKeyRotation } from "./wg_key_rotation.ts";
import type { CertMaterial } from "../../core/x509.ts";
import { ClientConfigService } from "./client_configs.ts";
import { ConfigVersions } from "./config_versions.ts";
import { FleetEvents } from "./events.ts";
import { DEFAULT_WATCH_OPTIONS, FleetWatch, type WatchOptions } from "./fleet_watch.ts";
import { DEFAULT_HEALTH_INTERVALS, type HealthOptions, HealthService } from "./health.ts";
import type { Probe } from "../health_probe.ts";
import type { Secret } from "../../core/secret.ts";
import { DEFAULT_HEALTH_PORT } from "../../core/health.ts";
import { type ProcessStats, PromService } from "./prom.ts";
import { DEFAULT_WEBHOOK_OPTIONS, type WebhookOptions, WebhookService } from "./webhooks.ts";
import { InterfaceService } from "./interfaces.ts";
import { LivenessService } from "./liveness.ts";
import { NodeAdminService } from "./node_admin.ts";
import { PeerService } from "./peers.ts";
import { ReadinessService } from "./readiness.ts";
import { SecretBox } from "./secret_box.ts";
import type { MasterKeys } from "./secrets.ts";
import { SyncService } from "./sync.ts";
import { SyncKeys, type TlsPin } from "./sync_keys.ts";
import { NodeClocks } from "./node_clocks.ts";
import { SyncAuthenticator } from "./sync_auth.ts";
import { SyncSessions } from "./sync_sessions.ts";
import { TrafficService } from "./traffic.ts";
import { DnsService } from "./dns.ts";
import { DEFAULT_FETCH_LIMITS, type FetchLimits } from "./dns_blocklists.ts";
import { DnsListService } from "./dns_lists.ts";
import { DnsLogService } from "./dns_log.ts";
import { PoolService } from "./pools.ts";
import { DEFAULT_POOL_DNS_OPTIONS, PoolDnsPublisher, type ResolveHost } from "./pool_dns.ts";
import { PoolTakeovers } from "./pool_takeover.ts";
import type { DnsExchange } from "../dns_tcp.ts";
import { PoolIntake } from "./pool_intake.ts";

export type Services = {
  clock: Clock;
  log: Logger;
  audit: AuditService;
  accounts: AccountService;
  login: LoginService;
  factors: SecondFactorService;
  /** Null when the public URL cannot be a WebAuthn relying party (logged at start). */
  passkeys: PasskeyService | null;
  /** Null without WIREBUDDY_OIDC_ISSUER. */
  oidc: OidcService | null;
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
  events: FleetEvents;
  health: HealthService;
  watch: FleetWatch;
  webhooks: WebhookService;
  prom: PromService;
  dns: DnsService;
  dnsLists: DnsListService;
  dnsLog: DnsLogService;
  /** Backups (set by boot.ts, which holds the secret key and TLS identity they carry). */
  backups?: BackupService;
  rotation: RotationService;
  /** The master's answer-signing key, rotated with overlap (signing_rotation.ts). */
  signingKey: SigningKeyRotation;
  /** The master's self-signed TLS certificate, rotated with overlap (tls_rotation.ts). */
  tlsRotation: TlsRotation;
  /** A node's identity key, rotated on request (identity_rotation.ts). */
  identity: IdentityRotation;
  /** Failover pools (pools.ts): members, announce settings, drains, DNS targets. */
  pools: PoolService;
  /** DNS-mode pools' healthy members published by RFC 2136 after each health round (pool_dns.ts). */
  poolDns: PoolDnsPublisher;
  /** DNS-mode pools: a member told to take over the clients of a dead or drained one (pool_takeover.ts). */
  poolTakeovers: PoolTakeovers;
  /** A node's WireGuard interface keys, rotated with an overlap device (wg_key_rotation.ts). */
  wgKeys: NodeWgKeyRotation;
};

/** The world the fleet-health services reach (real ones from main.ts; tests pass fakes). */
export type FleetPorts = {
  /** The tunnel health check (default: every check fails, naming the missing probe). */
  probe?: Probe;
  /** Webhook deliveries (default: the global fetch). */
  fetch?: typeof fetch;
  processStats?: ProcessStats;
  version?: string;
  /** RFC 2136 exchanges with the operators' DNS servers (default: each fails, naming the missing port). */
  dnsExchange?: DnsExchange;
  /** Resolves pool members' host names for DNS mode (default: none; such members are not published). */
  resolveHost?: ResolveHost;
  /** A scrape token GET /metrics accepts besides read API tokens. */
  metricsToken?: Secret | null;
};

export type FleetOptions = Partial<Omit<HealthOptions, "staleAfterMs">> & Partial<WatchOptions> & {
  webhooks?: Partial<WebhookOptions>;
};

const NO_PROBE: Probe = () =>
  Promise.resolve({ ok: false, latencyMs: 0, error: "no health probe configured", applied: null });

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
  /** Sign-in policy: admins must have a second factor; passwords only for a break-glass admin (SSO only). */
  signIn?: {
    requireAdminSecondFactor?: boolean;
    passwordOnlyFor?: string | null;
    oidc?: OidcConfig | null;
    /** The fetch single sign-on reaches the provider with (default: the global one). */
    oidcFetch?: typeof fetch;
  };
  fleet?: FleetOptions;
  ports?: FleetPorts;
  /** Blocklist downloads: the fetch to use (default: the global one) and its size and time limits. */
  dns?: { fetch?: typeof fetch; fetchLimits?: Partial<FetchLimits> };
  /** How long a new answer-signing key waits for every node to trust it before the switch (default 7 days). */
  signingGraceMs?: number;
  /** How long a node's old WireGuard key keeps serving beside the new one (default 7 days). */
  nodeWgOverlapMs?: number;
  /** Makes the next self-signed certificate (boot.ts; absent with operator files or no TLS). */
  makeTlsCert?: () => Promise<CertMaterial>;
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
  const hashes = new HashPool(opts.hashing);
  const cost = opts.scryptCost ?? DEFAULT_COST;
  const accounts = new AccountService(db, clock, audit, hashes, { cost });
  const tokens = new ApiTokenService(db, clock, audit);
  const secrets = new SecretBox(keys.sealKey);
  const factors = new SecondFactorService(db, clock, audit, secrets);
  const throttle = new LoginThrottle(db, clock, audit, opts.throttle);
  const login = new LoginService(
    db,
    clock,
    audit,
    log,
    hashes,
    throttle,
    factors,
    {
      sessionTtlMs: opts.sessionTtlMs,
      cost,
      requireAdminSecondFactor: opts.signIn?.requireAdminSecondFactor ?? false,
      passwordOnlyFor: opts.signIn?.passwordOnlyFor ?? null,
    },
  );
  const rp = relyingParty(publicUrl);
  if (!rp.ok) log.info("passkeys are off", { reason: rp.reason });
  const syncKeys = new SyncKeys(db, secrets, keys.hmacKey);
  const syncSessions = new SyncSessions(db);
  const configVersions = new ConfigVersions(db, { longPollMaxMs: node.longPollMaxMs });
  configVersions.log = log;
  const fleet = opts.fleet ?? {};
  const ports = opts.ports ?? {};
  const events = new FleetEvents(db, clock, audit, log);
  const health = new HealthService(db, clock, log, events, ports.probe ?? NO_PROBE, {
    intervals: fleet.intervals ?? DEFAULT_HEALTH_INTERVALS,
    staleAfterMs: node.staleAfterMs,
    timeoutMs: fleet.timeoutMs ?? 3_000,
    port: fleet.port ?? DEFAULT_HEALTH_PORT,
  });
  const { webhooks: hookOpts, ...watchOpts } = fleet;
  const watch = new FleetWatch(db, clock, audit, log, events, {
    ...DEFAULT_WATCH_OPTIONS,
    ...Object.fromEntries(
      Object.entries(watchOpts).filter(([k, v]) => k in DEFAULT_WATCH_OPTIONS && v !== undefined),
    ),
  });
  const clocks = new NodeClocks();
  const nodes = new NodeAdminService(db, clock, audit, syncKeys, configVersions, {
    publicUrl,
    publicHost,
    tokenTtlMs: node.tokenTtlMs,
    clocks,
  });
  const dns = new DnsService(db, clock, audit, configVersions);
  const dnsLists = new DnsListService(db, clock, audit, log, {
    fetch: opts.dns?.fetch ?? fetch,
    fetchLimits: { ...DEFAULT_FETCH_LIMITS, ...opts.dns?.fetchLimits },
  }, () => dns.changed());
  const dnsLog = new DnsLogService(db, clock, dns, log);
  const signingKey = new SigningKeyRotation(db, clock, secrets, audit, log, syncKeys, {
    graceMs: opts.signingGraceMs ?? 7 * 86_400_000,
  });
  const identity = new IdentityRotation(db, clock, audit, log, syncSessions);
  const wgKeys = new NodeWgKeyRotation(db, clock, audit, log, configVersions, {
    overlapMs: opts.nodeWgOverlapMs ?? 7 * 86_400_000,
  });
  const tlsRotation = new TlsRotation(db, clock, secrets, audit, log, {
    graceMs: opts.signingGraceMs ?? 7 * 86_400_000,
    current: opts.makeTlsCert ? opts.tls ?? null : null,
    makeCert: opts.makeTlsCert ?? null,
  });
  const services: Services = {
    clock,
    log,
    audit,
    accounts,
    login,
    factors,
    passkeys: rp.ok ? new PasskeyService(db, clock, audit, login, throttle, rp.rp) : null,
    oidc: opts.signIn?.oidc
      ? new OidcService(db, clock, audit, log, login, opts.signIn.oidc, publicUrl, opts.signIn.oidcFetch)
      : null,
    tokens,
    interfaces: new InterfaceService(db, clock, audit, secrets, configVersions),
    peers: new PeerService(db, clock, audit, secrets, configVersions),
    rotation: new RotationService(db, clock, audit, secrets, configVersions),
    clientConfigs: new ClientConfigService(db, clock, audit, secrets, { publicHost }),
    nodes,
    sync: new SyncService(
      db,
      clock,
      audit,
      log,
      syncKeys,
      configVersions,
      secrets,
      {
        publicHost,
        syncRatePerMinute: node.syncRatePerMinute,
        dnsIntake: (n, hb) => dnsLog.intake(n, hb.dns_log, hb.dns_dropped, hb.dns),
        pools: new PoolIntake(db, configVersions, clocks),
        credentials: (n, hb) => ({
          ...signingKey.heartbeat(n.id, hb.trusts),
          ...tlsRotation.heartbeat(n.id, hb.trusts_tls),
          ...identity.heartbeat(n.id),
        }),
        observer: {
          heartbeatInTx: (before, hb, now) => {
            watch.heartbeatInTx(before, hb, now);
            health.heartbeatInTx(before, hb, now);
            wgKeys.heartbeatInTx(before, hb);
          },
        },
      },
      syncSessions,
      new SyncAuthenticator(db, clock, log, syncSessions, { ...node, clocks }),
    ),
    configVersions,
    liveness: new LivenessService(db, clock, audit, log, {
      staleAfterMs: node.staleAfterMs,
      metricsRawKeepMs: node.metricsRawKeepMs,
    }, health),
    traffic: new TrafficService(db, clock),
    readiness: new ReadinessService(db, keys),
    events,
    health,
    watch,
    webhooks: new WebhookService(
      db,
      clock,
      audit,
      log,
      secrets,
      ports.fetch ?? fetch,
      { ...DEFAULT_WEBHOOK_OPTIONS, ...hookOpts },
      ports.version ?? "dev",
    ),
    prom: new PromService(db, clock, {
      processStats: ports.processStats ?? (() => ({ rssBytes: 0, heapUsedBytes: 0 })),
      version: ports.version ?? "dev",
      scrapeToken: ports.metricsToken ?? null,
      extra: () => dnsLog.metrics(),
    }),
    dns,
    dnsLists,
    dnsLog,
    signingKey,
    tlsRotation,
    pools: new PoolService(db, clock, audit, secrets, configVersions),
    poolDns: new PoolDnsPublisher(
      (now) => services.pools.dnsTargets(now),
      ports.dnsExchange ?? (() => Promise.reject(new Error("no DNS transport configured"))),
      clock,
      log,
      DEFAULT_POOL_DNS_OPTIONS,
      ports.resolveHost ?? null,
    ),
    poolTakeovers: new PoolTakeovers(db, clock, log, configVersions),
    identity,
    wgKeys,
  };
  events.onQueued = () => services.webhooks.deliverDue();
  await syncKeys.load(opts.tls ?? null);
  nodes.ensureLocalNode();
  tlsRotation.afterStart();
  return services;
}
