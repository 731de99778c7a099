// The audit log: who did what, to what, when, from where. Every login and every change is recorded.
import type { Clock } from "../../core/ports/types.ts";
import { type AuditFilter, auditRepo, type AuditRow } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { type Actor, actorName, type RequestMeta } from "./context.ts";

export type AuditEntry = { action: string; target?: string; detail?: string };

export class AuditService {
  constructor(private readonly db: Db, private readonly clock: Clock) {}

  record(actor: Actor | string, meta: RequestMeta | null, entry: AuditEntry): void {
    auditRepo.insert(this.db, {
      at: this.clock.now(),
      actor: typeof actor === "string" ? actor : actorName(actor),
      action: entry.action,
      target: entry.target ?? "",
      detail: entry.detail ?? "",
      ip: meta?.ip ?? "",
    });
  }

  list(filter: Partial<AuditFilter> = {}): AuditRow[] {
    return auditRepo.list(this.db, { ...filter, limit: Math.min(Math.max(filter.limit ?? 100, 1), 500) });
  }

  actions(): string[] {
    return auditRepo.actions(this.db);
  }
}
