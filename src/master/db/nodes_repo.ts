// SQL for nodes, their interface addresses and keys, sync nonces and peer metrics.
import type { Db } from "./db.ts";

export type NodeStatus = "pending" | "online" | "offline" | "unreachable" | "error";

export type NodeFullRow = {
  id: number;
  name: string;
  fqdn: string;
  wg_port: number;
  created_at: number;
  updated_at: number;
  is_local: 0 | 1;
  status: NodeStatus;
  last_seen_at: number | null;
  last_error: string | null;
  hostname: string;
  enroll_secret_hash: string | null;
  enroll_expires_at: number | null;
  enrolled_at: number | null;
  node_secret_hash: string | null;
  cert_sha256: string | null;
  verify_key: string | null;
  config_version: number;
  applied_version: number;
  last_metric_seq: number;
  dropped_metrics: number;
};

export type NodeInterfaceRow = {
  node_id: number;
  interface_id: number;
  address4: string;
  address6: string | null;
  public_key: string | null;
  /** The device the node runs this interface as (null: its name; service/wg_key_rotation.ts). */
  device?: string | null;
};

export const nodesFullRepo = {
  list: (db: Db) => db.all<NodeFullRow>("SELECT * FROM nodes ORDER BY is_local DESC, name COLLATE NOCASE"),
  /** Remote nodes (the master's own `local` node is no choice for a peer), by name. */
  remote: (db: Db) =>
    db.all<NodeFullRow>("SELECT * FROM nodes WHERE is_local = 0 ORDER BY name COLLATE NOCASE, id"),
  byId: (db: Db, id: number) => db.get<NodeFullRow>("SELECT * FROM nodes WHERE id = :id", { id }),
  /** A node's config version alone (the sync answers' hot path), undefined when there is no such node. */
  configVersion: (db: Db, id: number) =>
    db.get<{ v: number }>("SELECT config_version AS v FROM nodes WHERE id = :id", { id })?.v,
  local: (db: Db) => db.get<NodeFullRow>("SELECT * FROM nodes WHERE is_local = 1"),
  byName: (db: Db, name: string) => db.get<NodeFullRow>("SELECT * FROM nodes WHERE name = :name", { name }),
  byFqdn: (db: Db, fqdn: string) => db.get<NodeFullRow>("SELECT * FROM nodes WHERE fqdn = :fqdn", { fqdn }),
  insert: (db: Db, r: { name: string; fqdn: string; wg_port: number; is_local: number; now: number }) =>
    db.run(
      `INSERT INTO nodes (name, fqdn, wg_port, is_local, created_at, updated_at) VALUES (:name, :fqdn, :wg_port, :is_local, :now, :now)`,
      r,
    ).lastInsertRowid,
  update: (db: Db, id: number, r: { name: string; fqdn: string; wg_port: number; now: number }) =>
    db.run(
      "UPDATE nodes SET name = :name, fqdn = :fqdn, wg_port = :wg_port, updated_at = :now WHERE id = :id",
      { id, ...r },
    ),
  setEnrollment: (db: Db, id: number, hash: string | null, expiresAt: number | null) =>
    db.run("UPDATE nodes SET enroll_secret_hash = :hash, enroll_expires_at = :expiresAt WHERE id = :id", {
      id,
      hash,
      expiresAt,
    }),
  /**
   * Consumes the enrollment token `tokenHash` and records the node's identity, in one statement: true only
   * when the token was still this node's, unused and unexpired (of racing enrollments, exactly one wins).
   */
  enrolled: (
    db: Db,
    id: number,
    r: {
      tokenHash: string;
      secretHash: string;
      certSha256: string;
      verifyKey: string;
      hostname: string;
      now: number;
    },
  ) =>
    db.run(
      `UPDATE nodes SET node_secret_hash = :secretHash, cert_sha256 = :certSha256, verify_key = :verifyKey, hostname = :hostname,
         enrolled_at = :now, enroll_secret_hash = NULL, enroll_expires_at = NULL, status = 'online', last_seen_at = :now,
         last_error = NULL, last_metric_seq = 0, applied_version = 0
       WHERE id = :id AND enroll_secret_hash = :tokenHash AND enroll_expires_at > :now`,
      { id, ...r },
    ).changes === 1,
  /** A heartbeat's row update: liveness, the applied version and the metrics' sequence, in one statement. */
  seen: (
    db: Db,
    id: number,
    r: {
      status: NodeStatus;
      error: string | null;
      applied: number;
      now: number;
      seq: number;
      dropped: number;
    },
  ) =>
    db.run(
      `UPDATE nodes SET status = :status, last_error = :error, applied_version = :applied, last_seen_at = :now,
         last_metric_seq = :seq, dropped_metrics = :dropped WHERE id = :id`,
      { id, ...r },
    ),
  setStatus: (db: Db, id: number, status: NodeStatus) =>
    db.run("UPDATE nodes SET status = :status WHERE id = :id", { id, status }),
  staleOnline: (db: Db, before: number) =>
    db.all<NodeFullRow>(
      "SELECT * FROM nodes WHERE status IN ('online', 'error') AND (last_seen_at IS NULL OR last_seen_at < :before)",
      { before },
    ),
  /** Raises config_version above `applied` (a node holding a newer config than a restored database). */
  raiseAbove: (db: Db, id: number, applied: number) =>
    db.run("UPDATE nodes SET config_version = :v WHERE id = :id AND config_version < :v", {
      id,
      v: applied + 1,
    })
      .changes > 0,
  bump: (db: Db, id: number) =>
    db.run("UPDATE nodes SET config_version = config_version + 1 WHERE id = :id", { id }),
  /** bump() for many nodes in one statement (ids distinct). */
  bumpAll: (db: Db, ids: number[]) =>
    db.run(
      "UPDATE nodes SET config_version = config_version + 1 WHERE id IN (SELECT value FROM json_each(:ids))",
      { ids: JSON.stringify(ids) },
    ),
  delete: (db: Db, id: number) => db.run("DELETE FROM nodes WHERE id = :id", { id }).changes,
  peerCounts: (db: Db) =>
    new Map(
      db.all<{ node_id: number; n: number }>(
        "SELECT node_id, count(*) AS n FROM peers WHERE node_id IS NOT NULL GROUP BY node_id",
      )
        .map((r) => [r.node_id, r.n]),
    ),
  unassignPeers: (db: Db, id: number) =>
    db.run("UPDATE peers SET node_id = NULL WHERE node_id = :id", { id }).changes,
};

