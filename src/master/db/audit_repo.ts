// SQL for the audit log and the meta key-value table.
import type { Db } from "./db.ts";

export type AuditRow = {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: string;
  ip: string;
};
export type AuditFilter = {
  action?: string;
  actor?: string;
  /** Only this user's own entries (their sessions and their tokens): what a scoped admin sees. */
  own?: string;
  q?: string;
  before?: number;
  limit: number;
};

export const auditRepo = {
  insert: (db: Db, e: Omit<AuditRow, "id">) =>
    db.run(
      "INSERT INTO audit_log (at, actor, action, target, detail, ip) VALUES (:at, :actor, :action, :target, :detail, :ip)",
      e,
    ),
  list: (db: Db, f: AuditFilter) =>
    db.all<AuditRow>(
      `SELECT * FROM audit_log
       WHERE (:action = '' OR action = :action OR action LIKE :actionPrefix)
         AND (:actor = '' OR actor = :actor)
         AND (:own = '' OR actor = :own OR substr(actor, 1, length(:own) + 8) = :own || ' (token ')
         AND (:q = '' OR target LIKE :like OR detail LIKE :like OR ip LIKE :like)
         AND (:before = 0 OR id < :before)
       ORDER BY id DESC LIMIT :limit`,
      {
        action: f.action ?? "",
        actionPrefix: `${f.action ?? ""}.%`,
        actor: f.actor ?? "",
        own: f.own ?? "",
        q: f.q ?? "",
        like: `%${(f.q ?? "").replace(/[%_]/g, "")}%`,
        before: f.before ?? 0,
        limit: f.limit,
      },
    ),
  actions: (db: Db) =>
    db.all<{ action: string }>("SELECT DISTINCT action FROM audit_log ORDER BY action").map((r) => r.action),
};

export const metaRepo = {
  get: (db: Db, key: string) =>
    db.get<{ value: string }>("SELECT value FROM meta WHERE key = :key", { key })?.value,
  set: (db: Db, key: string, value: string) =>
    db.run(
      "INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      {
        key,
        value,
      },
    ),
  delete: (db: Db, key: string) => db.run("DELETE FROM meta WHERE key = :key", { key }),
};
