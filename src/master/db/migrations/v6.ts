// Schema migration 6: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 6,
  name: "sync sessions (an HMAC key per node, agreed by ECDH after enrollment)",
  sql: `
    CREATE TABLE sync_sessions (
      node_id     INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
      session_id  TEXT NOT NULL,
      key_sealed  TEXT NOT NULL,
      created_at  INTEGER NOT NULL
    ) STRICT;
  `,
};