export const nodeInterfacesRepo = {
  forNode: (db: Db, nodeId: number) =>
    db.all<NodeInterfaceRow>("SELECT * FROM node_interfaces WHERE node_id = :nodeId ORDER BY interface_id", {
      nodeId,
    }),
  forInterface: (db: Db, interfaceId: number) =>
    db.all<NodeInterfaceRow>("SELECT * FROM node_interfaces WHERE interface_id = :interfaceId", {
      interfaceId,
    }),
  get: (db: Db, nodeId: number, interfaceId: number) =>
    db.get<NodeInterfaceRow>(
      "SELECT * FROM node_interfaces WHERE node_id = :nodeId AND interface_id = :interfaceId",
      {
        nodeId,
        interfaceId,
      },
    ),
  insert: (db: Db, r: Omit<NodeInterfaceRow, "public_key">) =>
    db.run(
      "INSERT INTO node_interfaces (node_id, interface_id, address4, address6) VALUES (:node_id, :interface_id, :address4, :address6)",
      r,
    ),
  setKey: (db: Db, nodeId: number, interfaceId: number, key: string | null) =>
    db.run(
      "UPDATE node_interfaces SET public_key = :key WHERE node_id = :nodeId AND interface_id = :interfaceId",
      {
        nodeId,
        interfaceId,
        key,
      },
    ).changes,
  /**
   * Every interface by the device name node `nodeId` runs it as now (its own name unless a WireGuard key
   * rotation moved it, wg_key_rotation.ts), with the node's key for it; `enrolled` 0 when the node has no
   * row for it. One read for a heartbeat's key reports.
   */
  keysByDevice: (db: Db, nodeId: number) =>
    db.all<{ interface_id: number; device: string; public_key: string | null; enrolled: 0 | 1 }>(
      `SELECT i.id AS interface_id, COALESCE(ni.device, i.name) AS device, ni.public_key,
         ni.node_id IS NOT NULL AS enrolled
       FROM interfaces i LEFT JOIN node_interfaces ni ON ni.interface_id = i.id AND ni.node_id = :nodeId
       ORDER BY i.id`,
      { nodeId },
    ),
  clearKeys: (db: Db, nodeId: number) =>
    db.run("UPDATE node_interfaces SET public_key = NULL WHERE node_id = :nodeId", { nodeId }),
};

