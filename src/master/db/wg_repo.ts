// SQL for WireGuard interfaces and peers.
import type { Db } from "./db.ts";

export type InterfaceRow = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listen_port: number;
  mtu: number | null;
  dns: string;
  keepalive: number | null;
  endpoint_host: string | null;
  private_key_sealed: string;
  public_key: string;
  created_at: number;
  updated_at: number;
};

export type PeerRow = {
  id: number;
  interface_id: number;
  node_id: number | null;
  name: string;
  public_key: string;
  private_key_sealed: string | null;
  psk_sealed: string | null;
  ipv4: string;
  ipv6: string | null;
  routing: "full" | "split" | "custom";
  allowed_ips: string;
  enabled: 0 | 1;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
};

export type PeerListRow = PeerRow & {
  interface_name: string;
  node_name: string | null;
  /** 1: the interface is a failover pool (its members serve the peer; node_id is null). */
  interface_is_pool: 0 | 1;
  /** A pool peer's holder: the member with its latest handshake (null: none seen yet, or not a pool peer). */
  holder_id: number | null;
  holder_name: string | null;
};

export type ActivePeerRow = Pick<PeerRow, "id" | "node_id" | "public_key" | "psk_sealed" | "ipv4" | "ipv6">;

export type PeerQuery = {
  q: string;
  interfaceId: number | null;
  nodeId: number | null | "local";
  limit: number;
  offset: number;
  /** A column, "-" first for descending; the default is the order peers were added in. */
  sort?: PeerSort;
  /** Only peers served by these nodes, or in these pools and served by none (a scoped admin's view). */
  scope?: { nodes: number[]; interfaces: number[] } | null;
};

export const PEER_SORTS = ["name", "interface", "node", "address"] as const;
export type PeerSort = "id" | (typeof PEER_SORTS)[number] | `-${(typeof PEER_SORTS)[number]}`;

const SORT_SQL: Record<(typeof PEER_SORTS)[number], string[]> = {
  name: ["p.name COLLATE NOCASE"],
  interface: ["i.name"],
  node: ["n.name IS NOT NULL", "n.name"], // the master's own peers first
  address: ["length(p.ipv4)", "p.ipv4"], // numeric order inside a pool
};

function orderBy(sort: PeerSort | undefined): string {
  if (!sort || sort === "id") return "p.id";
  const desc = sort.startsWith("-");
  const cols = SORT_SQL[(desc ? sort.slice(1) : sort) as (typeof PEER_SORTS)[number]];
  return [...cols.map((c) => `${c}${desc ? " DESC" : ""}`), `p.id${desc ? " DESC" : ""}`].join(", ");
}

/** A failover pool's peer (issue 11): the pool flag and the member holding its latest handshake. */
const POOL_COLUMNS = "i.is_pool AS interface_is_pool, h.node_id AS holder_id, hn.name AS holder_name";
const POOL_JOINS = "LEFT JOIN pool_holders h ON h.peer_id = p.id LEFT JOIN nodes hn ON hn.id = h.node_id";

const PEER_FILTER = `
  (:q = '' OR p.name LIKE :like ESCAPE '\\' OR p.ipv4 LIKE :like ESCAPE '\\' OR p.public_key LIKE :like ESCAPE '\\')
  AND (:iface = 0 OR p.interface_id = :iface)
  AND (:node = 0 OR p.node_id = :node OR (:node = -1 AND p.node_id IS NULL
    AND p.interface_id NOT IN (SELECT id FROM interfaces WHERE is_pool = 1)))
  AND (:scoped = 0 OR p.node_id IN (SELECT value FROM json_each(:scopeNodes))
    OR (p.node_id IS NULL AND p.interface_id IN (SELECT value FROM json_each(:scopeIfaces))))`;

function peerParams(q: PeerQuery) {
  return {
    q: q.q,
    like: `%${q.q.replace(/[\\%_]/g, (m) => "\\" + m)}%`,
    iface: q.interfaceId ?? 0,
    node: q.nodeId === "local" ? -1 : q.nodeId ?? 0,
    scoped: q.scope ? 1 : 0,
    scopeIfaces: JSON.stringify(q.scope?.interfaces ?? []),
    scopeNodes: JSON.stringify(q.scope?.nodes ?? []),
  };
}

