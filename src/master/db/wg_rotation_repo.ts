// Node WireGuard key rotations (service/wg_key_rotation.ts): one row per rotation, at most one running
// per node; and the device columns of node_interfaces it moves. SQL only.
import type { Db } from "./db.ts";

export type WgRotationRow = {
  id: number;
  node_id: number;
  started_at: number;
  finish_by: number;
  finished_at: number | null;
  moved: number;
  pending: number;
  started_by: string;
};

/** A node's interface as a rotation sees it: its current device and the next device's announced key. */
export type WgDeviceRow = {
  interface_id: number;
  public_key: string | null;
  device: string | null;
  next_public_key: string | null;
};

export const wgRotationRepo = {
  running: (db: Db, nodeId: number) =>
    db.get<WgRotationRow>("SELECT * FROM node_wg_rotations WHERE node_id = :nodeId AND finished_at IS NULL", {
      nodeId,
    }),
  allRunning: (db: Db) =>
    db.all<WgRotationRow>("SELECT * FROM node_wg_rotations WHERE finished_at IS NULL ORDER BY id"),
  /** When the node's last rotation finished (null: never). */
  lastFinished: (db: Db, nodeId: number) =>
    db.get<{ at: number | null }>(
      "SELECT max(finished_at) AS at FROM node_wg_rotations WHERE node_id = :nodeId",
      { nodeId },
    )?.at ?? null,
  insert: (db: Db, r: { node_id: number; started_at: number; finish_by: number; started_by: string }) =>
    Number(
      db.run(
        `INSERT INTO node_wg_rotations (node_id, started_at, finish_by, started_by)
         VALUES (:node_id, :started_at, :finish_by, :started_by)`,
        r,
      ).lastInsertRowid,
    ),
  progress: (db: Db, id: number, moved: number, pending: number) =>
    db.run("UPDATE node_wg_rotations SET moved = :moved, pending = :pending WHERE id = :id", {
      id,
      moved,
      pending,
    }).changes,
  finish: (db: Db, id: number, at: number) =>
    db.run("UPDATE node_wg_rotations SET finished_at = :at WHERE id = :id AND finished_at IS NULL", {
      id,
      at,
    })
      .changes,
  devices: (db: Db, nodeId: number) =>
    db.all<WgDeviceRow>(
      `SELECT interface_id, public_key, device, next_public_key FROM node_interfaces
       WHERE node_id = :nodeId ORDER BY interface_id`,
      { nodeId },
    ),
  announce: (db: Db, nodeId: number, interfaceId: number, key: string) =>
    db.run(
      `UPDATE node_interfaces SET next_public_key = :key
       WHERE node_id = :nodeId AND interface_id = :interfaceId AND next_public_key IS NOT :key`,
      { nodeId, interfaceId, key },
    ).changes,
  /** The switch: the next device and its key become the interface's. */
  switchTo: (db: Db, nodeId: number, interfaceId: number, device: string | null) =>
    db.run(
      `UPDATE node_interfaces SET device = :device, public_key = next_public_key, next_public_key = NULL
       WHERE node_id = :nodeId AND interface_id = :interfaceId AND next_public_key IS NOT NULL`,
      { nodeId, interfaceId, device },
    ).changes,
  clearNext: (db: Db, nodeId: number) =>
    db.run("UPDATE node_interfaces SET next_public_key = NULL WHERE node_id = :nodeId", { nodeId }).changes,
};