export const removedNodesRepo = {
  get: (db: Db, id: number) =>
    db.get<{ id: number; verify_key: string; node_secret_hash: string }>(
      "SELECT * FROM removed_nodes WHERE id = :id",
      { id },
    ),
  insert: (db: Db, r: { id: number; verify_key: string; node_secret_hash: string; removed_at: number }) =>
    db.run(
      `INSERT OR REPLACE INTO removed_nodes (id, verify_key, node_secret_hash, removed_at)
       VALUES (:id, :verify_key, :node_secret_hash, :removed_at)`,
      r,
    ),
};

export const noncesRepo = {
  /** False when the nonce was seen before (a replay). */
  claim: (db: Db, nonce: string, expiresAt: number) =>
    db.run("INSERT OR IGNORE INTO sync_nonces (nonce, expires_at) VALUES (:nonce, :expiresAt)", {
      nonce,
      expiresAt,
    }).changes === 1,
  purge: (db: Db, now: number) => db.run("DELETE FROM sync_nonces WHERE expires_at < :now", { now }).changes,
  /** The earliest expiry held (null when none). */
  oldest: (db: Db) =>
    db.get<{ at: number | null }>("SELECT min(expires_at) AS at FROM sync_nonces")?.at ?? null,
};

export type MetricRow = {
  public_key: string;
  at: number;
  rx: number;
  tx: number;
  handshake: number;
  endpoint: string | null;
};

/** The bytes one host counted for a key up to a sample, resets counted from zero (migration v11). */
export type RunningTotals = { rx_total: number; tx_total: number };

export const metricsRepo = {
  /**
   * The public keys host `nodeId` (null: the master's own) may report traffic for: its own peers and its
   * tunnel on the first interface (a node's: the master's key; the master's: the nodes' keys).
   */
  reportableKeys: (db: Db, nodeId: number | null, firstInterfaceId: number) =>
    db.all<{ key: string }>(
      nodeId === null
        ? `SELECT public_key AS key FROM peers WHERE node_id IS NULL
           UNION SELECT public_key FROM node_interfaces WHERE interface_id = :iface AND public_key IS NOT NULL`
        : `SELECT public_key AS key FROM peers WHERE node_id = :nodeId
           UNION SELECT public_key FROM interfaces WHERE id = :iface`,
      { iface: firstInterfaceId, ...(nodeId === null ? {} : { nodeId }) },
    ).map((r) => r.key),
  /** Peers with the most recent handshakes seen in samples since `since`, with their names. */
  latestHandshakes: (db: Db, since: number, limit: number) =>
    db.all<
      { id: number; name: string; node_name: string | null; handshake: number; endpoint: string | null }
    >(
      `SELECT p.id, p.name, n.name AS node_name, l.h AS handshake, l.endpoint
       FROM (SELECT public_key, max(handshake) AS h, max(endpoint) AS endpoint FROM peer_metrics
             WHERE resolution = 0 AND at >= :since AND handshake > 0 GROUP BY public_key ORDER BY h DESC LIMIT :limit) l
       JOIN peers p ON p.public_key = l.public_key LEFT JOIN nodes n ON n.id = p.node_id
       ORDER BY l.h DESC`,
      { since, limit },
    ),
  insertRaw: (db: Db, r: MetricRow & RunningTotals & { node_id: number | null }) =>
    db.run(
      `INSERT OR IGNORE INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
       VALUES (:public_key, 0, :at, :node_id, :rx, :tx, :handshake, :endpoint, :rx_total, :tx_total)`,
      r,
    ).changes,
  /**
   * The sample host `nodeId` (null: the master's own) stored last for a key: its counters and running
   * totals, which the next sample's totals continue. Raw rows are stored in arrival order (the node's
   * sequence), so the newest rowid is the last one, whatever times re-dating gave them; without raw rows
   * (a host silent for longer than they are kept), the highest totals of the downsampled rows.
   */
  previous: (db: Db, publicKey: string, nodeId: number | null) =>
    db.get<{ rx: number; tx: number } & RunningTotals>(
      `SELECT rx, tx, rx_total, tx_total FROM peer_metrics
       WHERE public_key = :publicKey AND node_id IS :nodeId AND resolution = 0 ORDER BY rowid DESC LIMIT 1`,
      { publicKey, nodeId },
    ) ?? db.get<{ rx: number; tx: number } & RunningTotals>(
      `SELECT rx, tx, rx_total, tx_total FROM peer_metrics
       WHERE public_key = :publicKey AND node_id IS :nodeId AND resolution IN (1, 2)
       ORDER BY rx_total + tx_total DESC, resolution, rowid DESC LIMIT 1`,
      { publicKey, nodeId },
    ),
  /**
   * Rolls raw samples older than `before` into buckets of `bucketMs` (resolution `to`), keeping the last
   * of each bucket (its highest running totals, ties by arrival), per key and reporting host (each host's
   * counters are its own): every byte counted before the bucket's end stays in its totals.
   */
  downsample: (db: Db, from: number, to: number, bucketMs: number, before: number) => {
    db.run(
      `INSERT OR REPLACE INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
       SELECT public_key, :to, b * :bucket, node_id, rx, tx, handshake, endpoint, rx_total, tx_total FROM (
         SELECT public_key, node_id, CAST(at / :bucket AS INTEGER) AS b, rx, tx, endpoint, rx_total, tx_total,
           max(handshake) OVER w AS handshake,
           row_number() OVER (w ORDER BY rx_total + tx_total DESC, rowid DESC) AS n
         FROM peer_metrics WHERE resolution = :from AND at < :before
         WINDOW w AS (PARTITION BY public_key, node_id, CAST(at / :bucket AS INTEGER))
       ) WHERE n = 1`,
      { from, to, bucket: bucketMs, before },
    );
    return db.run("DELETE FROM peer_metrics WHERE resolution = :from AND at < :before", { from, before })
      .changes;
  },
  /** The time of the oldest sample at a resolution (null when none). */
  oldest: (db: Db, resolution: number) =>
    db.get<{ at: number | null }>("SELECT min(at) AS at FROM peer_metrics WHERE resolution = :resolution", {
      resolution,
    })?.at ?? null,
  prune: (db: Db, resolution: number, before: number) =>
    db.run("DELETE FROM peer_metrics WHERE resolution = :resolution AND at < :before", { resolution, before })
      .changes,
};

