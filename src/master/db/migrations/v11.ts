// Schema migration 11: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 11,
  name: "traffic samples carry each host's running byte totals",
  // A peer's counters restart from zero when its device or peer is re-created (a pool takeover, a node
  // restart, a key rotation, a repair). The chart read the last sample per slot and lost the bytes before
  // a reset that climbed past the old value within the slot; the downsampling lost them for good. Each
  // sample now carries the bytes its host counted for the key, summed over every pair of consecutive
  // samples (a counter that went down counts from zero), computed as it is stored (metrics_intake.ts):
  // a bucket's last running total holds every byte before it. Existing rows get the same sum here.
  // The index finds a host's previous sample of a key (its newest raw row by rowid: arrival order).
  sql: `
    ALTER TABLE peer_metrics ADD COLUMN rx_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE peer_metrics ADD COLUMN tx_total INTEGER NOT NULL DEFAULT 0;
    UPDATE peer_metrics SET rx_total = t.rx_total, tx_total = t.tx_total FROM (
      SELECT id, sum(drx) OVER w AS rx_total, sum(dtx) OVER w AS tx_total FROM (
        SELECT rowid AS id, public_key, node_id, resolution, at,
          CASE WHEN rx >= coalesce(lag(rx) OVER h, 0) THEN rx - coalesce(lag(rx) OVER h, 0) ELSE rx END AS drx,
          CASE WHEN tx >= coalesce(lag(tx) OVER h, 0) THEN tx - coalesce(lag(tx) OVER h, 0) ELSE tx END AS dtx
        FROM peer_metrics
        WINDOW h AS (PARTITION BY public_key, coalesce(node_id, 0) ORDER BY resolution DESC, at, rowid)
      )
      WINDOW w AS (PARTITION BY public_key, coalesce(node_id, 0) ORDER BY resolution DESC, at, id
                   ROWS UNBOUNDED PRECEDING)
    ) AS t WHERE peer_metrics.rowid = t.id;
    CREATE INDEX peer_metrics_host ON peer_metrics(public_key, node_id, resolution);
  `,
};
