// The readiness check behind /api/ready: the database answers, and the secret key is the one the
// database was made with.
import type { Db } from "../db/db.ts";
import { healthRepo } from "../db/health_repo.ts";
import { keysMatch, type MasterKeys } from "./secrets.ts";

export type Readiness = { database: "ok" | "unavailable" | "storage full"; secretKey: "ok" | "mismatch" };

export class ReadinessService {
  constructor(private readonly db: Db, private readonly keys: MasterKeys) {}

  async check(): Promise<Readiness> {
    let database: Readiness["database"] = "ok";
    let secretKey: Readiness["secretKey"] = "ok";
    try {
      healthRepo.ping(this.db);
      // Not ready while writes fail on a full, read-only or failing disk.
      if (!this.db.checkWritable()) database = "storage full";
    } catch {
      database = "unavailable";
    }
    if (database === "ok" && !(await keysMatch(this.db, this.keys))) secretKey = "mismatch";
    return { database, secretKey };
  }
}
