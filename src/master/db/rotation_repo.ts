// SQL for credential rotation: a peer's traffic history follows it to its new public key.
import type { Db } from "./db.ts";

export function moveTrafficHistory(db: Db, from: string, to: string): number {
  return db.run("UPDATE peer_metrics SET public_key = :to WHERE public_key = :from", { from, to }).changes;
}
