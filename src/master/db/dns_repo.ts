// SQL for DNS: settings (one row), blocklists, block/allow rules, custom records, per-peer choices, the
// query log and each node's DNS state (its resolver's status and the query-log sequence it delivered).
import type { Db } from "./db.ts";

export type DnsSettingsRow = {
  enabled: number;
  zone: string;
  upstreams: string;
  dnssec: number;
  insecure_domains: string;
  block_mode: string;
  log_queries: number;
  log_retention_days: number;
  refresh_hours: number;
  paused_until: number;
  updated_at: number;
};

export type DnsListRow = {
  id: number;
  name: string;
  url: string | null;
  enabled: number;
  domain_count: number;
  last_refresh_at: number | null;
  last_status: "never" | "ok" | "warning" | "error";
  last_message: string;
  created_at: number;
};

export type DnsRuleRow = { id: number; kind: "block" | "allow"; domain: string; created_at: number };
export type DnsRecordRow = {
  id: number;
  name: string;
  type: "A" | "AAAA" | "CNAME";
  value: string;
  created_at: number;
};
export type DnsPeerPrefRow = { peer_id: number; blocking: number; lists: string | null; log: number };

/** A peer as DNS sees it: its name, addresses, node and choices. */
export type DnsPeerRow = {
  id: number;
  name: string;
  ipv4: string;
  ipv6: string | null;
  node_id: number | null;
  node_name: string | null;
  blocking: number | null;
  lists: string | null;
  log: number | null;
};

export type DnsQueryRow = {
  id: number;
  at: number;
  via: string;
  client: string;
  peer_id: number | null;
  peer_name: string;
  qname: string;
  qtype: string;
  rcode: string;
  answer: string;
  blocked: number;
};

export type DnsNodeStateRow = {
  node_id: number;
  last_seq: number;
  dropped: number;
  running: number | null;
  detail: string;
  error: string | null;
  reported_at: number | null;
};

export type QueryFilter = {
  q: string;
  blocked: boolean | null;
  peerId: number | null;
  since: number;
  before: number;
  limit: number;
};

const LIST_COLUMNS =
  "id, name, url, enabled, domain_count, last_refresh_at, last_status, last_message, created_at";

export const dnsSettingsRepo = {
  get: (db: Db) => db.get<DnsSettingsRow>("SELECT * FROM dns_settings WHERE id = 1")!,
  update: (db: Db, r: DnsSettingsRow) =>
    db.run(
      `UPDATE dns_settings SET enabled = :enabled, zone = :zone, upstreams = :upstreams, dnssec = :dnssec,
         insecure_domains = :insecure_domains, block_mode = :block_mode, log_queries = :log_queries,
         log_retention_days = :log_retention_days, refresh_hours = :refresh_hours,
         paused_until = :paused_until, updated_at = :updated_at WHERE id = 1`,
      {
        enabled: r.enabled,
        zone: r.zone,
        upstreams: r.upstreams,
        dnssec: r.dnssec,
        insecure_domains: r.insecure_domains,
        block_mode: r.block_mode,
        log_queries: r.log_queries,
        log_retention_days: r.log_retention_days,
        refresh_hours: r.refresh_hours,
        paused_until: r.paused_until,
        updated_at: r.updated_at,
      },
    ),
};

