// Schema migration 8: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 8,
  name: "traffic samples keyed by the host that reported them",
  // Two hosts report the same key (both nodes the master's tunnel key, a moved peer's old and new
  // node) and may sample it in the same millisecond: the key names the host (0 for the master's own).
  sql: `
    CREATE TABLE peer_metrics_by_host (
      public_key TEXT NOT NULL,
      resolution INTEGER NOT NULL,
      at         INTEGER NOT NULL,
      node_id    INTEGER,
      rx         INTEGER NOT NULL,
      tx         INTEGER NOT NULL,
      handshake  INTEGER NOT NULL,
      endpoint   TEXT
    ) STRICT;
    INSERT INTO peer_metrics_by_host (public_key, resolution, at, node_id, rx, tx, handshake, endpoint)
      SELECT public_key, resolution, at, node_id, rx, tx, handshake, endpoint FROM peer_metrics;
    DROP TABLE peer_metrics;
    ALTER TABLE peer_metrics_by_host RENAME TO peer_metrics;
    CREATE UNIQUE INDEX peer_metrics_sample ON peer_metrics(public_key, resolution, at, coalesce(node_id, 0));
    CREATE INDEX peer_metrics_time ON peer_metrics(resolution, at);
  `,
};
