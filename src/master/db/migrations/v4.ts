// Schema migration 4: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 4,
  name: "fleet health: checks, node reports, events outbox, webhooks",
  sql: `
    CREATE TABLE node_health (
      node_id          INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
      failures         INTEGER NOT NULL DEFAULT 0,
      next_check_at    INTEGER NOT NULL DEFAULT 0,
      last_check_at    INTEGER,
      last_ok_at       INTEGER,
      last_latency_ms  REAL,
      last_check_error TEXT
    ) STRICT;

    CREATE TABLE node_checks (
      id         INTEGER PRIMARY KEY,
      node_id    INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
      at         INTEGER NOT NULL,
      ok         INTEGER NOT NULL,
      latency_ms REAL NOT NULL,
      error      TEXT,
      manual     INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX node_checks_node ON node_checks(node_id, at);

    CREATE TABLE node_reports (
      node_id         INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
      at              INTEGER NOT NULL,
      apply_ok        INTEGER,
      apply_error     TEXT,
      apply_version   INTEGER,
      apply_ms        REAL,
      warnings        TEXT NOT NULL DEFAULT '[]',
      queue_depth     INTEGER,
      sync_latency_ms REAL,
      behind_since    INTEGER,
      behind_reported INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    CREATE TABLE fleet_events (
      id      INTEGER PRIMARY KEY,
      uid     TEXT NOT NULL UNIQUE,
      dedupe  TEXT UNIQUE,
      type    TEXT NOT NULL,
      at      INTEGER NOT NULL,
      node_id INTEGER,
      payload TEXT NOT NULL
    ) STRICT;
    CREATE INDEX fleet_events_at ON fleet_events(at);

    CREATE TABLE webhooks (
      id            INTEGER PRIMARY KEY,
      name          TEXT NOT NULL,
      url           TEXT NOT NULL,
      secret_sealed TEXT,
      events        TEXT NOT NULL DEFAULT '*',
      enabled       INTEGER NOT NULL DEFAULT 1,
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE webhook_deliveries (
      id              INTEGER PRIMARY KEY,
      event_id        INTEGER NOT NULL REFERENCES fleet_events(id) ON DELETE CASCADE,
      webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
      attempts        INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      last_attempt_at INTEGER,
      last_status     INTEGER,
      last_error      TEXT,
      delivered_at    INTEGER,
      UNIQUE (event_id, webhook_id)
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
    CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  `,
};
