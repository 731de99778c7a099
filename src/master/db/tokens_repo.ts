// SQL for API tokens.
import type { Db } from "./db.ts";

export type ApiTokenRow = {
  id: number;
  name: string;
  prefix: string;
  token_hash: string;
  scope: "read" | "write";
  user_id: number;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
};

export type ApiTokenWithUser = ApiTokenRow & {
  username: string;
  role: "admin" | "viewer";
  user_scope: string;
};

export const tokensRepo = {
  insert: (db: Db, t: Omit<ApiTokenRow, "id" | "revoked_at" | "last_used_at">) =>
    db.run(
      `INSERT INTO api_tokens (name, prefix, token_hash, scope, user_id, created_at, expires_at)
       VALUES (:name, :prefix, :token_hash, :scope, :user_id, :created_at, :expires_at)`,
      t,
    ).lastInsertRowid,
  byHash: (db: Db, hash: string) =>
    db.get<ApiTokenWithUser>(
      `SELECT t.*, u.username, u.role, u.scope AS user_scope FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = :hash`,
      { hash },
    ),
  byId: (db: Db, id: number) =>
    db.get<ApiTokenWithUser>(
      `SELECT t.*, u.username, u.role, u.scope AS user_scope FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = :id`,
      { id },
    ),
  list: (db: Db) =>
    db.all<ApiTokenWithUser>(
      `SELECT t.*, u.username, u.role, u.scope AS user_scope FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC, t.id DESC`,
    ),
  revoke: (db: Db, id: number, at: number) =>
    db.run("UPDATE api_tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL", { id, at })
      .changes,
  markUsed: (db: Db, id: number, at: number) =>
    db.run("UPDATE api_tokens SET last_used_at = :at WHERE id = :id", { id, at }),
};