/** Which peers a traffic query covers: all WireGuard peers, those one host reported (null = the master), or one key. */
export type TrafficScope = { kind: "peers" } | { kind: "host"; nodeId: number | null } | {
  kind: "key";
  publicKey: string;
};

const TRAFFIC_SCOPE_SQL: Record<TrafficScope["kind"], string> = {
  // Node tunnels (the master on a node, a node on the master) are not peers: only the peers table counts.
  peers: "public_key IN (SELECT public_key FROM peers)",
  host: "node_id IS :nodeId AND public_key IN (SELECT public_key FROM peers)",
  key: "public_key = :publicKey",
};

export const trafficRepo = {
  /**
   * The running totals of each peer, per reporting host, at the end of each `slotMs` slot of [from, to)
   * (a host's counters are its own: a moved peer's two hosts, the master's key on two nodes): the
   * slot's highest, timed at its last sample. A downsampled row holds the last totals of its bucket, so
   * it is timed at the bucket's end (`res1Ms`, `res2Ms` after `at`).
   * (node:sqlite binds numbers as REAL: the slot number is CAST, or `/` would not divide whole.)
   */
  lastPerSlot: (
    db: Db,
    scope: TrafficScope,
    q: { from: number; to: number; slotMs: number; res1Ms: number; res2Ms: number },
  ) =>
    db.all<{ public_key: string; node_id: number | null; at: number; rx: number; tx: number }>(
      `SELECT public_key, node_id, max(t) AS at, max(rx_total) AS rx, max(tx_total) AS tx FROM (
         SELECT public_key, node_id, rx_total, tx_total, at + CASE resolution WHEN 1 THEN :res1Ms WHEN 2 THEN :res2Ms ELSE 0 END AS t
         FROM peer_metrics
         WHERE resolution IN (0, 1, 2) AND at >= :from - :res2Ms AND at < :to AND ${
        TRAFFIC_SCOPE_SQL[scope.kind]
      }
       )
       WHERE t >= :from AND t < :to
       GROUP BY public_key, node_id, CAST((t - :from) / :slotMs AS INTEGER)
       ORDER BY public_key, node_id, at`,
      {
        ...q,
        ...(scope.kind === "host" ? { nodeId: scope.nodeId } : {}),
        ...(scope.kind === "key" ? { publicKey: scope.publicKey } : {}),
      },
    ),
  /** The newest sample of one peer (raw rows are newer than downsampled ones). */
  newest: (db: Db, publicKey: string) =>
    db.get<MetricRow & { resolution: number; node_id: number | null }>(
      "SELECT * FROM peer_metrics WHERE public_key = :publicKey ORDER BY resolution, at DESC LIMIT 1",
      { publicKey },
    ),
};
