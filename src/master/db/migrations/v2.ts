// Schema migration 2: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 2,
  name: "interfaces, peers, nodes",
  sql: `
    CREATE TABLE nodes (
      id         INTEGER PRIMARY KEY,
      name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
      fqdn       TEXT NOT NULL UNIQUE COLLATE NOCASE,
      wg_port    INTEGER NOT NULL CHECK (wg_port BETWEEN 1 AND 65535),
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE interfaces (
      id                 INTEGER PRIMARY KEY,
      name               TEXT NOT NULL UNIQUE,
      address4           TEXT NOT NULL,
      address6           TEXT,
      listen_port        INTEGER NOT NULL CHECK (listen_port BETWEEN 1 AND 65535),
      mtu                INTEGER,
      dns                TEXT NOT NULL DEFAULT '',
      keepalive          INTEGER,
      endpoint_host      TEXT,
      private_key_sealed TEXT NOT NULL,
      public_key         TEXT NOT NULL,
      created_at         INTEGER NOT NULL,
      updated_at         INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE peers (
      id                 INTEGER PRIMARY KEY,
      interface_id       INTEGER NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
      node_id            INTEGER REFERENCES nodes(id) ON DELETE SET NULL,
      name               TEXT NOT NULL,
      public_key         TEXT NOT NULL UNIQUE,
      private_key_sealed TEXT,
      psk_sealed         TEXT,
      ipv4               TEXT NOT NULL,
      ipv6               TEXT,
      routing            TEXT NOT NULL CHECK (routing IN ('full', 'split', 'custom')),
      allowed_ips        TEXT NOT NULL DEFAULT '',
      enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
      expires_at         INTEGER,
      created_at         INTEGER NOT NULL,
      updated_at         INTEGER NOT NULL,
      UNIQUE (interface_id, name),
      UNIQUE (interface_id, ipv4),
      UNIQUE (interface_id, ipv6)
    ) STRICT;
    CREATE INDEX peers_interface ON peers(interface_id, id);
    CREATE INDEX peers_node ON peers(node_id, interface_id);
    CREATE INDEX peers_name ON peers(name COLLATE NOCASE);
    CREATE INDEX peers_expiry ON peers(expires_at) WHERE expires_at IS NOT NULL AND enabled = 1;
  `,
};
