// Authentication of node requests on the sync API. Every request carries the node's bearer secret and a
// proof bound to the node and the request (method, path, timestamp, nonce, body hash): either an ECDSA
// P-256 signature with the node's enrolled identity key (enrollment, opening a session, and nodes that
// predate sessions) or an HMAC with the key of the node's current session (src/core/sync_session.ts).
// Both are checked against a bounded clock window and a nonce that is claimed once (a signed request's in
// the database; a session request's in memory, nonce_window.ts, as its session lives only in this
// process); then a per-node rate limit. A stolen bearer alone, or a replay, gets nothing.
import { createHash, timingSafeEqual } from "node:crypto";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { CLOCK_WINDOW_MS, importPublicKey, requestSigningText, verifyText } from "../../core/sync.ts";
import { requestTextSync, verifyMacSync } from "../../core/sync_session.ts";
import type { Db } from "../db/db.ts";
import { type NodeFullRow, nodesFullRepo, noncesRepo, removedNodesRepo } from "../db/nodes_repo.ts";
import { describeSkew, NodeClocks } from "./node_clocks.ts";
import { NonceWindow } from "./nonce_window.ts";
import { RateLimiter } from "./rate_limiter.ts";
import type { SyncSessions } from "./sync_sessions.ts";

/** The session a request was authenticated with (its answer is MAC'd with the same key), else null. */
export type SessionUse = { id: string; key: Uint8Array } | null;

export type SyncAuth =
  | { kind: "node"; node: NodeFullRow; nonce: string; session: SessionUse }
  | { kind: "removed"; nodeId: number; nonce: string; session: null };

export type SyncHeaders = {
  nodeId: string | undefined;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  bearer: string | undefined;
  /** A session request's session id and HMAC (instead of `signature`). */
  session?: string | undefined;
  mac?: string | undefined;
};

/**
 * Where a sync request comes from: the client address (for limits and logs), and whether it reached the
 * master over loopback without a proxy (only then can it be the master's own `local` node).
 */
export type SyncOrigin = { ip: string; loopback: boolean };

/** Compared with when there is no secret to compare with: no SHA-256 hex digest equals it. */
const NO_SECRET = "-".repeat(64);
const badCredentials = () => new AppError("unauthorized", "Invalid node credentials");

