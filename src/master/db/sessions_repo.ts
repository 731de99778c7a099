// Sync sessions (SQL only): the rows earlier versions kept (one per node, its HMAC key sealed with the
// master's key). Sessions now live in the master's memory (service/sync_sessions.ts): rows are deleted.
import type { Db } from "./db.ts";

export const sessionsRepo = {
  /** Every row, at start. */
  clear: (db: Db) => db.run("DELETE FROM sync_sessions"),
};
