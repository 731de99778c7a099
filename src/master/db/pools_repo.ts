// SQL for failover pools: a pool's announce settings (on its interface row), its members with their
// drain state and last report, and the member holding each pool client's latest handshake.
import type { Db } from "./db.ts";

export type PoolSettingsRow = {
  id: number;
  is_pool: 0 | 1;
  pool_announce: "vrrp" | "dns" | null;
  pool_vrrp_address: string | null;
  pool_vrrp_vrid: number | null;
  pool_vrrp_advert_ms: number | null;
  pool_vrrp_link: string | null;
  pool_dns_name: string | null;
  pool_dns_zone: string | null;
  pool_dns_server: string | null;
  pool_tsig_name: string | null;
  pool_tsig_algorithm: string | null;
  pool_tsig_secret_sealed: string | null;
  pool_dns_ttl: number | null;
};

export type PoolMemberRow = {
  interface_id: number;
  node_id: number;
  priority: number;
  drained_at: number | null;
  drain_state: "active" | "draining" | "safe";
  added_at: number;
  report_state: string | null;
  report_detail: string | null;
  report_sessions: number | null;
  reported_at: number | null;
};

export type PoolMemberListRow = PoolMemberRow & {
  node_name: string;
  fqdn: string;
  wg_port: number;
  is_local: 0 | 1;
  status: string;
};

export type PoolHolderRow = {
  peer_id: number;
  node_id: number;
  handshake_at: number;
  endpoint: string | null;
  updated_at: number;
};

const SETTINGS =
  `id, is_pool, pool_announce, pool_vrrp_address, pool_vrrp_vrid, pool_vrrp_advert_ms, pool_vrrp_link,
  pool_dns_name, pool_dns_zone, pool_dns_server, pool_tsig_name, pool_tsig_algorithm, pool_tsig_secret_sealed, pool_dns_ttl`;

