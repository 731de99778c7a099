// Active health checks of nodes through their WireGuard tunnel, with seed 003's backoff table, and the
// one rule that decides a node's status from its heartbeats and its checks:
//
//   consecutive failed checks  0–2: check every 30 s, "online"   3–5: every 2 min, "offline"
//   6–10: every 5 min, "offline"   11–20: every 15 min, "unreachable"   21+: every 30 min, "unreachable"
//
//   status = "pending" until enrolled; else the table's status when it is not "online"; else "offline"
//   without a heartbeat within the stale window; else "error" while the node reports an apply error;
//   else "online". So "online" needs a recent heartbeat AND a tunnel that answers.
//
// A heartbeat from a node the master considered gone (no heartbeat within the stale window) resets the
// failure count, marks it online at once and makes its next check due now. While a node keeps
// heartbeating, only a passing check resets the count: a daemon that heartbeats over the internet but
// whose WireGuard is down fails its checks and goes offline.
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { HeartbeatRequest } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { type NodeCheckRow, nodeHealthRepo, type NodeHealthRow } from "../db/node_health_repo.ts";
import { type NodeFullRow, nodeInterfacesRepo, nodesFullRepo } from "../db/nodes_repo.ts";
import { interfacesRepo } from "../db/wg_repo.ts";
import type { Probe } from "../health_probe.ts";
import type { FleetEvents, FleetStatus } from "./events.ts";
import { AppError } from "../../core/errors.ts";

/** Check intervals for 0–2, 3–5, 6–10, 11–20 and 21+ consecutive failures. */
export type HealthIntervals = readonly [number, number, number, number, number];
export const DEFAULT_HEALTH_INTERVALS: HealthIntervals = [30_000, 120_000, 300_000, 900_000, 1_800_000];

export type HealthOptions = {
  intervals: HealthIntervals;
  staleAfterMs: number;
  timeoutMs: number;
  port: number;
};

/** The backoff table: how long until the next check and the status, after `failures` failed checks in a row. */
export function healthStep(
  failures: number,
  intervals: HealthIntervals = DEFAULT_HEALTH_INTERVALS,
): { intervalMs: number; status: "online" | "offline" | "unreachable" } {
  if (failures <= 2) return { intervalMs: intervals[0], status: "online" };
  if (failures <= 5) return { intervalMs: intervals[1], status: "offline" };
  if (failures <= 10) return { intervalMs: intervals[2], status: "offline" };
  if (failures <= 20) return { intervalMs: intervals[3], status: "unreachable" };
  return { intervalMs: intervals[4], status: "unreachable" };
}

/** The status rule (see the top of this file). */
export function combinedStatus(
  n: { enrolled: boolean; lastSeenAt: number | null; lastError: string | null },
  failures: number,
  now: number,
  opts: { staleAfterMs: number; intervals?: HealthIntervals },
): FleetStatus {
  if (!n.enrolled) return "pending";
  const step = healthStep(failures, opts.intervals);
  if (step.status !== "online") return step.status;
  if (n.lastSeenAt === null || now - n.lastSeenAt > opts.staleAfterMs) return "offline";
  return n.lastError ? "error" : "online";
}

export type CheckResult = {
  ok: boolean;
  latencyMs: number;
  error: string | null;
  status: FleetStatus;
  failures: number;
  nextCheckAt: number;
  at: number;
};

export type HealthView = {
  failures: number;
  nextCheckAt: number | null;
  lastCheckAt: number | null;
  lastOkAt: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  checks: { at: number; ok: boolean; latencyMs: number; error: string | null; manual: boolean }[];
};

const checkView = (c: NodeCheckRow) => ({
  at: c.at,
  ok: c.ok === 1,
  latencyMs: c.latency_ms,
  error: c.error,
  manual: c.manual === 1,
});

