// The signed sync protocol on the master's side: enrollment with a one-time token, sessions (an HMAC key
// agreed by ECDH after enrollment), authentication of every node request (SyncAuthenticator), answers
// proven with the session's HMAC or the master's signature, heartbeats with metrics intake, and the
// node's config (long-polled through ConfigVersions, rendered once per version).
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import {
  type EnrollResponse,
  exportPublicKey,
  HEADERS,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type NodeConfig,
} from "../../core/sync.ts";
import {
  macTextSync,
  responseTextSync,
  SESSION_HEADERS,
  type SessionResponse,
} from "../../core/sync_session.ts";
import { certFingerprint } from "../../core/x509.ts";
import type { Db } from "../db/db.ts";
import { type NodeFullRow, nodeInterfacesRepo, nodesFullRepo } from "../db/nodes_repo.ts";
import { interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import type { AuditService } from "./audit.ts";
import type { ConfigVersions, WaitEnd } from "./config_versions.ts";
import { allocateNodeAddresses } from "./node_addresses.ts";
import { NodeConfigCache, renderNodeConfig } from "./node_config.ts";
import { MetricsIntake } from "./metrics_intake.ts";
import { RateLimiter } from "./rate_limiter.ts";
import type { SecretBox } from "./secret_box.ts";
import type { SyncKeys } from "./sync_keys.ts";
import {
  safeEqual,
  type SessionUse,
  type SyncAuth,
  type SyncAuthenticator,
  type SyncHeaders,
  type SyncOrigin,
} from "./sync_auth.ts";
import type { SyncSessions } from "./sync_sessions.ts";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export type { SyncAuth, SyncHeaders, SyncOrigin } from "./sync_auth.ts";

export type SyncOptions = {
  publicHost: string;
  /** Requests per node per minute on the sync endpoints. */
  syncRatePerMinute: number;
  /** Derives the status and fleet events from a heartbeat, in its transaction, after `seen` (health.ts). */
  observer: { heartbeatInTx(before: NodeFullRow, hb: HeartbeatRequest, now: number): void };
  /** Stores a heartbeat's DNS report and query log (dns_log.ts); returns the query-log sequence to ack. */
  dnsIntake?: (node: NodeFullRow, hb: HeartbeatRequest) => number;
  /** The master's verification keys for the heartbeat answer (signing_rotation.ts), from what the node trusts. */
  credentials?: (node: NodeFullRow, hb: HeartbeatRequest) => Partial<HeartbeatResponse & { kind: "ok" }>;
  /** Failover pools (pool_intake.ts): members' pool-client samples, holders, reports and drains. */
  pools?: {
    keysOf(node: NodeFullRow): string[];
    heartbeatInTx(node: NodeFullRow, hb: HeartbeatRequest, now: number): void;
  };
};

const tokenUsed = () =>
  new AppError("unauthorized", "Invalid enrollment token: already used or replaced by a newer one");

/** How far before its time a re-dated sample looks for a free millisecond. */

export class SyncService {
  /** Enrollment attempts per token (per node id), and answers to invalid tokens per address. */
  #enrollRate: RateLimiter;
  #metrics: MetricsIntake;
  #badTokenRate: RateLimiter;
  #configs: NodeConfigCache;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly keys: SyncKeys,
    private readonly versions: ConfigVersions,
    private readonly secrets: SecretBox,
    private readonly opts: SyncOptions,
    private readonly sessions: SyncSessions,
    private readonly auth: SyncAuthenticator,
  ) {
    this.#enrollRate = new RateLimiter(10, clock);
    this.#badTokenRate = new RateLimiter(10, clock);
    this.#metrics = new MetricsIntake(db, log, auth.clocks);
    this.#configs = new NodeConfigCache((nodeId) =>
      renderNodeConfig(this.db, this.secrets, nodeId, {
        now: this.clock.now(),
        publicHost: this.opts.publicHost,
      })
    );
  }

  /** Enrolls a node: the token must be genuine, current, unused and unexpired; the request is signed with the certificate's key. */
  async enroll(
    from: SyncOrigin,
    headers: SyncHeaders,
    rawBody: string,
    body: { token: string; cert: string; hostname: string; version: string },
  ): Promise<{ nodeId: number; response: EnrollResponse }> {
    const { ip } = from;
    const tooMany = () =>
      new AppError("rate_limited", "Too many enrollment attempts; wait a minute", { retryAfter: 60 });
    // One HMAC tells a genuine token: limits apply per token (its node), so a fleet enrolling from one
    // address is not held back; invalid tokens are limited per address.
    const payload = await this.keys.verifyToken(body.token);
    if (!payload) {
      if (!this.#badTokenRate.take(`ip:${ip}`)) throw tooMany();
      throw new AppError("unauthorized", "Invalid enrollment token");
    }
    if (!this.#enrollRate.take(`token:${payload.node_id}`)) throw tooMany();
    const node = nodesFullRepo.byId(this.db, payload.node_id);
    if (!node) throw new AppError("unauthorized", "Invalid enrollment token: its node was deleted");
    if (node.is_local && !from.loopback) throw this.auth.notLoopback("enrollment", from);
    const now = this.clock.now();
    if (payload.exp <= now) {
      throw new AppError(
        "unauthorized",
        `Invalid enrollment token: expired at ${new Date(payload.exp).toISOString()}`,
      );
    }
    const tokenHash = await sha256Hex(payload.secret);
    if (!node.enroll_secret_hash || !safeEqual(tokenHash, node.enroll_secret_hash)) throw tokenUsed();
    let verifyKey: string;
    let certSha: string;
    try {
      const cert = new x509.X509Certificate(body.cert);
      verifyKey = await exportPublicKey(
        await cert.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]),
      );
      certSha = await certFingerprint(body.cert);
    } catch {
      throw new AppError("bad_request", "The node certificate is not a valid P-256 certificate");
    }
    await this.auth.checkSignature("POST", "/api/sync/enroll", headers, rawBody, payload.node_id, verifyKey);
    const secret = randomToken(32);
    const secretHash = await sha256Hex(secret);
    // The checks above ran before awaits: the token is consumed (or found gone) here, atomically.
    this.db.tx(() => {
      const won = nodesFullRepo.enrolled(this.db, node.id, {
        tokenHash,
        secretHash,
        certSha256: certSha,
        verifyKey,
        hostname: body.hostname.slice(0, 253),
        now,
      });
      if (!won) throw tokenUsed();
      nodeInterfacesRepo.clearKeys(this.db, node.id);
      this.sessions.forget(node.id); // a new identity opens a new session
      if (!node.is_local) allocateNodeAddresses(this.db, node.id);
      this.versions.bumpInTx([node.id]);
      this.audit.record(`node:${node.name}`, { ip, userAgent: "" }, {
        action: "node.enroll",
        target: node.name,
        detail: `cert=${certSha.slice(0, 16)}`,
      });
    });
    this.log.info("node enrolled", { node: node.name, node_id: node.id, cert_sha256: certSha });
    return { nodeId: node.id, response: { node_id: node.id, name: node.name, node_secret: secret } };
  }

  /** Authenticates a node request (SyncAuthenticator). */
  async authenticate(
    from: SyncOrigin,
    method: string,
    path: string,
    h: SyncHeaders,
    body: string,
  ): Promise<SyncAuth> {
    return await this.auth.authenticate(from, method, path, h, body);
  }

  /** Opens a sync session for a node that proved its identity key (an ECDSA-signed request). */
  async openSession(auth: SyncAuth & { kind: "node" }, ecdhPublic: string): Promise<SessionResponse> {
    if (auth.session) {
      throw new AppError(
        "unauthorized",
        "A sync session is opened with the node's identity key, not a session",
      );
    }
    const session = await this.sessions.open(auth.node.id, ecdhPublic);
    this.log.debug("sync session opened", { node: auth.node.name, node_id: auth.node.id });
    return session;
  }

  /** The key of a node's session `id` while it is the current one (for tests that forge answers). */
  async sessionKey(nodeId: number, id: string): Promise<Uint8Array | null> {
    return await this.sessions.key(nodeId, id);
  }

  /** An answer's proof for a node: the session's HMAC when the request came in one, else the master's signature. */
  async proveAnswer(a: { nodeId: number; nonce: string; session: SessionUse }, status: number, body: string) {
    if (!a.session) {
      return {
        header: HEADERS.signature,
        value: await this.keys.signAnswer(a.nodeId, a.nonce, status, body),
      };
    }
    const text = responseTextSync(a.nodeId, a.nonce, status, body);
    return { header: SESSION_HEADERS.mac, value: macTextSync(a.session.key, text) };
  }

  /** Signs an answer for a node: bound to its id, the request's nonce, the status and the body. */
  async signAnswer(nodeId: number, nonce: string, status: number, body: string): Promise<string> {
    return await this.keys.signAnswer(nodeId, nonce, status, body);
  }

  heartbeat(node: NodeFullRow, hb: HeartbeatRequest): HeartbeatResponse {
    const now = this.clock.now();
    let changedKeys = false;
    let raised = false;
    const acked = this.db.tx(() => {
      if (hb.error && hb.error !== node.last_error) {
        this.log.warn("node reports an error", { node: node.name, node_id: node.id, error: hb.error });
      }
      // The status follows from heartbeats AND tunnel checks: the observer derives (and announces) it.
      // Liveness and the metrics' sequence in one UPDATE (the intake below reads both from `node`).
      const maxSeen = hb.metrics.reduce((mx, m) => Math.max(mx, m.seq), node.last_metric_seq);
      nodesFullRepo.seen(this.db, node.id, {
        status: node.status,
        error: hb.error,
        applied: hb.applied_version,
        now,
        seq: maxSeen,
        dropped: hb.dropped,
      });
      // After a restore from an older backup the node holds a newer config than this database's version:
      // move past it, so the node takes the restored config instead of refusing it as older.
      if (hb.applied_version > node.config_version) {
        raised = nodesFullRepo.raiseAbove(this.db, node.id, hb.applied_version);
      } else {
        this.auth.uncharge(node.id, "applied", hb.applied_version); // reporting the master's change
      }
      this.opts.observer.heartbeatInTx(node, hb, now);
      if (!node.is_local && hb.interfaces.length > 0) {
        // The reported keys by the device the node runs each interface as now (wg_key_rotation.ts).
        const devices = new Map<string, { id: number; key: string | null } | null>();
        for (const d of nodeInterfacesRepo.keysByDevice(this.db, node.id)) {
          devices.set(d.device, d.enrolled ? { id: d.interface_id, key: d.public_key } : null);
        }
        for (const i of hb.interfaces) {
          const cur = devices.get(i.name);
          if (cur && cur.key !== i.public_key) {
            nodeInterfacesRepo.setKey(this.db, node.id, cur.id, i.public_key);
            changedKeys = true;
          }
        }
      }
      if (changedKeys) this.versions.bumpLocalInTx();
      const first = interfacesRepo.firstId(this.db);
      this.#metrics.storeInTx(node, hb, first, now, this.opts.pools?.keysOf(node));
      this.opts.pools?.heartbeatInTx(node, hb, now);
      return maxSeen;
    });
    if (changedKeys) this.versions.wake([nodesFullRepo.local(this.db)!.id]);
    if (raised) this.versions.wake([node.id]);
    const dns = hb.dns || hb.dns_log.length > 0 ? this.opts.dnsIntake?.(node, hb) : undefined;
    return {
      kind: "ok",
      acked_seq: acked,
      config_version: nodesFullRepo.configVersion(this.db, node.id)!,
      ...(dns !== undefined ? { dns_acked_seq: dns } : {}),
      ...this.opts.credentials?.(node, hb),
    };
  }

  /** Resolves when the node's config_version exceeds `have`, or after `waitMs` (long-poll). */
  async waitForChange(nodeId: number, have: number, waitMs: number, signal?: AbortSignal): Promise<WaitEnd> {
    return await this.versions.waitForChange(nodeId, have, waitMs, signal);
  }

  /**
   * The answer to a config fetch by a node that has version `have`, as JSON text: its config when it
   * lacks the current version (rendered once per version; with `deltas`, only the changes when it has
   * the version before), else "unchanged" (no rendering). While the
   * master stops, "unchanged" at `have` (the node asks again once the master is back).
   */
  async configAnswer(nodeId: number, have: number, end: WaitEnd, deltas = false): Promise<string> {
    const current = end === "closing" ? have : nodesFullRepo.configVersion(this.db, nodeId) ?? have;
    if (current <= have) {
      return JSON.stringify({ kind: "unchanged", node_id: nodeId, config_version: current });
    }
    this.auth.uncharge(nodeId, "config", current); // the master's change made this fetch
    const delta = deltas ? await this.#configs.delta(nodeId, have, current) : null;
    return delta ?? `{"kind":"config","config":${await this.#configs.json(nodeId, current)}}`;
  }

  /** Config renders so far (each node's config is rendered once per version). */
  get renders(): number {
    return this.#configs.renders;
  }

  async config(nodeId: number): Promise<NodeConfig> {
    return await renderNodeConfig(this.db, this.secrets, nodeId, {
      now: this.clock.now(),
      publicHost: this.opts.publicHost,
    });
  }

  /** Opens every sealed PSK and interface key once, so the first desired-state render after a start is fast. */
  async warmSecrets(): Promise<number> {
    let n = 0;
    for (const iface of interfacesRepo.list(this.db)) {
      await this.secrets.open(iface.private_key_sealed, `interface:${iface.name}`);
      const rows = peersRepo.sealedPsks(this.db, iface.id);
      await Promise.all(rows.map((r) => this.secrets.open(r.psk_sealed, `peer:${r.public_key}:psk`)));
      n += rows.length + 1;
    }
    return n;
  }
}