export const poolsRepo = {
  /** Every pool's settings, by interface id. */
  list: (db: Db) =>
    db.all<PoolSettingsRow>(`SELECT ${SETTINGS} FROM interfaces WHERE is_pool = 1 ORDER BY id`),
  settings: (db: Db, interfaceId: number) =>
    db.get<PoolSettingsRow>(`SELECT ${SETTINGS} FROM interfaces WHERE id = :interfaceId`, { interfaceId }),
  isPool: (db: Db, interfaceId: number) =>
    (db.get<{ p: number }>("SELECT is_pool AS p FROM interfaces WHERE id = :interfaceId", { interfaceId })
      ?.p ??
      0) === 1,
  saveSettings: (db: Db, r: PoolSettingsRow) =>
    db.run(
      `UPDATE interfaces SET is_pool = :is_pool, pool_announce = :pool_announce, pool_vrrp_address = :pool_vrrp_address,
         pool_vrrp_vrid = :pool_vrrp_vrid, pool_vrrp_advert_ms = :pool_vrrp_advert_ms, pool_vrrp_link = :pool_vrrp_link,
         pool_dns_name = :pool_dns_name, pool_dns_zone = :pool_dns_zone, pool_dns_server = :pool_dns_server,
         pool_tsig_name = :pool_tsig_name, pool_tsig_algorithm = :pool_tsig_algorithm,
         pool_tsig_secret_sealed = :pool_tsig_secret_sealed, pool_dns_ttl = :pool_dns_ttl WHERE id = :id`,
      r,
    ),
  /** A new identity for a pool (its key pair, after a member left). */
  setKeys: (db: Db, interfaceId: number, publicKey: string, sealed: string, now: number) =>
    db.run(
      `UPDATE interfaces SET public_key = :publicKey, private_key_sealed = :sealed, updated_at = :now
       WHERE id = :interfaceId`,
      { interfaceId, publicKey, sealed, now },
    ),

  members: (db: Db, interfaceId: number) =>
    db.all<PoolMemberListRow>(
      `SELECT m.*, n.name AS node_name, n.fqdn, n.wg_port, n.is_local, n.status FROM pool_members m
       JOIN nodes n ON n.id = m.node_id WHERE m.interface_id = :interfaceId ORDER BY m.priority DESC, m.node_id`,
      { interfaceId },
    ),
  /** Draining members of every pool, by pool, then as members() orders them. */
  draining: (db: Db) =>
    db.all<{ interface_id: number; node_id: number; drained_at: number | null }>(
      `SELECT m.interface_id, m.node_id, m.drained_at FROM pool_members m
       JOIN interfaces i ON i.id = m.interface_id AND i.is_pool = 1
       WHERE m.drain_state = 'draining' ORDER BY m.interface_id, m.priority DESC, m.node_id`,
    ),
  member: (db: Db, interfaceId: number, nodeId: number) =>
    db.get<PoolMemberRow>(
      "SELECT * FROM pool_members WHERE interface_id = :interfaceId AND node_id = :nodeId",
      { interfaceId, nodeId },
    ),
  /** The pools a node is a member of. */
  membershipsOf: (db: Db, nodeId: number) =>
    db.all<PoolMemberRow>("SELECT * FROM pool_members WHERE node_id = :nodeId ORDER BY interface_id", {
      nodeId,
    }),
  memberIds: (db: Db, interfaceId: number) =>
    db.all<{ node_id: number }>("SELECT node_id FROM pool_members WHERE interface_id = :interfaceId", {
      interfaceId,
    }).map((r) => r.node_id),
  addMember: (db: Db, r: { interface_id: number; node_id: number; priority: number; added_at: number }) =>
    db.run(
      `INSERT INTO pool_members (interface_id, node_id, priority, added_at)
       VALUES (:interface_id, :node_id, :priority, :added_at)`,
      r,
    ),
  removeMember: (db: Db, interfaceId: number, nodeId: number) =>
    db.run("DELETE FROM pool_members WHERE interface_id = :interfaceId AND node_id = :nodeId", {
      interfaceId,
      nodeId,
    }).changes,
  setPriority: (db: Db, interfaceId: number, nodeId: number, priority: number) =>
    db.run(
      "UPDATE pool_members SET priority = :priority WHERE interface_id = :interfaceId AND node_id = :nodeId",
      { interfaceId, nodeId, priority },
    ),
  setDrain: (
    db: Db,
    interfaceId: number,
    nodeId: number,
    drainedAt: number | null,
    state: PoolMemberRow["drain_state"],
  ) =>
    db.run(
      `UPDATE pool_members SET drained_at = :drainedAt, drain_state = :state
       WHERE interface_id = :interfaceId AND node_id = :nodeId`,
      { interfaceId, nodeId, drainedAt, state },
    ),
  saveReport: (
    db: Db,
    interfaceId: number,
    nodeId: number,
    r: { state: string; detail: string | null; sessions: number; at: number },
  ) =>
    db.run(
      `UPDATE pool_members SET report_state = :state, report_detail = :detail, report_sessions = :sessions,
         reported_at = :at WHERE interface_id = :interfaceId AND node_id = :nodeId`,
      { interfaceId, nodeId, ...r },
    ).changes,

  /** The public keys of every pool client a node serves as a member (its reportable pool peers). */
  memberPeerKeys: (db: Db, nodeId: number) =>
    db.all<{ public_key: string }>(
      `SELECT p.public_key FROM peers p JOIN pool_members m ON m.interface_id = p.interface_id
       WHERE m.node_id = :nodeId`,
      { nodeId },
    ).map((r) => r.public_key),
  /** Pool peers by public key among these keys, with their current holder (if any). */
  poolPeersByKey: (db: Db, keys: string[]) =>
    db.all<
      {
        peer_id: number;
        interface_id: number;
        public_key: string;
        holder: number | null;
        handshake_at: number | null;
        endpoint: string | null;
      }
    >(
      `SELECT p.id AS peer_id, p.interface_id, p.public_key, h.node_id AS holder, h.handshake_at, h.endpoint
       FROM peers p JOIN interfaces i ON i.id = p.interface_id AND i.is_pool = 1
       LEFT JOIN pool_holders h ON h.peer_id = p.id
       WHERE p.public_key IN (SELECT value FROM json_each(:keys))`,
      { keys: JSON.stringify(keys) },
    ),
  holders: (db: Db, interfaceId: number) =>
    db.all<PoolHolderRow & { peer_name: string; node_name: string }>(
      `SELECT h.*, p.name AS peer_name, n.name AS node_name FROM pool_holders h
       JOIN peers p ON p.id = h.peer_id JOIN nodes n ON n.id = h.node_id
       WHERE p.interface_id = :interfaceId ORDER BY p.id`,
      { interfaceId },
    ),
  /** The pool clients (enabled, unexpired) held by a member, with the member: routed to it on the master's tunnel. */
  heldClients: (db: Db, now: number) =>
    db.all<{ node_id: number; interface_id: number; ipv4: string; ipv6: string | null }>(
      `SELECT h.node_id, p.interface_id, p.ipv4, p.ipv6 FROM pool_holders h JOIN peers p ON p.id = h.peer_id
       WHERE p.enabled = 1 AND (p.expires_at IS NULL OR p.expires_at > :now) ORDER BY p.id`,
      { now },
    ),
  /** Pool clients nobody holds yet, with the pool they are on. */
  unheld: (db: Db, now: number) =>
    db.all<{ interface_id: number; ipv4: string; ipv6: string | null }>(
      `SELECT p.interface_id, p.ipv4, p.ipv6 FROM peers p JOIN interfaces i ON i.id = p.interface_id AND i.is_pool = 1
       WHERE p.enabled = 1 AND (p.expires_at IS NULL OR p.expires_at > :now)
         AND NOT EXISTS (SELECT 1 FROM pool_holders h WHERE h.peer_id = p.id) ORDER BY p.id`,
      { now },
    ),
  /** How many of a pool's clients a node held with a handshake at or after `since`. */
  heldSince: (db: Db, interfaceId: number, nodeId: number, since: number) =>
    db.get<{ n: number }>(
      `SELECT count(*) AS n FROM pool_holders h JOIN peers p ON p.id = h.peer_id
       WHERE p.interface_id = :interfaceId AND h.node_id = :nodeId AND h.handshake_at >= :since`,
      { interfaceId, nodeId, since },
    )!.n,
  setHolder: (db: Db, r: PoolHolderRow) =>
    db.run(
      `INSERT INTO pool_holders (peer_id, node_id, handshake_at, endpoint, updated_at)
       VALUES (:peer_id, :node_id, :handshake_at, :endpoint, :updated_at)
       ON CONFLICT (peer_id) DO UPDATE SET node_id = excluded.node_id, handshake_at = excluded.handshake_at,
         endpoint = excluded.endpoint, updated_at = excluded.updated_at`,
      r,
    ),
  /** Forgets what a node held on a pool (it left the pool). */
  dropHoldersOf: (db: Db, interfaceId: number, nodeId: number) =>
    db.run(
      `DELETE FROM pool_holders WHERE node_id = :nodeId
       AND peer_id IN (SELECT id FROM peers WHERE interface_id = :interfaceId)`,
      { interfaceId, nodeId },
    ).changes,
  /**
   * Each host's newest sample of these pool clients (raw rows first, then the last downsampled ones): a
   * member's counters are its own, so what the client did overall is their sum (traffic.ts).
   */
  latestPerHost: (db: Db, keys: string[]) =>
    db.all<
      {
        public_key: string;
        node_id: number | null;
        at: number;
        rx: number;
        tx: number;
        handshake: number;
        endpoint: string | null;
      }
    >(
      `SELECT public_key, node_id, at, rx, tx, handshake, endpoint FROM (
         SELECT public_key, node_id, at, rx, tx, handshake, endpoint,
           row_number() OVER (PARTITION BY public_key, coalesce(node_id, 0) ORDER BY resolution, at DESC) AS k
         FROM peer_metrics WHERE public_key IN (SELECT value FROM json_each(:keys))
       ) WHERE k = 1 ORDER BY public_key, node_id`,
      { keys: JSON.stringify(keys) },
    ),
  /** A pool's active clients that someone holds, with their holder, its handshake and their last endpoint. */
  heldOn: (db: Db, interfaceId: number, now: number) =>
    db.all<{ public_key: string; node_id: number; handshake_at: number; endpoint: string | null }>(
      `SELECT p.public_key, h.node_id, h.handshake_at, h.endpoint FROM pool_holders h JOIN peers p ON p.id = h.peer_id
       WHERE p.interface_id = :interfaceId AND p.enabled = 1 AND (p.expires_at IS NULL OR p.expires_at > :now)
       ORDER BY p.id`,
      { interfaceId, now },
    ),
  /** Each pool peer's last endpoint (for a member's takeover handshake). */
  endpoints: (db: Db, interfaceId: number) =>
    db.all<{ public_key: string; endpoint: string }>(
      `SELECT p.public_key, h.endpoint FROM pool_holders h JOIN peers p ON p.id = h.peer_id
       WHERE p.interface_id = :interfaceId AND h.endpoint IS NOT NULL ORDER BY p.id`,
      { interfaceId },
    ),
};