export class HealthService {
  #running = new Map<number, Promise<CheckResult>>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: FleetEvents,
    private readonly probe: Probe,
    private readonly opts: HealthOptions,
  ) {}

  /** Recomputes a node's status from its heartbeats and checks; the change (if any) goes through FleetEvents. */
  refresh(
    nodeId: number,
    reason: string,
    n: NodeFullRow | undefined = nodesFullRepo.byId(this.db, nodeId),
  ): FleetStatus | null {
    if (!n || n.is_local && n.enrolled_at === null) return null;
    const failures = n.is_local ? 0 : nodeHealthRepo.get(this.db, nodeId)?.failures ?? 0;
    const status = combinedStatus(
      { enrolled: n.enrolled_at !== null, lastSeenAt: n.last_seen_at, lastError: n.last_error },
      failures,
      this.clock.now(),
      this.opts,
    );
    // Unchanged (the common case: a heartbeat of a node that is online): nothing to record. setNodeStatus
    // would read the same row in the same turn and find nothing to do, after a savepoint of its own.
    if (n.status !== status) this.events.setNodeStatus(nodeId, status, reason);
    return status;
  }

  /** The stale-node job: nodes not heard from within the stale window go offline. */
  markStale(): number {
    const before = this.clock.now() - this.opts.staleAfterMs;
    let n = 0;
    for (const node of nodesFullRepo.staleOnline(this.db, before)) {
      const seen = node.last_seen_at ? new Date(node.last_seen_at).toISOString() : "never";
      if (this.refresh(node.id, `no heartbeat since ${seen}`) !== node.status) n++;
    }
    return n;
  }

  /**
   * A heartbeat arrived (`before` is the node's row as it was): a node coming back from silence has its
   * failures reset and is checked at once. Runs inside the heartbeat's transaction.
   */
  heartbeatInTx(before: NodeFullRow, hb: HeartbeatRequest, now: number): void {
    const returning = before.last_seen_at === null || now - before.last_seen_at > this.opts.staleAfterMs;
    if (returning && !before.is_local) {
      const h = nodeHealthRepo.ensure(this.db, before.id);
      nodeHealthRepo.save(this.db, { ...h, failures: 0, next_check_at: now });
    }
    // The row as the heartbeat's own UPDATE left it (sync.ts), not read again.
    const after = { ...before, last_seen_at: now, last_error: hb.error };
    this.refresh(
      before.id,
      hb.status === "error" ? `node reports: ${hb.error ?? "error"}` : "heartbeat",
      after,
    );
  }

  /** The check job: every node whose next check is due (a few at a time). */
  async checkDue(): Promise<number> {
    const due = nodeHealthRepo.due(this.db, this.clock.now());
    for (let i = 0; i < due.length; i += 16) {
      await Promise.all(due.slice(i, i + 16).map((d) => this.check(d.id, false)));
    }
    return due.length;
  }

  /** Checks one node now, bypassing the backoff ("Check now" and the API). */
  async checkNow(nodeId: number): Promise<CheckResult> {
    const n = nodesFullRepo.byId(this.db, nodeId);
    if (!n) throw new AppError("not_found", `Node ${nodeId} not found`);
    if (n.is_local) {
      throw new AppError("conflict", "The master's own node is not checked through a tunnel");
    }
    if (!n.enrolled_at || !n.verify_key) {
      throw new AppError("conflict", `Cannot check node "${n.name}": it has not enrolled yet`);
    }
    return await this.check(nodeId, true);
  }

  check(nodeId: number, manual: boolean): Promise<CheckResult> {
    const running = this.#running.get(nodeId);
    if (running) return running;
    const p = this.#check(nodeId, manual).finally(() => this.#running.delete(nodeId));
    this.#running.set(nodeId, p);
    return p;
  }

  async #check(nodeId: number, manual: boolean): Promise<CheckResult> {
    const n = nodesFullRepo.byId(this.db, nodeId)!;
    const address = this.#tunnelAddress(nodeId);
    const result = address && n.verify_key
      ? await this.probe(
        { nodeId, address, port: this.opts.port, verifyKey: n.verify_key },
        this.opts.timeoutMs,
      )
      : {
        ok: false,
        latencyMs: 0,
        error: "no tunnel address yet (no interface on the master)",
        applied: null,
      };
    const now = this.clock.now();
    return this.db.tx(() => {
      const h = nodeHealthRepo.ensure(this.db, nodeId);
      // Without an interface on the master there is no tunnel to prove: such a check does not count.
      const failures = result.ok ? 0 : address ? h.failures + 1 : h.failures;
      const step = healthStep(failures, this.opts.intervals);
      const row: NodeHealthRow = {
        node_id: nodeId,
        failures,
        next_check_at: now + step.intervalMs,
        last_check_at: now,
        last_ok_at: result.ok ? now : h.last_ok_at,
        last_latency_ms: result.latencyMs,
        last_check_error: result.error,
      };
      nodeHealthRepo.save(this.db, row);
      nodeHealthRepo.addCheck(this.db, {
        node_id: nodeId,
        at: now,
        ok: result.ok ? 1 : 0,
        latency_ms: result.latencyMs,
        error: result.error,
        manual: manual ? 1 : 0,
      });
      if (!result.ok && (h.failures === 0 || manual)) {
        this.log.warn("node health check failed", { node: n.name, failures, error: result.error ?? "" });
      } else if (result.ok && h.failures > 0) {
        this.log.info("node health check passed again", { node: n.name, after_failures: h.failures });
      }
      const reason = result.ok
        ? "tunnel check passed"
        : `${failures} tunnel check${failures === 1 ? "" : "s"} failed: ${result.error}`;
      const status = this.refresh(nodeId, reason) ?? (n.status as FleetStatus);
      return {
        ok: result.ok,
        latencyMs: result.latencyMs,
        error: result.error,
        status,
        failures,
        nextCheckAt: row.next_check_at,
        at: now,
      };
    });
  }

  /** The node's tunnel address on the master's first interface (where its responder listens). */
  #tunnelAddress(nodeId: number): string | null {
    const first = interfacesRepo.list(this.db)[0];
    if (!first) return null;
    const ni = nodeInterfacesRepo.get(this.db, nodeId, first.id);
    return ni ? ni.address4.replace(/\/\d+$/, "") : null;
  }

  view(nodeId: number, checks = 10): HealthView {
    const h = nodeHealthRepo.get(this.db, nodeId);
    return {
      failures: h?.failures ?? 0,
      nextCheckAt: h?.next_check_at ?? null,
      lastCheckAt: h?.last_check_at ?? null,
      lastOkAt: h?.last_ok_at ?? null,
      lastLatencyMs: h?.last_latency_ms ?? null,
      lastError: h?.last_check_error ?? null,
      checks: nodeHealthRepo.recentChecks(this.db, nodeId, checks).map(checkView),
    };
  }

  all(): Map<number, NodeHealthRow> {
    return new Map(nodeHealthRepo.all(this.db).map((h) => [h.node_id, h]));
  }
}
