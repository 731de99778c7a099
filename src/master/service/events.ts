// Fleet events: facts the master derives once (a node went down, came back, failed to apply...) and
// records in ONE persisted outbox, in the same transaction as the change they describe. Every enabled
// webhook whose filter takes the event gets a delivery row there; WebhookService delivers them. Node
// status changes go through `setNodeStatus` only, so each transition is audited, logged and announced
// exactly once, whoever noticed it (a heartbeat, the stale-node job or a health check).
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken } from "../../core/seal.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo, type NodeStatus } from "../db/nodes_repo.ts";
import { deliveriesRepo, eventsRepo, webhooksRepo } from "../db/webhooks_repo.ts";
import type { AuditService } from "./audit.ts";

/** The status a node shows: the table's statuses plus "pending" (not enrolled) and "error" (apply failed). */
export type FleetStatus = NodeStatus | "unreachable";

export const EVENT_TYPES = [
  "node.down",
  "node.unreachable",
  "node.up",
  "apply.failed",
  "config.not_applied",
  "metrics.dropped",
  "peer.expired",
  "auth.failures",
  "webhook.test",
] as const;
export type EventType = typeof EVENT_TYPES[number];

export type EventNode = { id: number; name: string };

/** The JSON body a webhook receives (documented in the README). */
export type EventPayload = {
  id: string;
  type: EventType;
  at: string;
  node: EventNode | null;
  data: Record<string, unknown>;
};

/** Whether a webhook's filter ("*" or a comma-separated list of types) takes an event type. */
export function filterTakes(filter: string, type: string): boolean {
  if (type === "webhook.test") return true;
  const parts = filter.split(",").map((p) => p.trim()).filter(Boolean);
  return parts.includes("*") || parts.includes(type);
}

const UP_FROM: readonly FleetStatus[] = ["offline", "unreachable"];

export class FleetEvents {
  /** Called after an event that queued deliveries (wakes the deliverer; the scheduler's job is the fallback). */
  onQueued: () => unknown = () => {};

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
  ) {}

  /**
   * Records an event and queues a delivery for every enabled webhook that takes it, inside the caller's
   * transaction (or its own). `dedupe` makes a fact that can be noticed twice (a peer's expiry) count once.
   */
  emit(
    type: EventType,
    node: EventNode | null,
    data: Record<string, unknown>,
    dedupe?: string,
  ): number | null {
    const now = this.clock.now();
    const uid = `evt_${randomToken(12)}`;
    const payload: EventPayload = { id: uid, type, at: new Date(now).toISOString(), node, data };
    let queued = 0;
    const id = this.db.tx(() => {
      const eventId = eventsRepo.insert(this.db, {
        uid,
        dedupe: dedupe ?? null,
        type,
        at: now,
        node_id: node?.id ?? null,
        payload: JSON.stringify(payload),
      });
      if (eventId === null) return null;
      for (const hook of webhooksRepo.enabled(this.db)) {
        if (type !== "webhook.test" && filterTakes(hook.events, type)) {
          queued += deliveriesRepo.enqueue(this.db, eventId, hook.id, now);
        }
      }
      return eventId;
    });
    if (id !== null) {
      this.log.info("fleet event", { type, node: node?.name ?? "", event: uid });
      if (queued > 0) {
        queueMicrotask(() => {
          Promise.resolve(this.onQueued()).catch((err) =>
            this.log.error("webhook delivery failed to start", { err: (err as Error).message })
          );
        });
      }
    }
    return id;
  }

  /**
   * The one place a node's status changes: writes it, audits it, logs it and emits the event of the
   * transition (down, unreachable, up, apply failed). No change, no event.
   */
  setNodeStatus(nodeId: number, to: FleetStatus, reason: string): boolean {
    return this.db.tx(() => {
      const n = nodesFullRepo.byId(this.db, nodeId);
      if (!n || n.status === to) return false;
      const from = n.status as FleetStatus;
      nodesFullRepo.setStatus(this.db, n.id, to as NodeStatus);
      this.audit.record("scheduler", null, {
        action: "node.status",
        target: n.name,
        detail: `${from} -> ${to}`,
      });
      const fields = { node: n.name, from, to, reason };
      if (to === "online" || to === "error") this.log.info("node status changed", fields);
      else this.log.warn("node status changed", fields);
      const node = { id: n.id, name: n.name };
      const data = { from, to, reason };
      if (to === "offline" && from !== "unreachable" && from !== "pending") {
        this.emit("node.down", node, data);
      }
      if (to === "unreachable") this.emit("node.unreachable", node, data);
      if (to === "online" && UP_FROM.includes(from)) this.emit("node.up", node, data);
      if (to === "error") {
        if (UP_FROM.includes(from)) this.emit("node.up", node, data);
        this.emit("apply.failed", node, {
          ...data,
          error: n.last_error,
          config_version: n.config_version,
          applied_version: n.applied_version,
        });
      }
      return true;
    });
  }

  recent(limit = 50) {
    return eventsRepo.recent(this.db, limit);
  }

  /** Forgets events older than 30 days whose deliveries are finished. */
  prune(): number {
    return this.db.tx(() => eventsRepo.prune(this.db, this.clock.now() - 30 * 86_400_000));
  }
}
