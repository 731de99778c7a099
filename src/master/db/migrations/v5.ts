// Schema migration 5: released, never edited (add a new file for a change).
import type { Migration } from "./migration.ts";

export const migration: Migration = {
  version: 5,
  name: "second factors, passkeys, sign-in challenges, single sign-on, scoped admins",
  sql: `
    CREATE TABLE user_totp (
      user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
      secret_sealed TEXT NOT NULL,
      confirmed_at  INTEGER,
      last_step     INTEGER NOT NULL DEFAULT 0,
      created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE recovery_codes (
      id        INTEGER PRIMARY KEY,
      user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      code_hash TEXT NOT NULL,
      used_at   INTEGER
    ) STRICT;
    CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

    CREATE TABLE passkeys (
      id            INTEGER PRIMARY KEY,
      user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      credential_id TEXT NOT NULL UNIQUE,
      public_key    TEXT NOT NULL,
      counter       INTEGER NOT NULL DEFAULT 0,
      transports    TEXT NOT NULL DEFAULT '',
      name          TEXT NOT NULL,
      created_at    INTEGER NOT NULL,
      last_used_at  INTEGER
    ) STRICT;
    CREATE INDEX passkeys_user ON passkeys(user_id);

    CREATE TABLE auth_challenges (
      id_hash    TEXT PRIMARY KEY,
      kind       TEXT NOT NULL,
      user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
      data       TEXT NOT NULL DEFAULT '',
      expires_at INTEGER NOT NULL,
      attempts   INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX auth_challenges_expiry ON auth_challenges(expires_at);

    ALTER TABLE users ADD COLUMN oidc_subject TEXT;
    CREATE UNIQUE INDEX users_oidc_subject ON users(oidc_subject) WHERE oidc_subject IS NOT NULL;
    ALTER TABLE users ADD COLUMN scope TEXT NOT NULL DEFAULT '';
  `,
};
