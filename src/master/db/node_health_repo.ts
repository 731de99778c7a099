// SQL for node health: the check state per node, the recent checks, and what each node reports about
// its last apply (outcome, error, duration, warnings, queue depth).
import type { Db } from "./db.ts";

export type NodeHealthRow = {
  node_id: number;
  failures: number;
  next_check_at: number;
  last_check_at: number | null;
  last_ok_at: number | null;
  last_latency_ms: number | null;
  last_check_error: string | null;
};

export type NodeCheckRow = {
  id: number;
  node_id: number;
  at: number;
  ok: 0 | 1;
  latency_ms: number;
  error: string | null;
  manual: 0 | 1;
};

export type NodeReportRow = {
  node_id: number;
  at: number;
  apply_ok: 0 | 1 | null;
  apply_error: string | null;
  apply_version: number | null;
  apply_ms: number | null;
  warnings: string;
  queue_depth: number | null;
  sync_latency_ms: number | null;
  behind_since: number | null;
  behind_reported: number;
};

/** How many checks are kept per node (the node page shows the newest). */
const KEEP_CHECKS = 50;

export const nodeHealthRepo = {
  get: (db: Db, nodeId: number) =>
    db.get<NodeHealthRow>("SELECT * FROM node_health WHERE node_id = :nodeId", { nodeId }),
  all: (db: Db) => db.all<NodeHealthRow>("SELECT * FROM node_health"),
  /** The row of a node, made (due at once) when missing. */
  ensure: (db: Db, nodeId: number) => {
    db.run("INSERT OR IGNORE INTO node_health (node_id) VALUES (:nodeId)", { nodeId });
    return db.get<NodeHealthRow>("SELECT * FROM node_health WHERE node_id = :nodeId", { nodeId })!;
  },
  /** Enrolled remote nodes whose next check is due. */
  due: (db: Db, now: number) =>
    db.all<{ id: number }>(
      `SELECT n.id FROM nodes n LEFT JOIN node_health h ON h.node_id = n.id
       WHERE n.is_local = 0 AND n.enrolled_at IS NOT NULL AND coalesce(h.next_check_at, 0) <= :now
       ORDER BY coalesce(h.next_check_at, 0), n.id`,
      { now },
    ),
  save: (db: Db, r: NodeHealthRow) =>
    db.run(
      `INSERT INTO node_health (node_id, failures, next_check_at, last_check_at, last_ok_at, last_latency_ms, last_check_error)
       VALUES (:node_id, :failures, :next_check_at, :last_check_at, :last_ok_at, :last_latency_ms, :last_check_error)
       ON CONFLICT (node_id) DO UPDATE SET failures = excluded.failures, next_check_at = excluded.next_check_at,
         last_check_at = excluded.last_check_at, last_ok_at = excluded.last_ok_at,
         last_latency_ms = excluded.last_latency_ms, last_check_error = excluded.last_check_error`,
      r,
    ),
  addCheck: (db: Db, r: Omit<NodeCheckRow, "id">) => {
    db.run(
      `INSERT INTO node_checks (node_id, at, ok, latency_ms, error, manual)
       VALUES (:node_id, :at, :ok, :latency_ms, :error, :manual)`,
      r,
    );
    db.run(
      `DELETE FROM node_checks WHERE node_id = :nodeId AND id NOT IN
         (SELECT id FROM node_checks WHERE node_id = :nodeId ORDER BY id DESC LIMIT :keep)`,
      { nodeId: r.node_id, keep: KEEP_CHECKS },
    );
  },
  recentChecks: (db: Db, nodeId: number, limit: number) =>
    db.all<NodeCheckRow>(
      "SELECT * FROM node_checks WHERE node_id = :nodeId ORDER BY id DESC LIMIT :limit",
      { nodeId, limit },
    ),
};

export const reportsRepo = {
  get: (db: Db, nodeId: number) =>
    db.get<NodeReportRow>("SELECT * FROM node_reports WHERE node_id = :nodeId", { nodeId }),
  all: (db: Db) => db.all<NodeReportRow>("SELECT * FROM node_reports"),
  save: (db: Db, r: NodeReportRow) =>
    db.run(
      `INSERT INTO node_reports (node_id, at, apply_ok, apply_error, apply_version, apply_ms, warnings, queue_depth,
         sync_latency_ms, behind_since, behind_reported)
       VALUES (:node_id, :at, :apply_ok, :apply_error, :apply_version, :apply_ms, :warnings, :queue_depth,
         :sync_latency_ms, :behind_since, :behind_reported)
       ON CONFLICT (node_id) DO UPDATE SET at = excluded.at, apply_ok = excluded.apply_ok,
         apply_error = excluded.apply_error, apply_version = excluded.apply_version, apply_ms = excluded.apply_ms,
         warnings = excluded.warnings, queue_depth = excluded.queue_depth, sync_latency_ms = excluded.sync_latency_ms,
         behind_since = excluded.behind_since, behind_reported = excluded.behind_reported`,
      r,
    ),
};

export type PeerCounterRow = {
  peer: string;
  public_key: string;
  iface: string;
  node: string;
  rx: number;
  tx: number;
  handshake: number;
  at: number;
};

export const promRepo = {
  /**
   * Each peer's counters, one row per peer. A peer of a node or of the master: its newest raw sample, with
   * its interface and node (the master's own peers: node "local"); of samples taken in the same
   * millisecond by two hosts, its own host's. A failover pool's client (node "pool <name>"): the sum over
   * every host that reported it of that host's latest counters (raw, or the last downsampled ones), so
   * the counters do not fall back when another member takes the client over; its newest handshake. Listed
   * while any host has a raw sample of it, like the others.
   */
  peerCounters: (db: Db) =>
    db.all<PeerCounterRow>(
      `SELECT p.name AS peer, p.public_key, i.name AS iface, coalesce(n.name, 'local') AS node,
         m.rx, m.tx, m.handshake, m.at
       FROM peers p JOIN interfaces i ON i.id = p.interface_id AND i.is_pool = 0
       LEFT JOIN nodes n ON n.id = p.node_id
       JOIN peer_metrics m ON m.public_key = p.public_key AND m.resolution = 0
         AND m.rowid = (SELECT rowid FROM peer_metrics WHERE public_key = p.public_key AND resolution = 0
                        ORDER BY at DESC, node_id IS p.node_id DESC LIMIT 1)
       UNION ALL
       SELECT p.name AS peer, p.public_key, i.name AS iface, 'pool ' || i.name AS node,
         sum(m.rx) AS rx, sum(m.tx) AS tx, max(m.handshake) AS handshake, max(m.at) AS at
       FROM peers p JOIN interfaces i ON i.id = p.interface_id AND i.is_pool = 1
       JOIN (SELECT public_key, rx, tx, handshake, at, resolution,
               row_number() OVER (PARTITION BY public_key, coalesce(node_id, 0) ORDER BY resolution, at DESC) AS k
             FROM peer_metrics
             WHERE public_key IN (SELECT q.public_key FROM peers q JOIN interfaces j ON j.id = q.interface_id
                                  WHERE j.is_pool = 1)) m
         ON m.public_key = p.public_key AND m.k = 1
       GROUP BY p.id HAVING min(m.resolution) = 0
       ORDER BY iface, peer`,
    ),
};
