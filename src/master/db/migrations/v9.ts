// Schema migration 9: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 9,
  name: "failover pools: pool interfaces, their members and the holder of each pool client",
  // A pool is an interface served by several nodes with one shared identity (issue 11). Its announce
  // settings live on the interface row; the TSIG secret is sealed like every other secret.
  sql: `
    ALTER TABLE interfaces ADD COLUMN is_pool INTEGER NOT NULL DEFAULT 0 CHECK (is_pool IN (0, 1));
    ALTER TABLE interfaces ADD COLUMN pool_announce TEXT CHECK (pool_announce IN ('vrrp', 'dns'));
    ALTER TABLE interfaces ADD COLUMN pool_vrrp_address TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_vrrp_vrid INTEGER;
    ALTER TABLE interfaces ADD COLUMN pool_vrrp_advert_ms INTEGER;
    ALTER TABLE interfaces ADD COLUMN pool_vrrp_link TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_dns_name TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_dns_zone TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_dns_server TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_tsig_name TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_tsig_algorithm TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_tsig_secret_sealed TEXT;
    ALTER TABLE interfaces ADD COLUMN pool_dns_ttl INTEGER;

    CREATE TABLE pool_members (
      interface_id   INTEGER NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
      node_id        INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
      priority       INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 254),
      drained_at     INTEGER,
      drain_state    TEXT NOT NULL DEFAULT 'active' CHECK (drain_state IN ('active', 'draining', 'safe')),
      added_at       INTEGER NOT NULL,
      report_state   TEXT,
      report_detail  TEXT,
      report_sessions INTEGER,
      reported_at    INTEGER,
      PRIMARY KEY (interface_id, node_id)
    ) STRICT;
    CREATE INDEX pool_members_node ON pool_members(node_id);

    CREATE TABLE pool_holders (
      peer_id      INTEGER PRIMARY KEY REFERENCES peers(id) ON DELETE CASCADE,
      node_id      INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
      handshake_at INTEGER NOT NULL,
      endpoint     TEXT,
      updated_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX pool_holders_node ON pool_holders(node_id);
  `,
};
