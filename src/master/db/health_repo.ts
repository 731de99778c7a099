// SQL for the readiness check: does the database answer at all.
import type { Db } from "./db.ts";

export const healthRepo = {
  /** Throws when the database cannot answer. */
  ping: (db: Db) => db.get("SELECT 1 AS one"),
};
