// SQL for users, sessions and login failures.
import type { Db } from "./db.ts";

export type UserRow = {
  id: number;
  username: string;
  role: "admin" | "viewer";
  password_hash: string;
  created_at: number;
  password_changed_at: number;
  /** `issuer|sub` of a user created or linked by single sign-on. */
  oidc_subject: string | null;
  /** The admin's scope as JSON (see service/scope.ts); "" for the whole fleet. */
  scope: string;
};

export type NewUserRow = Omit<UserRow, "id" | "oidc_subject" | "scope"> & {
  oidc_subject?: string | null;
  scope?: string;
};

export type SessionRow = {
  id_hash: string;
  user_id: number;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  ip: string;
  user_agent: string;
};

export const usersRepo = {
  count: (db: Db) => db.get<{ n: number }>("SELECT count(*) AS n FROM users")!.n,
  countAdmins: (db: Db) => db.get<{ n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin'")!.n,
  byId: (db: Db, id: number) => db.get<UserRow>("SELECT * FROM users WHERE id = :id", { id }),
  byName: (db: Db, username: string) =>
    db.get<UserRow>("SELECT * FROM users WHERE username = :username", { username }),
  list: (db: Db) => db.all<UserRow>("SELECT * FROM users ORDER BY username COLLATE NOCASE"),
  byOidcSubject: (db: Db, subject: string) =>
    db.get<UserRow>("SELECT * FROM users WHERE oidc_subject = :subject", { subject }),
  insert: (db: Db, u: NewUserRow) =>
    db.run(
      `INSERT INTO users (username, role, password_hash, created_at, password_changed_at, oidc_subject, scope)
       VALUES (:username, :role, :password_hash, :created_at, :password_changed_at, :oidc_subject, :scope)`,
      { oidc_subject: null, scope: "", ...u },
    ).lastInsertRowid,
  setScope: (db: Db, id: number, scope: string) =>
    db.run("UPDATE users SET scope = :scope WHERE id = :id", { id, scope }).changes,
  /** The ids of `ids` that exist in nodes or interfaces (what a scope may name). */
  existing: (db: Db, table: "nodes" | "interfaces", ids: number[]) =>
    db.all<{ id: number }>(
      `SELECT id FROM ${
        table === "nodes" ? "nodes" : "interfaces"
      } WHERE id IN (SELECT value FROM json_each(:ids))`,
      { ids: JSON.stringify(ids) },
    ).map((r) => r.id),
  setRole: (db: Db, id: number, role: UserRow["role"]) =>
    db.run("UPDATE users SET role = :role WHERE id = :id", { id, role }).changes,
  setPassword: (db: Db, id: number, hash: string, at: number) =>
    db.run("UPDATE users SET password_hash = :hash, password_changed_at = :at WHERE id = :id", {
      id,
      hash,
      at,
    }).changes,
  delete: (db: Db, id: number) => db.run("DELETE FROM users WHERE id = :id", { id }).changes,
};

export const sessionsRepo = {
  insert: (db: Db, s: SessionRow) =>
    db.run(
      `INSERT INTO sessions (id_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent)
       VALUES (:id_hash, :user_id, :created_at, :expires_at, :last_seen_at, :ip, :user_agent)`,
      s,
    ),
  withUser: (db: Db, idHash: string) =>
    db.get<SessionRow & { username: string; role: UserRow["role"]; scope: string }>(
      `SELECT s.*, u.username, u.role, u.scope FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = :idHash`,
      { idHash },
    ),
  touch: (db: Db, idHash: string, at: number) =>
    db.run("UPDATE sessions SET last_seen_at = :at WHERE id_hash = :idHash", { idHash, at }),
  delete: (db: Db, idHash: string) =>
    db.run("DELETE FROM sessions WHERE id_hash = :idHash", { idHash }).changes,
  deleteForUser: (db: Db, userId: number, exceptHash = "") =>
    db.run("DELETE FROM sessions WHERE user_id = :userId AND id_hash != :exceptHash", { userId, exceptHash })
      .changes,
  deleteExpired: (db: Db, now: number) =>
    db.run("DELETE FROM sessions WHERE expires_at <= :now", { now }).changes,
};

export type FailureRow = { key: string; count: number; first_at: number; locked_until: number | null };

export const loginFailuresRepo = {
  get: (db: Db, key: string) => db.get<FailureRow>("SELECT * FROM login_failures WHERE key = :key", { key }),
  put: (db: Db, row: FailureRow) =>
    db.run(
      `INSERT INTO login_failures (key, count, first_at, locked_until) VALUES (:key, :count, :first_at, :locked_until)
       ON CONFLICT (key) DO UPDATE SET count = excluded.count, first_at = excluded.first_at, locked_until = excluded.locked_until`,
      row,
    ),
  clear: (db: Db, key: string) => db.run("DELETE FROM login_failures WHERE key = :key", { key }),
  clearPrefix: (db: Db, prefix: string) =>
    db.run("DELETE FROM login_failures WHERE key LIKE :p", { p: `${prefix}%` }),
};
