// Sync sessions (SQL only): one per node, its HMAC key sealed with the master's key.
import type { Db } from "./db.ts";

export type SessionRow = { node_id: number; session_id: string; key_sealed: string; created_at: number };

export const sessionsRepo = {
  get: (db: Db, nodeId: number) =>
    db.get<SessionRow>("SELECT * FROM sync_sessions WHERE node_id = :nodeId", { nodeId }),
  /** Replaces the node's session (a node holds one at a time). */
  put: (db: Db, r: SessionRow) =>
    db.run(
      `INSERT INTO sync_sessions (node_id, session_id, key_sealed, created_at) VALUES (:node_id, :session_id, :key_sealed, :created_at)
       ON CONFLICT (node_id) DO UPDATE SET session_id = excluded.session_id, key_sealed = excluded.key_sealed,
         created_at = excluded.created_at`,
      r,
    ),
  delete: (db: Db, nodeId: number) => db.run("DELETE FROM sync_sessions WHERE node_id = :nodeId", { nodeId }),
};