export const dnsListsRepo = {
  list: (db: Db) => db.all<DnsListRow>(`SELECT ${LIST_COLUMNS} FROM dns_lists ORDER BY id`),
  byId: (db: Db, id: number) =>
    db.get<DnsListRow>(`SELECT ${LIST_COLUMNS} FROM dns_lists WHERE id = :id`, { id }),
  byName: (db: Db, name: string) =>
    db.get<DnsListRow>(`SELECT ${LIST_COLUMNS} FROM dns_lists WHERE name = :name`, { name }),
  insert: (db: Db, r: { name: string; url: string | null; enabled: number; created_at: number }) =>
    Number(
      db.run(
        "INSERT INTO dns_lists (name, url, enabled, created_at) VALUES (:name, :url, :enabled, :created_at)",
        r,
      )
        .lastInsertRowid,
    ),
  setContent: (
    db: Db,
    id: number,
    c: { domains: string[]; allow: string[]; at: number; status: "ok" | "warning"; message: string },
  ) =>
    db.run(
      `UPDATE dns_lists SET domains = :domains, allow = :allow, domain_count = :count, last_refresh_at = :at,
         last_status = :status, last_message = :message WHERE id = :id`,
      {
        id,
        domains: c.domains.join("\n"),
        allow: c.allow.join("\n"),
        count: c.domains.length,
        at: c.at,
        status: c.status,
        message: c.message,
      },
    ),
  setOutcome: (db: Db, id: number, at: number, status: "error", message: string) =>
    db.run(
      "UPDATE dns_lists SET last_refresh_at = :at, last_status = :status, last_message = :message WHERE id = :id",
      { id, at, status, message },
    ),
  content: (db: Db, id: number) =>
    db.get<{ domains: string; allow: string }>("SELECT domains, allow FROM dns_lists WHERE id = :id", { id }),
  setEnabled: (db: Db, id: number, enabled: boolean) =>
    db.run("UPDATE dns_lists SET enabled = :enabled WHERE id = :id", { id, enabled: enabled ? 1 : 0 }),
  delete: (db: Db, id: number) => db.run("DELETE FROM dns_lists WHERE id = :id", { id }).changes,
  /** Domains of enabled lists (newline-joined text per list). */
  enabledContent: (db: Db) =>
    db.all<{ id: number; domains: string; allow: string }>(
      "SELECT id, domains, allow FROM dns_lists WHERE enabled = 1 ORDER BY id",
    ),
  dueForRefresh: (db: Db, before: number) =>
    db.all<{ id: number }>(
      "SELECT id FROM dns_lists WHERE url IS NOT NULL AND (last_refresh_at IS NULL OR last_refresh_at < :before)",
      { before },
    ).map((r) => r.id),
};

export const dnsRulesRepo = {
  list: (db: Db) => db.all<DnsRuleRow>("SELECT * FROM dns_rules ORDER BY kind, domain"),
  byId: (db: Db, id: number) => db.get<DnsRuleRow>("SELECT * FROM dns_rules WHERE id = :id", { id }),
  find: (db: Db, kind: string, domain: string) =>
    db.get<DnsRuleRow>("SELECT * FROM dns_rules WHERE kind = :kind AND domain = :domain", { kind, domain }),
  insert: (db: Db, r: Omit<DnsRuleRow, "id">) =>
    Number(
      db.run("INSERT INTO dns_rules (kind, domain, created_at) VALUES (:kind, :domain, :created_at)", r)
        .lastInsertRowid,
    ),
  delete: (db: Db, id: number) => db.run("DELETE FROM dns_rules WHERE id = :id", { id }).changes,
};

export const dnsRecordsRepo = {
  list: (db: Db) => db.all<DnsRecordRow>("SELECT * FROM dns_records ORDER BY name, type, value"),
  byId: (db: Db, id: number) => db.get<DnsRecordRow>("SELECT * FROM dns_records WHERE id = :id", { id }),
  find: (db: Db, r: { name: string; type: string; value: string }) =>
    db.get<DnsRecordRow>(
      "SELECT * FROM dns_records WHERE name = :name AND type = :type AND value = :value",
      r,
    ),
  insert: (db: Db, r: Omit<DnsRecordRow, "id">) =>
    Number(
      db.run(
        "INSERT INTO dns_records (name, type, value, created_at) VALUES (:name, :type, :value, :created_at)",
        r,
      ).lastInsertRowid,
    ),
  delete: (db: Db, id: number) => db.run("DELETE FROM dns_records WHERE id = :id", { id }).changes,
};

const PEER_SELECT = `SELECT p.id, p.name, p.ipv4, p.ipv6, p.node_id, n.name AS node_name,
    d.blocking, d.lists, d.log
  FROM peers p LEFT JOIN nodes n ON n.id = p.node_id LEFT JOIN dns_peer_prefs d ON d.peer_id = p.id`;

export const dnsPeersRepo = {
  /** Enabled, unexpired peers, oldest first (the first of two equal names keeps the plain label). */
  active: (db: Db, now: number) =>
    db.all<DnsPeerRow>(
      `${PEER_SELECT} WHERE p.enabled = 1 AND (p.expires_at IS NULL OR p.expires_at > :now) ORDER BY p.id`,
      { now },
    ),
  all: (db: Db) => db.all<DnsPeerRow>(`${PEER_SELECT} ORDER BY p.name COLLATE NOCASE, p.id`),
  byId: (db: Db, id: number) => db.get<DnsPeerRow>(`${PEER_SELECT} WHERE p.id = :id`, { id }),
  setPrefs: (db: Db, r: DnsPeerPrefRow) =>
    db.run(
      `INSERT INTO dns_peer_prefs (peer_id, blocking, lists, log) VALUES (:peer_id, :blocking, :lists, :log)
       ON CONFLICT (peer_id) DO UPDATE SET blocking = excluded.blocking, lists = excluded.lists, log = excluded.log`,
      r,
    ),
};

