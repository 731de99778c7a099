// What nodes report about themselves (last apply outcome, error, duration, warnings, queue depth) and
// the fleet events derived from it and from the master's own observations: a config not applied within
// its deadline, samples dropped, peers expired, bursts of failed node authentication. Each is derived
// here once and recorded through FleetEvents (one per transition, never a flood).
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { HeartbeatRequest } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { type NodeReportRow, reportsRepo } from "../db/node_health_repo.ts";
import { type NodeFullRow, nodesFullRepo } from "../db/nodes_repo.ts";
import { eventsRepo } from "../db/webhooks_repo.ts";
import { peersRepo } from "../db/wg_repo.ts";
import type { AuditService } from "./audit.ts";
import type { FleetEvents } from "./events.ts";

export type WatchOptions = {
  /** A node whose applied version stays behind for longer than this gets one config.not_applied. */
  notAppliedAfterMs: number;
  /** Failed node authentications from one address within `authWindowMs` that make a burst. */
  authBurst: number;
  authWindowMs: number;
};

export const DEFAULT_WATCH_OPTIONS: WatchOptions = {
  notAppliedAfterMs: 5 * 60_000,
  authBurst: 20,
  authWindowMs: 5 * 60_000,
};

export type ReportView = {
  at: number;
  applyOk: boolean | null;
  applyError: string | null;
  applyVersion: number | null;
  applyMs: number | null;
  warnings: string[];
  queueDepth: number | null;
  syncLatencyMs: number | null;
};

const DROPS_QUIET_MS = 3_600_000;

export function reportView(r: NodeReportRow): ReportView {
  let warnings: string[] = [];
  try {
    const w = JSON.parse(r.warnings);
    if (Array.isArray(w)) warnings = w.map(String);
  } catch { /* none */ }
  return {
    at: r.at,
    applyOk: r.apply_ok === null ? null : r.apply_ok === 1,
    applyError: r.apply_error,
    applyVersion: r.apply_version,
    applyMs: r.apply_ms,
    warnings,
    queueDepth: r.queue_depth,
    syncLatencyMs: r.sync_latency_ms,
  };
}

