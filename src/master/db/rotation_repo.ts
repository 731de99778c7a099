// SQL for credential rotation: a peer's traffic history follows it to its new public key; the enrolled nodes.
import type { Db } from "./db.ts";

export function moveTrafficHistory(db: Db, from: string, to: string): number {
  return db.run("UPDATE peer_metrics SET public_key = :to WHERE public_key = :from", { from, to }).changes;
}

/** The ids of the nodes that have enrolled (they hold the master's verification key). */
export function enrolledNodeIds(db: Db): number[] {
  return db.all<{ id: number }>("SELECT id FROM nodes WHERE verify_key IS NOT NULL ORDER BY id").map((r) =>
    r.id
  );
}

/** A node's new identity (its P-256 verification key and certificate pin), after a proven rotation. */
export function setNodeIdentity(db: Db, id: number, verifyKey: string, certSha256: string): boolean {
  return db.run(
    "UPDATE nodes SET verify_key = :verifyKey, cert_sha256 = :certSha256 WHERE id = :id AND verify_key IS NOT NULL",
    { id, verifyKey, certSha256 },
  ).changes === 1;
}