export const interfacesRepo = {
  list: (db: Db) => db.all<InterfaceRow>("SELECT * FROM interfaces ORDER BY id"),
  /** The first interface's id (null: none), without reading the rows. */
  firstId: (db: Db) => db.get<{ id: number | null }>("SELECT min(id) AS id FROM interfaces")?.id ?? null,
  byId: (db: Db, id: number) => db.get<InterfaceRow>("SELECT * FROM interfaces WHERE id = :id", { id }),
  byName: (db: Db, name: string) =>
    db.get<InterfaceRow>("SELECT * FROM interfaces WHERE name = :name", { name }),
  insert: (db: Db, r: Omit<InterfaceRow, "id">) =>
    db.run(
      `INSERT INTO interfaces (name, address4, address6, listen_port, mtu, dns, keepalive, endpoint_host, private_key_sealed,
         public_key, created_at, updated_at)
       VALUES (:name, :address4, :address6, :listen_port, :mtu, :dns, :keepalive, :endpoint_host, :private_key_sealed,
         :public_key, :created_at, :updated_at)`,
      r,
    ).lastInsertRowid,
  update: (db: Db, r: InterfaceRow) =>
    db.run(
      `UPDATE interfaces SET name = :name, address4 = :address4, address6 = :address6, listen_port = :listen_port, mtu = :mtu,
         dns = :dns, keepalive = :keepalive, endpoint_host = :endpoint_host, updated_at = :updated_at WHERE id = :id`,
      {
        id: r.id,
        name: r.name,
        address4: r.address4,
        address6: r.address6,
        listen_port: r.listen_port,
        mtu: r.mtu,
        dns: r.dns,
        keepalive: r.keepalive,
        endpoint_host: r.endpoint_host,
        updated_at: r.updated_at,
      },
    ),
  delete: (db: Db, id: number) => db.run("DELETE FROM interfaces WHERE id = :id", { id }).changes,
  count: (db: Db) => db.get<{ n: number }>("SELECT count(*) AS n FROM interfaces")!.n,
  peerCounts: (db: Db) =>
    new Map(
      db.all<{ interface_id: number; n: number }>(
        "SELECT interface_id, count(*) AS n FROM peers GROUP BY interface_id",
      )
        .map((r) => [r.interface_id, r.n]),
    ),
};