export class FleetWatch {
  #auth = new Map<string, { times: number[]; burst: boolean; loggedAt: number; unlogged: number }>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly events: FleetEvents,
    private readonly opts: WatchOptions,
  ) {}

  /** Stores a heartbeat's report and derives metrics.dropped; inside the heartbeat's transaction. */
  heartbeatInTx(before: NodeFullRow, hb: HeartbeatRequest, now: number): void {
    const cur = reportsRepo.get(this.db, before.id);
    const rep = hb.report;
    const apply = rep?.apply;
    reportsRepo.save(this.db, {
      node_id: before.id,
      at: now,
      apply_ok: apply ? (apply.ok ? 1 : 0) : hb.status === "error" ? 0 : cur?.apply_ok ?? null,
      apply_error: apply ? apply.error : hb.status === "error" ? hb.error : cur?.apply_error ?? null,
      apply_version: apply?.version ?? cur?.apply_version ?? null,
      apply_ms: apply?.duration_ms ?? cur?.apply_ms ?? null,
      warnings: JSON.stringify(rep?.warnings ?? []),
      queue_depth: rep?.queue_depth ?? cur?.queue_depth ?? null,
      sync_latency_ms: rep?.sync_latency_ms ?? cur?.sync_latency_ms ?? null,
      behind_since: cur?.behind_since ?? null,
      behind_reported: cur?.behind_reported ?? 0,
    });
    if (hb.dropped > before.dropped_metrics) {
      const last = eventsRepo.lastOf(this.db, "metrics.dropped", before.id);
      if (!last || now - last.at >= DROPS_QUIET_MS) {
        this.events.emit("metrics.dropped", { id: before.id, name: before.name }, {
          dropped: hb.dropped,
          since_last_report: hb.dropped - before.dropped_metrics,
        });
      }
    }
  }

  report(nodeId: number): ReportView | null {
    const r = reportsRepo.get(this.db, nodeId);
    return r ? reportView(r) : null;
  }

  reports(): Map<number, ReportView> {
    return new Map(reportsRepo.all(this.db).map((r) => [r.node_id, reportView(r)]));
  }

  /** The not-applied job: one config.not_applied per version a live node leaves unapplied too long. */
  notApplied(): number {
    const now = this.clock.now();
    let n = 0;
    this.db.tx(() => {
      for (const node of nodesFullRepo.list(this.db)) {
        if (node.enrolled_at === null) continue;
        const cur = reportsRepo.get(this.db, node.id);
        const base: NodeReportRow = cur ?? {
          node_id: node.id,
          at: now,
          apply_ok: null,
          apply_error: null,
          apply_version: null,
          apply_ms: null,
          warnings: "[]",
          queue_depth: null,
          sync_latency_ms: null,
          behind_since: null,
          behind_reported: 0,
        };
        const behind = node.applied_version < node.config_version;
        if (!behind) {
          if (base.behind_since !== null) reportsRepo.save(this.db, { ...base, behind_since: null });
          continue;
        }
        if (base.behind_since === null) {
          reportsRepo.save(this.db, { ...base, behind_since: now });
          continue;
        }
        const live = node.status === "online" || node.status === "error";
        if (!live || now - base.behind_since < this.opts.notAppliedAfterMs) continue;
        if (base.behind_reported >= node.config_version) continue;
        reportsRepo.save(this.db, { ...base, behind_reported: node.config_version });
        this.events.emit("config.not_applied", { id: node.id, name: node.name }, {
          config_version: node.config_version,
          applied_version: node.applied_version,
          behind_since: new Date(base.behind_since).toISOString(),
          error: node.last_error,
        });
        n++;
      }
    });
    return n;
  }

  /** Before the expiry job disables them: one peer.expired per peer and expiry time. */
  peersExpiring(): number {
    let n = 0;
    for (const p of peersRepo.due(this.db, this.clock.now())) {
      const node = p.node_id === null ? null : nodesFullRepo.byId(this.db, p.node_id);
      const id = this.events.emit(
        "peer.expired",
        node ? { id: node.id, name: node.name } : null,
        { peer: { id: p.id, name: p.name, public_key: p.public_key }, expired_at: iso(p.expires_at) },
        `peer.expired:${p.id}:${p.expires_at}`,
      );
      if (id !== null) n++;
    }
    return n;
  }

  /**
   * A node request failed authentication: logged and audited at most once a minute per address (with
   * the count since), and one auth.failures event when an address crosses the burst threshold.
   */
  authFailed(ip: string, nodeId: string | undefined, message: string): void {
    const now = this.clock.now();
    const a = this.#auth.get(ip) ?? { times: [], burst: false, loggedAt: -Infinity, unlogged: 0 };
    a.times = a.times.filter((t) => now - t < this.opts.authWindowMs);
    a.times.push(now);
    a.unlogged++;
    if (now - a.loggedAt >= 60_000) {
      this.log.warn("node authentication failed", {
        ip,
        node_id: nodeId ?? "",
        error: message,
        count: a.unlogged,
      });
      this.audit.record("sync", { ip, userAgent: "" }, {
        action: "node.auth_failed",
        target: nodeId ? `node ${nodeId.slice(0, 12)}` : "",
        detail: `${message} (${a.unlogged} since last entry)`,
      });
      a.loggedAt = now;
      a.unlogged = 0;
    }
    if (!a.burst && a.times.length >= this.opts.authBurst) {
      a.burst = true;
      this.events.emit("auth.failures", null, {
        ip,
        failures: a.times.length,
        window_seconds: Math.round(this.opts.authWindowMs / 1000),
        last_error: message,
      });
    } else if (a.burst && a.times.length < this.opts.authBurst / 2) {
      a.burst = false;
    }
    if (this.#auth.size > 10_000) this.#auth.clear();
    this.#auth.set(ip, a);
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