export const dnsQueriesRepo = {
  insert: (db: Db, r: Omit<DnsQueryRow, "id"> & { src_node: number; seq: number }) =>
    db.run(
      `INSERT INTO dns_queries (at, src_node, seq, via, client, peer_id, peer_name, qname, qtype, rcode, answer, blocked)
       VALUES (:at, :src_node, :seq, :via, :client, :peer_id, :peer_name, :qname, :qtype, :rcode, :answer, :blocked)`,
      r,
    ),
  search: (db: Db, f: QueryFilter) =>
    db.all<DnsQueryRow>(
      `SELECT id, at, via, client, peer_id, peer_name, qname, qtype, rcode, answer, blocked FROM dns_queries
       WHERE at >= :since AND (:before = 0 OR id < :before)
         AND (:q = '' OR qname LIKE :like OR peer_name LIKE :like OR client LIKE :like OR via LIKE :like)
         AND (:blocked < 0 OR blocked = :blocked) AND (:peer = 0 OR peer_id = :peer)
       ORDER BY id DESC LIMIT :limit`,
      {
        since: f.since,
        before: f.before,
        q: f.q,
        like: `%${f.q.replace(/[%_]/g, "")}%`,
        blocked: f.blocked === null ? -1 : f.blocked ? 1 : 0,
        peer: f.peerId ?? 0,
        limit: f.limit,
      },
    ),
  top: (db: Db, since: number, blocked: boolean | null, limit: number) =>
    db.all<{ qname: string; n: number }>(
      `SELECT qname, count(*) AS n FROM dns_queries WHERE at >= :since AND (:blocked < 0 OR blocked = :blocked)
       GROUP BY qname ORDER BY n DESC, qname LIMIT :limit`,
      { since, blocked: blocked === null ? -1 : blocked ? 1 : 0, limit },
    ),
  overTime: (db: Db, since: number, bucketMs: number) =>
    db.all<{ bucket: number; total: number; blocked: number }>(
      `SELECT (at / :bucket) * :bucket AS bucket, count(*) AS total, sum(blocked) AS blocked FROM dns_queries
       WHERE at >= :since GROUP BY bucket ORDER BY bucket`,
      { since, bucket: bucketMs },
    ),
  totals: (db: Db, since: number) =>
    db.get<{ total: number; blocked: number }>(
      "SELECT count(*) AS total, coalesce(sum(blocked), 0) AS blocked FROM dns_queries WHERE at >= :since",
      { since },
    )!,
  count: (db: Db) => db.get<{ n: number }>("SELECT count(*) AS n FROM dns_queries")!.n,
  deleteBefore: (db: Db, before: number) =>
    db.run("DELETE FROM dns_queries WHERE at < :before", { before }).changes,
};

export const dnsNodeStateRepo = {
  get: (db: Db, nodeId: number) =>
    db.get<DnsNodeStateRow>("SELECT * FROM dns_node_state WHERE node_id = :nodeId", { nodeId }),
  ensure: (db: Db, nodeId: number) =>
    db.run("INSERT OR IGNORE INTO dns_node_state (node_id) VALUES (:nodeId)", { nodeId }),
  setSeq: (db: Db, nodeId: number, seq: number, dropped: number) =>
    db.run("UPDATE dns_node_state SET last_seq = :seq, dropped = :dropped WHERE node_id = :nodeId", {
      nodeId,
      seq,
      dropped,
    }),
  setStatus: (
    db: Db,
    nodeId: number,
    s: { running: boolean; detail: string; error: string | null; at: number },
  ) =>
    db.run(
      `UPDATE dns_node_state SET running = :running, detail = :detail, error = :error, reported_at = :at
       WHERE node_id = :nodeId`,
      { nodeId, running: s.running ? 1 : 0, detail: s.detail, error: s.error, at: s.at },
    ),
};
