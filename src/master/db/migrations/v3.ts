// Schema migration 3: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 3,
  name: "node enrollment, sync and metrics",
  sql: `
    ALTER TABLE nodes ADD COLUMN is_local INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE nodes ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
    ALTER TABLE nodes ADD COLUMN last_seen_at INTEGER;
    ALTER TABLE nodes ADD COLUMN last_error TEXT;
    ALTER TABLE nodes ADD COLUMN hostname TEXT NOT NULL DEFAULT '';
    ALTER TABLE nodes ADD COLUMN enroll_secret_hash TEXT;
    ALTER TABLE nodes ADD COLUMN enroll_expires_at INTEGER;
    ALTER TABLE nodes ADD COLUMN enrolled_at INTEGER;
    ALTER TABLE nodes ADD COLUMN node_secret_hash TEXT;
    ALTER TABLE nodes ADD COLUMN cert_sha256 TEXT;
    ALTER TABLE nodes ADD COLUMN verify_key TEXT;
    ALTER TABLE nodes ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE nodes ADD COLUMN applied_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE nodes ADD COLUMN last_metric_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE nodes ADD COLUMN dropped_metrics INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE node_interfaces (
      node_id      INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
      interface_id INTEGER NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
      address4     TEXT NOT NULL,
      address6     TEXT,
      public_key   TEXT,
      PRIMARY KEY (node_id, interface_id)
    ) STRICT;

    CREATE TABLE removed_nodes (
      id               INTEGER PRIMARY KEY,
      verify_key       TEXT NOT NULL,
      node_secret_hash TEXT NOT NULL,
      removed_at       INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sync_nonces (
      nonce      TEXT PRIMARY KEY,
      expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sync_nonces_expiry ON sync_nonces(expires_at);

    CREATE TABLE peer_metrics (
      public_key TEXT NOT NULL,
      resolution INTEGER NOT NULL,
      at         INTEGER NOT NULL,
      node_id    INTEGER,
      rx         INTEGER NOT NULL,
      tx         INTEGER NOT NULL,
      handshake  INTEGER NOT NULL,
      endpoint   TEXT,
      PRIMARY KEY (public_key, resolution, at)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX peer_metrics_time ON peer_metrics(resolution, at);
  `,
};
