// Schema migration 7: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 7,
  name: "DNS: settings, blocklists, rules, records, per-peer choices, query log, node DNS state",
  sql: `
    CREATE TABLE dns_settings (
      id                 INTEGER PRIMARY KEY CHECK (id = 1),
      enabled            INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
      zone               TEXT NOT NULL DEFAULT 'wg.internal',
      upstreams          TEXT NOT NULL DEFAULT '',
      dnssec             INTEGER NOT NULL DEFAULT 1 CHECK (dnssec IN (0, 1)),
      insecure_domains   TEXT NOT NULL DEFAULT '',
      block_mode         TEXT NOT NULL DEFAULT 'nxdomain' CHECK (block_mode IN ('refuse', 'nxdomain', 'null')),
      log_queries        INTEGER NOT NULL DEFAULT 1 CHECK (log_queries IN (0, 1)),
      log_retention_days INTEGER NOT NULL DEFAULT 7,
      refresh_hours      INTEGER NOT NULL DEFAULT 24,
      paused_until       INTEGER NOT NULL DEFAULT 0,
      updated_at         INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO dns_settings (id) VALUES (1);

    CREATE TABLE dns_lists (
      id              INTEGER PRIMARY KEY,
      name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
      url             TEXT,
      enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
      domains         TEXT NOT NULL DEFAULT '',
      allow           TEXT NOT NULL DEFAULT '',
      domain_count    INTEGER NOT NULL DEFAULT 0,
      last_refresh_at INTEGER,
      last_status     TEXT NOT NULL DEFAULT 'never' CHECK (last_status IN ('never', 'ok', 'warning', 'error')),
      last_message    TEXT NOT NULL DEFAULT '',
      created_at      INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE dns_rules (
      id         INTEGER PRIMARY KEY,
      kind       TEXT NOT NULL CHECK (kind IN ('block', 'allow')),
      domain     TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      UNIQUE (kind, domain)
    ) STRICT;

    CREATE TABLE dns_records (
      id         INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      type       TEXT NOT NULL CHECK (type IN ('A', 'AAAA', 'CNAME')),
      value      TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      UNIQUE (name, type, value)
    ) STRICT;

    CREATE TABLE dns_peer_prefs (
      peer_id  INTEGER PRIMARY KEY REFERENCES peers(id) ON DELETE CASCADE,
      blocking INTEGER NOT NULL DEFAULT 1 CHECK (blocking IN (0, 1)),
      lists    TEXT,
      log      INTEGER NOT NULL DEFAULT 1 CHECK (log IN (0, 1))
    ) STRICT;

    CREATE TABLE dns_queries (
      id        INTEGER PRIMARY KEY,
      at        INTEGER NOT NULL,
      src_node  INTEGER NOT NULL,
      seq       INTEGER NOT NULL,
      via       TEXT NOT NULL,
      client    TEXT NOT NULL,
      peer_id   INTEGER,
      peer_name TEXT NOT NULL,
      qname     TEXT NOT NULL,
      qtype     TEXT NOT NULL,
      rcode     TEXT NOT NULL,
      answer    TEXT NOT NULL,
      blocked   INTEGER NOT NULL CHECK (blocked IN (0, 1)),
      UNIQUE (src_node, seq)
    ) STRICT;
    CREATE INDEX dns_queries_at ON dns_queries(at);
    CREATE INDEX dns_queries_qname ON dns_queries(qname, at);

    CREATE TABLE dns_node_state (
      node_id     INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
      last_seq    INTEGER NOT NULL DEFAULT 0,
      dropped     INTEGER NOT NULL DEFAULT 0,
      running     INTEGER,
      detail      TEXT NOT NULL DEFAULT '',
      error       TEXT,
      reported_at INTEGER
    ) STRICT;
  `,
};