export const peersRepo = {
  byId: (db: Db, id: number) =>
    db.get<PeerListRow>(
      `SELECT p.*, i.name AS interface_name, n.name AS node_name, ${POOL_COLUMNS} FROM peers p
       JOIN interfaces i ON i.id = p.interface_id LEFT JOIN nodes n ON n.id = p.node_id ${POOL_JOINS}
       WHERE p.id = :id`,
      { id },
    ),
  byPublicKey: (db: Db, key: string) =>
    db.get<PeerRow>("SELECT * FROM peers WHERE public_key = :key", { key }),
  byName: (db: Db, interfaceId: number, name: string) =>
    db.get<PeerRow>("SELECT * FROM peers WHERE interface_id = :interfaceId AND name = :name", {
      interfaceId,
      name,
    }),
  /**
   * One page of matching peers and the number of all matches. A search counts in the same scan
   * (count(*) OVER ()); without one, the page reads only its rows and a plain count(*) is instant.
   */
  page: (db: Db, q: PeerQuery): { rows: PeerListRow[]; total: number } => {
    const filtered = q.q !== "" || q.interfaceId !== null || q.nodeId !== null || !!q.scope;
    const rows = db.all<PeerListRow & { total_count?: number }>(
      `SELECT p.*, i.name AS interface_name, n.name AS node_name, ${POOL_COLUMNS}${
        filtered ? ", count(*) OVER () AS total_count" : ""
      }
       FROM peers p JOIN interfaces i ON i.id = p.interface_id LEFT JOIN nodes n ON n.id = p.node_id
       ${POOL_JOINS}
       WHERE ${PEER_FILTER} ORDER BY ${orderBy(q.sort)} LIMIT :limit OFFSET :offset`,
      { ...peerParams(q), limit: q.limit, offset: q.offset },
    );
    const total = rows[0]?.total_count ??
      db.get<{ n: number }>(`SELECT count(*) AS n FROM peers p WHERE ${PEER_FILTER}`, peerParams(q))!.n;
    return { rows, total };
  },
  /** Addresses taken in an interface's pool: its peers' and its nodes' tunnel addresses. */
  usedAddresses: (db: Db, interfaceId: number) =>
    db.all<{ ipv4: string; ipv6: string | null }>(
      `SELECT ipv4, ipv6 FROM peers WHERE interface_id = :interfaceId
       UNION ALL SELECT address4, address6 FROM node_interfaces WHERE interface_id = :interfaceId`,
      { interfaceId },
    ),
  /** Nodes serving peers of an interface. */
  nodesOn: (db: Db, interfaceId: number) =>
    db.all<{ node_id: number }>(
      "SELECT DISTINCT node_id FROM peers WHERE interface_id = :interfaceId AND node_id IS NOT NULL",
      { interfaceId },
    ).map((r) => r.node_id),
  /** The master's own peers (those no node serves; a failover pool's clients are its members'). */
  countOnMaster: (db: Db) =>
    db.get<{ n: number }>(
      `SELECT count(*) AS n FROM peers p JOIN interfaces i ON i.id = p.interface_id
       WHERE p.node_id IS NULL AND i.is_pool = 0`,
    )!.n,
  /** The sealed PSKs of an interface's peers. */
  sealedPsks: (db: Db, interfaceId: number) =>
    db.all<{ public_key: string; psk_sealed: string }>(
      "SELECT public_key, psk_sealed FROM peers WHERE interface_id = :id AND psk_sealed IS NOT NULL",
      { id: interfaceId },
    ),
  /** An interface's enabled, unexpired peers, as a host's desired state needs them. */
  activeOn: (db: Db, interfaceId: number, now: number) =>
    db.all<ActivePeerRow>(
      `SELECT id, node_id, public_key, psk_sealed, ipv4, ipv6 FROM peers
     WHERE interface_id = :interfaceId AND enabled = 1 AND (expires_at IS NULL OR expires_at > :now) ORDER BY id`,
      { interfaceId, now },
    ),
  /** A node's enabled, unexpired peers on one interface (what that node serves there). */
  activeOfNodeOn: (db: Db, nodeId: number, interfaceId: number, now: number) =>
    db.all<ActivePeerRow>(
      `SELECT id, node_id, public_key, psk_sealed, ipv4, ipv6 FROM peers
     WHERE node_id = :nodeId AND interface_id = :interfaceId AND enabled = 1 AND (expires_at IS NULL OR expires_at > :now)
     ORDER BY id`,
      { nodeId, interfaceId, now },
    ),
  /** The addresses of a node's enabled, unexpired peers (its clients, routed through its tunnel). */
  activeAddressesOf: (db: Db, nodeId: number, now: number) =>
    db.all<{ ipv4: string; ipv6: string | null }>(
      "SELECT ipv4, ipv6 FROM peers WHERE node_id = :id AND enabled = 1 AND (expires_at IS NULL OR expires_at > :now) ORDER BY id",
      { id: nodeId, now },
    ),
  insert: (db: Db, r: Omit<PeerRow, "id">) =>
    db.run(
      `INSERT INTO peers (interface_id, node_id, name, public_key, private_key_sealed, psk_sealed, ipv4, ipv6, routing,
         allowed_ips, enabled, expires_at, created_at, updated_at)
       VALUES (:interface_id, :node_id, :name, :public_key, :private_key_sealed, :psk_sealed, :ipv4, :ipv6, :routing,
         :allowed_ips, :enabled, :expires_at, :created_at, :updated_at)`,
      r,
    ).lastInsertRowid,
  update: (db: Db, r: PeerRow) =>
    db.run(
      `UPDATE peers SET node_id = :node_id, name = :name, public_key = :public_key, private_key_sealed = :private_key_sealed,
         psk_sealed = :psk_sealed, routing = :routing, allowed_ips = :allowed_ips, enabled = :enabled,
         expires_at = :expires_at, updated_at = :updated_at WHERE id = :id`,
      {
        id: r.id,
        node_id: r.node_id,
        name: r.name,
        public_key: r.public_key,
        private_key_sealed: r.private_key_sealed,
        psk_sealed: r.psk_sealed,
        routing: r.routing,
        allowed_ips: r.allowed_ips,
        enabled: r.enabled,
        expires_at: r.expires_at,
        updated_at: r.updated_at,
      },
    ),
  delete: (db: Db, id: number) => db.run("DELETE FROM peers WHERE id = :id", { id }).changes,
  due: (db: Db, now: number) =>
    db.all<PeerRow>(
      "SELECT * FROM peers WHERE enabled = 1 AND expires_at IS NOT NULL AND expires_at <= :now",
      { now },
    ),
  stats: (db: Db, now: number) =>
    db.get<{ total: number; enabled: number; expired: number; local: number }>(
      `SELECT count(*) AS total, coalesce(sum(enabled), 0) AS enabled,
         coalesce(sum(expires_at IS NOT NULL AND expires_at <= :now), 0) AS expired, coalesce(sum(node_id IS NULL), 0) AS local
       FROM peers`,
      { now },
    )!,
};
