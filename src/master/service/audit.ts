// The audit log: who did what, to what, when, from where. Every login and every change is recorded.
import type { Clock } from "../../core/ports/types.ts";
import { type AuditFilter, auditRepo, type AuditRow } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { type Actor, actorName, type RequestMeta } from "./context.ts";
import { fleetOf, formatScope } from "./scope.ts";

export type AuditEntry = { action: string; target?: string; detail?: string };

export class AuditService {
  constructor(private readonly db: Db, private readonly clock: Clock) {}

  record(actor: Actor | string, meta: RequestMeta | null, entry: AuditEntry): void {
    auditRepo.insert(this.db, {
      at: this.clock.now(),
      actor: typeof actor === "string" ? actor : actorName(actor),
      action: entry.action,
      target: entry.target ?? "",
      // What a scoped admin did carries the scope they did it in.
      detail: typeof actor !== "string" && fleetOf(actor)
        ? `${entry.detail ?? ""} [scope ${formatScope(fleetOf(actor))}]`.trim()
        : entry.detail ?? "",
      ip: meta?.ip ?? "",
    });
  }

  /** The entries `actor` may read: a scoped admin only their own. */
  listFor(actor: Actor, filter: Partial<AuditFilter> = {}): AuditRow[] {
    const own = fleetOf(actor) && actor.kind !== "system" ? actor.username : "";
    return this.list({ ...filter, ...(own ? { own } : {}) });
  }

  list(filter: Partial<AuditFilter> = {}): AuditRow[] {
    return auditRepo.list(this.db, { ...filter, limit: Math.min(Math.max(filter.limit ?? 100, 1), 500) });
  }

  actions(): string[] {
    return auditRepo.actions(this.db);
  }
}
