// Schema migration 1: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 1,
  name: "accounts, sessions, api tokens, audit",
  sql: `
    CREATE TABLE meta (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE users (
      id                  INTEGER PRIMARY KEY,
      username            TEXT NOT NULL UNIQUE COLLATE NOCASE,
      role                TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
      password_hash       TEXT NOT NULL,
      created_at          INTEGER NOT NULL,
      password_changed_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
      id_hash      TEXT PRIMARY KEY,
      user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at   INTEGER NOT NULL,
      expires_at   INTEGER NOT NULL,
      last_seen_at INTEGER NOT NULL,
      ip           TEXT NOT NULL,
      user_agent   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX sessions_user ON sessions(user_id);

    CREATE TABLE api_tokens (
      id           INTEGER PRIMARY KEY,
      name         TEXT NOT NULL,
      prefix       TEXT NOT NULL,
      token_hash   TEXT NOT NULL UNIQUE,
      scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
      user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at   INTEGER NOT NULL,
      expires_at   INTEGER,
      revoked_at   INTEGER,
      last_used_at INTEGER
    ) STRICT;

    CREATE TABLE login_failures (
      key          TEXT PRIMARY KEY,
      count        INTEGER NOT NULL,
      first_at     INTEGER NOT NULL,
      locked_until INTEGER
    ) STRICT;

    CREATE TABLE audit_log (
      id     INTEGER PRIMARY KEY,
      at     INTEGER NOT NULL,
      actor  TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL DEFAULT '',
      detail TEXT NOT NULL DEFAULT '',
      ip     TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX audit_at ON audit_log(at);
    CREATE INDEX audit_action ON audit_log(action, at);
  `,
};
