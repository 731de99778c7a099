// Schema migration 10: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 10,
  name: "node WireGuard key rotation with overlap",
  // A node runs an interface under its name or its alternate (wg0 / wg0r), on its port or the alternate
  // one (service/wg_key_rotation.ts): the device it uses now (null: the interface's name), and the next
  // device's key it announced during a rotation.
  sql: `
    ALTER TABLE node_interfaces ADD COLUMN device TEXT;
    ALTER TABLE node_interfaces ADD COLUMN next_public_key TEXT;
    CREATE TABLE node_wg_rotations (
      id          INTEGER PRIMARY KEY,
      node_id     INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
      started_at  INTEGER NOT NULL,
      finish_by   INTEGER NOT NULL,
      finished_at INTEGER,
      moved       INTEGER NOT NULL DEFAULT 0,
      pending     INTEGER NOT NULL DEFAULT 0,
      started_by  TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX node_wg_rotation_running ON node_wg_rotations(node_id) WHERE finished_at IS NULL;
  `,
};