export function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SyncAuthenticator {
  #nodeRate: RateLimiter;
  /** Each node's clock, from its proven requests. */
  readonly clocks: NodeClocks;
  /** The highest version each node fetched or reported without being charged (see uncharge()). */
  #uncharged = new Map<string, number>();
  #limitedLoggedAt = new Map<number, number>();
  /**
   * The nonces of session requests. A session lives only in this process (sync_sessions.ts): after a
   * restart its requests are refused as `Unknown sync session`, so remembering them here is enough, and
   * the database write per request (most of what a heartbeat wrote) is gone.
   */
  #sessionNonces: NonceWindow;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly sessions: SyncSessions,
    private readonly opts: { syncRatePerMinute: number; clocks?: NodeClocks },
  ) {
    this.#nodeRate = new RateLimiter(opts.syncRatePerMinute, clock);
    this.clocks = opts.clocks ?? new NodeClocks();
    this.#sessionNonces = new NonceWindow(clock);
  }

  /**
   * A request caused by the master's own change: the answer carried a config version this node had not
   * been sent, or the heartbeat reported a version it had not applied before. It does not count against
   * the node's rate limit, so bulk changes (a 200-peer import is 200 versions) never trip it; each
   * version frees at most one fetch and one report, so a node cannot make itself unlimited.
   */
  uncharge(nodeId: number, kind: "config" | "applied", version: number): void {
    const key = `${kind}:${nodeId}`;
    if (version <= (this.#uncharged.get(key) ?? 0)) return;
    this.#uncharged.set(key, version);
    this.#nodeRate.refund(`node:${nodeId}`);
  }

  /** The timestamp and nonce both proofs carry; returns the timestamp (its window is checked once proven). */
  #fresh(h: SyncHeaders, proof: string | undefined): number {
    const ts = Number(h.timestamp);
    if (!h.nonce || !/^[A-Za-z0-9_-]{16,64}$/.test(h.nonce) || !Number.isInteger(ts) || !proof) {
      throw new AppError("unauthorized", "Unsigned sync request");
    }
    return ts;
  }

  /**
   * The clock of a proven request: its skew is kept (the node's page shows it, its samples are dated
   * by it) and a request outside the window is refused, saying how far off the node's clock is.
   */
  #inWindow(ts: number, nodeId: number): void {
    const skew = ts - this.clock.now();
    this.clocks.record(nodeId, skew);
    if (Math.abs(skew) > CLOCK_WINDOW_MS) {
      throw new AppError(
        "unauthorized",
        `Request timestamp outside the allowed window: the node's clock is ${describeSkew(skew)} the ` +
          `master's (±${CLOCK_WINDOW_MS / 60_000}m allowed; check the node's time sync)`,
      );
    }
  }

  #claim(nonce: string, ts: number): string {
    if (!noncesRepo.claim(this.db, nonce, ts + CLOCK_WINDOW_MS)) {
      throw new AppError("unauthorized", "Replayed request");
    }
    return nonce;
  }

  /** Checks an ECDSA-signed request against a verify key (SPKI); returns its nonce, claimed. */
  async checkSignature(
    method: string,
    path: string,
    h: SyncHeaders,
    body: string,
    nodeId: number,
    verifyKeySpki: string,
  ): Promise<string> {
    const ts = this.#fresh(h, h.signature);
    const text = await requestSigningText({ method, path, timestamp: ts, nonce: h.nonce!, nodeId, body });
    if (!(await verifyText(await importPublicKey(verifyKeySpki), h.signature!, text))) {
      throw new AppError("unauthorized", "Bad request signature");
    }
    this.#inWindow(ts, nodeId);
    return this.#claim(h.nonce!, ts);
  }

  /** Checks a session request's HMAC; returns its nonce (claimed) and the session. */
  async #checkMac(method: string, path: string, h: SyncHeaders, body: string, nodeId: number) {
    const ts = this.#fresh(h, h.mac);
    const key = await this.sessions.key(nodeId, h.session ?? "");
    // The node opens a new session on this answer (its old one was replaced, or the master forgot it).
    if (!key) throw new AppError("unauthorized", "Unknown sync session");
    const text = requestTextSync({ method, path, timestamp: ts, nonce: h.nonce!, nodeId, body });
    if (!verifyMacSync(key, h.mac!, text)) throw new AppError("unauthorized", "Bad request MAC");
    this.#inWindow(ts, nodeId);
    if (!this.#sessionNonces.claim(h.nonce!, ts + CLOCK_WINDOW_MS)) {
      throw new AppError("unauthorized", "Replayed request");
    }
    return { nonce: h.nonce!, session: { id: h.session!, key } };
  }

  /** Authenticates a node request: bearer secret, signature or session MAC, clock window, nonce, rate limit. */
  async authenticate(
    from: SyncOrigin,
    method: string,
    path: string,
    h: SyncHeaders,
    body: string,
  ): Promise<SyncAuth> {
    const nodeId = Number(h.nodeId);
    if (!Number.isInteger(nodeId) || nodeId <= 0 || !h.bearer) {
      throw new AppError("unauthorized", "Missing node credentials");
    }
    const secretHash = createHash("sha256").update(h.bearer).digest("hex");
    const node = nodesFullRepo.byId(this.db, nodeId);
    // An unknown id, a node that has not enrolled and a wrong secret get the same answer after the same
    // work (one hash, one constant-time comparison): the API is no oracle for which node ids exist.
    if (!node) {
      const removed = removedNodesRepo.get(this.db, nodeId);
      if (safeEqual(secretHash, removed?.node_secret_hash ?? NO_SECRET) && removed) {
        // A removed node has no session: it learns it was removed through a signed request.
        if (h.mac) throw new AppError("unauthorized", "Unknown sync session");
        const nonce = await this.checkSignature(method, path, h, body, nodeId, removed.verify_key);
        return { kind: "removed", nodeId, nonce, session: null };
      }
      throw badCredentials();
    }
    if (!safeEqual(secretHash, node.node_secret_hash ?? NO_SECRET) || !node.verify_key) {
      throw badCredentials();
    }
    const { nonce, session } = h.mac !== undefined
      ? await this.#checkMac(method, path, h, body, nodeId)
      : { nonce: await this.checkSignature(method, path, h, body, nodeId, node.verify_key), session: null };
    if (node.is_local && !from.loopback) throw this.notLoopback(`${method} ${path}`, from);
    if (!this.#nodeRate.take(`node:${nodeId}`)) {
      const now = this.clock.now();
      if (now - (this.#limitedLoggedAt.get(nodeId) ?? -Infinity) >= 60_000) {
        this.#limitedLoggedAt.set(nodeId, now);
        this.log.warn("refusing sync requests: too many from this node (429 for a minute at most)", {
          node: node.name,
          node_id: nodeId,
          limit: `${this.opts.syncRatePerMinute}/min`,
        });
      }
      throw new AppError("rate_limited", "Too many sync requests", { retryAfter: 5 });
    }
    return { kind: "node", node, nonce, session };
  }

  /**
   * The `local` node receives every interface's private key: it enrolls and syncs over loopback only. A
   * request for it from anywhere else (or through a proxy) is refused and logged (it took a genuine token
   * or the node's own secret and key to get here).
   */
  notLoopback(what: string, from: SyncOrigin): AppError {
    this.log.warn("local node request refused: it enrolls and syncs over loopback only", {
      request: what,
      ip: from.ip,
    });
    return new AppError(
      "forbidden",
      `The master's own local node enrolls and syncs over loopback only (this ${what} came from ${from.ip})`,
    );
  }
}
