// Nodes: creation and enrollment tokens, the signed sync protocol (authentication of node requests,
// signed answers, long-polled configs with a monotonic config_version), liveness, and metrics intake.
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { nextFreeAddress } from "../../core/allocate.ts";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, seal, sha256Hex, unseal } from "../../core/seal.ts";
import {
  CLOCK_WINDOW_MS,
  encodeToken,
  type EnrollResponse,
  exportPrivateKey,
  exportPublicKey,
  generateSigningKeys,
  type HeartbeatRequest,
  type HeartbeatResponse,
  importPrivateKey,
  importPublicKey,
  type NodeConfig,
  requestSigningText,
  responseSigningText,
  signText,
  verifyText,
  verifyToken,
} from "../../core/sync.ts";
import { certFingerprint } from "../../core/x509.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import {
  metricsRepo,
  type NodeFullRow,
  nodeInterfacesRepo,
  nodesFullRepo,
  type NodeStatus,
  noncesRepo,
  removedNodesRepo,
} from "../db/nodes_repo.ts";
import { interfacesRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { renderNodeConfig, type SecretOpener } from "./node_config.ts";
import { parseInput } from "./validate.ts";
import { isHostname } from "../../core/client_conf.ts";
import { isValidIp } from "../../core/cidr.ts";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export const LOCAL_NODE_NAME = "local";

const NodeNameSchema = z.string().trim().min(1, "is required").max(64, "must be at most 64 characters").regex(
  /^[\p{L}\p{N} ._-]+$/u,
  "may contain letters, digits, spaces and . _ - only",
);
const FqdnSchema = z.string().trim().min(1, "is required").max(253).refine(
  (v) => isHostname(v) || isValidIp(v),
  "must be a host name or an IP address",
);
const PortSchema = z.number({ error: "must be a port number" }).int("must be a whole number").min(
  1,
  "must be 1-65535",
).max(
  65535,
  "must be 1-65535",
);
export const NodeInputSchema = z.object({
  name: NodeNameSchema,
  fqdn: FqdnSchema,
  wg_port: PortSchema.default(51820),
}).strict();
export const NodePatchSchema = z.object({ name: NodeNameSchema, fqdn: FqdnSchema, wg_port: PortSchema })
  .partial().strict();

export type NodeView = {
  id: number;
  name: string;
  fqdn: string;
  wgPort: number;
  isLocal: boolean;
  status: NodeStatus;
  lastSeenAt: number | null;
  lastError: string | null;
  hostname: string;
  enrolled: boolean;
  tokenExpiresAt: number | null;
  configVersion: number;
  appliedVersion: number;
  peerCount: number;
  droppedMetrics: number;
  interfaces: { name: string; address: string; publicKey: string | null }[];
};

export type NodeOptions = {
  publicUrl: URL;
  publicHost: string;
  tokenTtlMs: number;
  staleAfterMs: number;
  longPollMaxMs: number;
  /** Requests per node per minute on the sync endpoints. */
  syncRatePerMinute: number;
  metricsRawKeepMs: number;
};

export const DEFAULT_NODE_OPTIONS: Omit<NodeOptions, "publicUrl" | "publicHost"> = {
  tokenTtlMs: 24 * 3_600_000,
  staleAfterMs: 90_000,
  longPollMaxMs: 55_000,
  syncRatePerMinute: 120,
  metricsRawKeepMs: 24 * 3_600_000,
};

export type SyncAuth =
  | { kind: "node"; node: NodeFullRow; nonce: string }
  | { kind: "removed"; nodeId: number; nonce: string };

type SyncHeaders = {
  nodeId: string | undefined;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  bearer: string | undefined;
};

/** A token bucket per key. */
class RateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly perMinute: number, private readonly clock: Clock) {}
  take(key: string): boolean {
    const now = this.clock.now();
    const b = this.#buckets.get(key) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) / 60_000) * this.perMinute);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
    if (this.#buckets.size > 10_000) this.#buckets.clear();
    return true;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class NodeService {
  #signingKey: CryptoKey | null = null;
  #verifyKey = "";
  #tls: { cert: string; sha256: string } | null = null;
  #waiters = new Map<number, Set<() => void>>();
  #nodeRate: RateLimiter;
  #enrollRate: RateLimiter;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly keys: { sealKey: CryptoKey; hmacKey: CryptoKey },
    private readonly open: SecretOpener,
    private readonly opts: NodeOptions,
  ) {
    this.#nodeRate = new RateLimiter(opts.syncRatePerMinute, clock);
    this.#enrollRate = new RateLimiter(10, clock);
  }

  /** Loads (or makes, at first start) the master's response-signing key, and the `local` node. */
  async init(tls: { cert: string; fingerprint: string } | null): Promise<void> {
    this.#tls = tls ? { cert: tls.cert, sha256: tls.fingerprint } : null;
    let sealed = metaRepo.get(this.db, "sync_signing_key");
    if (!sealed) {
      const pair = await generateSigningKeys();
      sealed = await seal(this.keys.sealKey, await exportPrivateKey(pair.privateKey), "sync_signing_key");
      const verify = await exportPublicKey(pair.publicKey);
      this.db.tx(() => {
        metaRepo.set(this.db, "sync_signing_key", sealed!);
        metaRepo.set(this.db, "sync_verify_key", verify);
      });
    }
    this.#signingKey = await importPrivateKey(await unseal(this.keys.sealKey, sealed, "sync_signing_key"));
    this.#verifyKey = metaRepo.get(this.db, "sync_verify_key")!;
    if (!nodesFullRepo.local(this.db)) {
      this.db.tx(() => {
        nodesFullRepo.insert(this.db, {
          name: LOCAL_NODE_NAME,
          fqdn: this.opts.publicHost,
          wg_port: 1,
          is_local: 1,
          now: this.clock.now(),
        });
      });
    }
  }

  get verifyKey(): string {
    return this.#verifyKey;
  }

  // --- admin ---------------------------------------------------------------------------------

  /** Interface names by id, read once per listing. */
  #interfaceNames(): Map<number, string> {
    return new Map(interfacesRepo.list(this.db).map((i) => [i.id, i.name]));
  }

  #view(n: NodeFullRow, counts: Map<number, number>, ifaces: Map<number, string>): NodeView {
    return {
      id: n.id,
      name: n.name,
      fqdn: n.fqdn,
      wgPort: n.wg_port,
      isLocal: n.is_local === 1,
      status: n.status,
      lastSeenAt: n.last_seen_at,
      lastError: n.last_error,
      hostname: n.hostname,
      enrolled: n.verify_key !== null,
      tokenExpiresAt: n.enroll_expires_at,
      configVersion: n.config_version,
      appliedVersion: n.applied_version,
      peerCount: n.is_local
        ? this.db.get<{ n: number }>("SELECT count(*) AS n FROM peers WHERE node_id IS NULL")!.n
        : counts.get(n.id) ?? 0,
      droppedMetrics: n.dropped_metrics,
      interfaces: nodeInterfacesRepo.forNode(this.db, n.id).map((ni) => ({
        name: ifaces.get(ni.interface_id) ?? "?",
        address: ni.address4,
        publicKey: ni.public_key,
      })),
    };
  }

  list(): NodeView[] {
    const counts = nodesFullRepo.peerCounts(this.db);
    const ifaces = this.#interfaceNames();
    return nodesFullRepo.list(this.db).map((n) => this.#view(n, counts, ifaces));
  }

  get(id: number): NodeView {
    const n = nodesFullRepo.byId(this.db, id);
    if (!n) throw new AppError("not_found", `Node ${id} not found`);
    return this.#view(n, nodesFullRepo.peerCounts(this.db), this.#interfaceNames());
  }

  #uniqueness(name: string, fqdn: string, exceptId = 0): void {
    const byName = nodesFullRepo.byName(this.db, name);
    if (byName && byName.id !== exceptId) {
      throw new AppError("conflict", `A node named "${name}" already exists`, {
        fields: [{ field: "name", message: "is already taken" }],
      });
    }
    const byFqdn = nodesFullRepo.byFqdn(this.db, fqdn);
    if (byFqdn && byFqdn.id !== exceptId && !byFqdn.is_local) {
      throw new AppError("conflict", `Node "${byFqdn.name}" already uses ${fqdn}`, {
        fields: [{ field: "fqdn", message: "is already taken" }],
      });
    }
  }

  /** Gives `nodeId` an address in every interface's pool (kept out of peer allocation). */
  allocateAddresses(nodeId: number): void {
    for (const iface of interfacesRepo.list(this.db)) {
      if (nodeInterfacesRepo.get(this.db, nodeId, iface.id)) continue;
      const used = this.db.all<{ a: string; b: string | null }>(
        `SELECT ipv4 AS a, ipv6 AS b FROM peers WHERE interface_id = :id
         UNION ALL SELECT address4, address6 FROM node_interfaces WHERE interface_id = :id`,
        { id: iface.id },
      );
      nodeInterfacesRepo.insert(this.db, {
        node_id: nodeId,
        interface_id: iface.id,
        address4: nextFreeAddress(iface.address4, used.map((u) => u.a)),
        address6: iface.address6
          ? nextFreeAddress(iface.address6, used.flatMap((u) => (u.b ? [u.b] : [])))
          : null,
      });
    }
  }

  async create(
    actor: Actor,
    meta: RequestMeta | null,
    input: unknown,
  ): Promise<{ node: NodeView; token: string }> {
    requireAdmin(actor);
    const data = parseInput(NodeInputSchema, input, "node");
    if (data.name.toLowerCase() === LOCAL_NODE_NAME) {
      throw new AppError("conflict", `"${LOCAL_NODE_NAME}" is the master's own node`, {
        fields: [{ field: "name", message: "is reserved" }],
      });
    }
    const id = this.db.tx(() => {
      this.#uniqueness(data.name, data.fqdn);
      const id = nodesFullRepo.insert(this.db, { ...data, is_local: 0, now: this.clock.now() });
      this.allocateAddresses(id);
      this.audit.record(actor, meta, {
        action: "node.create",
        target: data.name,
        detail: `${data.fqdn}:${data.wg_port}`,
      });
      return id;
    });
    const token = await this.#issueToken(id);
    return { node: this.get(id), token };
  }

  update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): NodeView {
    requireAdmin(actor);
    const patch = parseInput(NodePatchSchema, input, "node");
    this.db.tx(() => {
      const cur = nodesFullRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Node ${id} not found`);
      if (cur.is_local) {
        throw new AppError("conflict", "The master's own node is configured through the master");
      }
      const next = {
        name: patch.name ?? cur.name,
        fqdn: patch.fqdn ?? cur.fqdn,
        wg_port: patch.wg_port ?? cur.wg_port,
      };
      this.#uniqueness(next.name, next.fqdn, id);
      nodesFullRepo.update(this.db, id, { ...next, now: this.clock.now() });
      if (next.wg_port !== cur.wg_port) this.#bumpInTx([id]);
      this.audit.record(actor, meta, {
        action: "node.update",
        target: next.name,
        detail: Object.keys(patch).join(","),
      });
    });
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): { unassignedPeers: number } {
    requireAdmin(actor);
    const unassigned = this.db.tx(() => {
      const cur = nodesFullRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Node ${id} not found`);
      if (cur.is_local) throw new AppError("conflict", "The master's own node cannot be deleted");
      const n = nodesFullRepo.unassignPeers(this.db, id);
      if (cur.verify_key && cur.node_secret_hash) {
        removedNodesRepo.insert(this.db, {
          id,
          verify_key: cur.verify_key,
          node_secret_hash: cur.node_secret_hash,
          removed_at: this.clock.now(),
        });
      }
      nodesFullRepo.delete(this.db, id);
      this.#bumpLocalInTx();
      this.audit.record(actor, meta, {
        action: "node.delete",
        target: cur.name,
        detail: `${n} peer(s) unassigned`,
      });
      return n;
    });
    this.#notify([id]);
    return { unassignedPeers: unassigned };
  }

  async regenerateToken(actor: Actor, meta: RequestMeta | null, id: number): Promise<string> {
    requireAdmin(actor);
    const node = nodesFullRepo.byId(this.db, id);
    if (!node) throw new AppError("not_found", `Node ${id} not found`);
    const token = await this.#issueToken(id);
    this.audit.record(actor, meta, { action: "node.token", target: node.name });
    return token;
  }

  /** A new single-use enrollment token; any older one stops working. */
  async #issueToken(id: number): Promise<string> {
    const secret = randomToken(32);
    const exp = this.clock.now() + this.opts.tokenTtlMs;
    const hash = await sha256Hex(secret);
    this.db.tx(() => nodesFullRepo.setEnrollment(this.db, id, hash, exp));
    return await encodeToken({
      v: 1,
      url: this.opts.publicUrl.href.replace(/\/$/, ""),
      node_id: id,
      secret,
      exp,
      tls: this.#tls,
      verify_key: this.#verifyKey,
    }, this.keys.hmacKey);
  }

  // --- sync: enrollment and authentication -----------------------------------------------------

  /** Enrolls a node: the token must be genuine, current, unused and unexpired; the request is signed with the certificate's key. */
  async enroll(
    ip: string,
    headers: SyncHeaders,
    rawBody: string,
    body: { token: string; cert: string; hostname: string; version: string },
  ): Promise<{ nodeId: number; response: EnrollResponse }> {
    if (!this.#enrollRate.take(`ip:${ip}`)) {
      throw new AppError("rate_limited", "Too many enrollment attempts; wait a minute", { retryAfter: 60 });
    }
    const payload = await verifyToken(body.token, this.keys.hmacKey);
    if (!payload) throw new AppError("unauthorized", "Invalid enrollment token");
    const node = nodesFullRepo.byId(this.db, payload.node_id);
    if (!node) throw new AppError("not_found", "Node ID not found");
    const now = this.clock.now();
    if (payload.exp <= now) {
      throw new AppError(
        "unauthorized",
        `Invalid enrollment token: expired at ${new Date(payload.exp).toISOString()}`,
      );
    }
    if (!node.enroll_secret_hash || !safeEqual(await sha256Hex(payload.secret), node.enroll_secret_hash)) {
      throw new AppError("unauthorized", "Invalid enrollment token: already used or replaced by a newer one");
    }
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
    await this.#checkSignature("POST", "/api/sync/enroll", headers, rawBody, payload.node_id, verifyKey);
    const secret = randomToken(32);
    const secretHash = await sha256Hex(secret);
    this.db.tx(() => {
      nodesFullRepo.enrolled(this.db, node.id, {
        secretHash,
        certSha256: certSha,
        verifyKey,
        hostname: body.hostname.slice(0, 253),
        now,
      });
      nodeInterfacesRepo.clearKeys(this.db, node.id);
      if (!node.is_local) this.allocateAddresses(node.id);
      this.#bumpInTx([node.id]);
      this.audit.record(`node:${node.name}`, { ip, userAgent: "" }, {
        action: "node.enroll",
        target: node.name,
        detail: `cert=${certSha.slice(0, 16)}`,
      });
    });
    this.log.info("node enrolled", { node: node.name, node_id: node.id, cert_sha256: certSha });
    return { nodeId: node.id, response: { node_id: node.id, name: node.name, node_secret: secret } };
  }

  async #checkSignature(
    method: string,
    path: string,
    h: SyncHeaders,
    body: string,
    nodeId: number,
    verifyKeySpki: string,
  ): Promise<string> {
    const ts = Number(h.timestamp);
    if (!h.nonce || !/^[A-Za-z0-9_-]{16,64}$/.test(h.nonce) || !Number.isInteger(ts) || !h.signature) {
      throw new AppError("unauthorized", "Unsigned sync request");
    }
    if (Math.abs(this.clock.now() - ts) > CLOCK_WINDOW_MS) {
      throw new AppError(
        "unauthorized",
        "Request timestamp outside the allowed window (check the node's clock)",
      );
    }
    const text = await requestSigningText({ method, path, timestamp: ts, nonce: h.nonce, nodeId, body });
    if (!(await verifyText(await importPublicKey(verifyKeySpki), h.signature, text))) {
      throw new AppError("unauthorized", "Bad request signature");
    }
    if (!noncesRepo.claim(this.db, h.nonce, ts + CLOCK_WINDOW_MS)) {
      throw new AppError("unauthorized", "Replayed request");
    }
    return h.nonce;
  }

  /** Authenticates a node request: bearer secret, signature, clock window, nonce, rate limit. */
  async authenticate(method: string, path: string, h: SyncHeaders, body: string): Promise<SyncAuth> {
    const nodeId = Number(h.nodeId);
    if (!Number.isInteger(nodeId) || nodeId <= 0 || !h.bearer) {
      throw new AppError("unauthorized", "Missing node credentials");
    }
    const secretHash = await sha256Hex(h.bearer);
    const node = nodesFullRepo.byId(this.db, nodeId);
    if (!node) {
      const removed = removedNodesRepo.get(this.db, nodeId);
      if (removed && safeEqual(secretHash, removed.node_secret_hash)) {
        const nonce = await this.#checkSignature(method, path, h, body, nodeId, removed.verify_key);
        return { kind: "removed", nodeId, nonce };
      }
      throw new AppError("not_found", "Node ID not found");
    }
    if (!node.node_secret_hash || !node.verify_key) {
      throw new AppError("unauthorized", "This node has not enrolled");
    }
    if (!safeEqual(secretHash, node.node_secret_hash)) {
      throw new AppError("unauthorized", "Invalid node credentials");
    }
    const nonce = await this.#checkSignature(method, path, h, body, nodeId, node.verify_key);
    if (!this.#nodeRate.take(`node:${nodeId}`)) {
      throw new AppError("rate_limited", "Too many sync requests", { retryAfter: 5 });
    }
    return { kind: "node", node, nonce };
  }

  /** Signs an answer for a node: bound to its id, the request's nonce, the status and the body. */
  async signAnswer(nodeId: number, nonce: string, status: number, body: string): Promise<string> {
    if (!this.#signingKey) throw new AppError("internal", "NodeService.init() was not called");
    return await signText(this.#signingKey, await responseSigningText(nodeId, nonce, status, body));
  }

  // --- sync: heartbeat, config ---------------------------------------------------------------

  heartbeat(node: NodeFullRow, hb: HeartbeatRequest): HeartbeatResponse {
    const now = this.clock.now();
    let changedKeys = false;
    const acked = this.db.tx(() => {
      const status: NodeStatus = hb.status === "error" ? "error" : "online";
      if (status !== node.status) {
        this.audit.record(`node:${node.name}`, null, {
          action: "node.status",
          target: node.name,
          detail: `${node.status} -> ${status}${hb.error ? `: ${hb.error}` : ""}`,
        });
        this.log.info("node status changed", { node: node.name, from: node.status, to: status });
      }
      nodesFullRepo.seen(this.db, node.id, { status, error: hb.error, applied: hb.applied_version, now });
      const ifaces = new Map(interfacesRepo.list(this.db).map((i) => [i.name, i.id]));
      for (const i of hb.interfaces) {
        const id = ifaces.get(i.name);
        if (id === undefined || node.is_local) continue;
        const cur = nodeInterfacesRepo.get(this.db, node.id, id);
        if (cur && cur.public_key !== i.public_key) {
          nodeInterfacesRepo.setKey(this.db, node.id, id, i.public_key);
          changedKeys = true;
        }
      }
      if (changedKeys) this.#bumpLocalInTx();
      let last = node.last_metric_seq;
      for (const m of hb.metrics) {
        if (m.seq <= last) continue; // seen before: at-least-once delivery, exactly-once storage
        metricsRepo.insertRaw(this.db, {
          public_key: m.peer,
          at: m.at,
          node_id: node.is_local ? null : node.id,
          rx: m.rx,
          tx: m.tx,
          handshake: m.handshake,
          endpoint: m.endpoint,
        });
        last = m.seq;
      }
      const maxSeen = hb.metrics.reduce((mx, m) => Math.max(mx, m.seq), node.last_metric_seq);
      nodesFullRepo.metricSeq(this.db, node.id, maxSeen, hb.dropped);
      return maxSeen;
    });
    if (changedKeys) this.#notify([nodesFullRepo.local(this.db)!.id]);
    return {
      kind: "ok",
      acked_seq: acked,
      config_version: nodesFullRepo.byId(this.db, node.id)!.config_version,
    };
  }

  async config(nodeId: number): Promise<NodeConfig> {
    return await renderNodeConfig(this.db, this.open, nodeId, {
      now: this.clock.now(),
      publicHost: this.opts.publicHost,
    });
  }

  #closing = false;

  /** How many node long-polls are waiting now. */
  get pendingLongPolls(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** Ends every long-poll at once (and every later one without waiting), so a shutdown is not held up. */
  shutdown(): void {
    this.#closing = true;
    for (const set of this.#waiters.values()) for (const w of [...set]) w();
  }

  /** Resolves when the node's config_version exceeds `have`, or after `waitMs` (long-poll). */
  async waitForChange(nodeId: number, have: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    const current = () => nodesFullRepo.byId(this.db, nodeId)?.config_version ?? Infinity;
    if (current() > have || waitMs <= 0 || this.#closing) return;
    await new Promise<void>((resolve) => {
      const set = this.#waiters.get(nodeId) ?? new Set();
      this.#waiters.set(nodeId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(waitMs, this.opts.longPollMaxMs));
      signal?.addEventListener("abort", done, { once: true });
      set.add(done);
    });
  }

  #notify(nodeIds: number[]): void {
    for (const id of nodeIds) for (const w of [...(this.#waiters.get(id) ?? [])]) w();
  }

  #bumpInTx(nodeIds: number[]): void {
    for (const id of new Set(nodeIds)) nodesFullRepo.bump(this.db, id);
  }

  #bumpLocalInTx(): void {
    const local = nodesFullRepo.local(this.db);
    if (local) nodesFullRepo.bump(this.db, local.id);
  }

  /** Bumps config_version of the hosts a change touched (null = the master) and wakes their long-polls. */
  hostsChanged(hosts: (number | null)[]): void {
    const local = nodesFullRepo.local(this.db);
    const ids = new Set<number>();
    for (const h of hosts) {
      if (local) ids.add(local.id); // the master's wg0 carries every node's client addresses
      if (h !== null) ids.add(h);
    }
    if (ids.size === 0) return;
    this.db.tx(() => this.#bumpInTx([...ids]));
    this.#notify([...ids]);
  }

  /** New interfaces get an address for every remote node. */
  interfacesChanged(): void {
    this.db.tx(() => {
      for (const n of nodesFullRepo.remote(this.db)) this.allocateAddresses(n.id);
    });
  }

  /** The liveness job: nodes not seen for `staleAfterMs` go offline (audited). */
  markStale(): number {
    const before = this.clock.now() - this.opts.staleAfterMs;
    const stale = nodesFullRepo.staleOnline(this.db, before);
    if (stale.length === 0) return 0;
    this.db.tx(() => {
      for (const n of stale) {
        nodesFullRepo.setStatus(this.db, n.id, "offline");
        this.audit.record("scheduler", null, {
          action: "node.status",
          target: n.name,
          detail: `${n.status} -> offline`,
        });
      }
    });
    for (const n of stale) {
      this.log.warn("node offline", {
        node: n.name,
        last_seen: n.last_seen_at ? new Date(n.last_seen_at) : "never",
      });
    }
    return stale.length;
  }

  /** Downsamples and prunes metrics, and forgets old nonces. */
  housekeeping(): void {
    const now = this.clock.now();
    this.db.tx(() => {
      metricsRepo.downsample(this.db, 0, 1, 5 * 60_000, now - this.opts.metricsRawKeepMs);
      metricsRepo.downsample(this.db, 1, 2, 3_600_000, now - 7 * 86_400_000);
      metricsRepo.prune(this.db, 2, now - 90 * 86_400_000);
      noncesRepo.purge(this.db, now);
    });
  }
}
