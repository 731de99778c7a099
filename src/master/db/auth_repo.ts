// SQL for sign-in beyond the password: TOTP secrets, recovery codes, passkeys and short-lived challenges
// (a login waiting for its second factor, a WebAuthn ceremony, an OIDC authorization request).
import type { Db } from "./db.ts";

export type TotpRow = {
  user_id: number;
  secret_sealed: string;
  confirmed_at: number | null;
  last_step: number;
  created_at: number;
};

export type PasskeyRow = {
  id: number;
  user_id: number;
  credential_id: string;
  public_key: string;
  counter: number;
  transports: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
};

export type ChallengeKind = "second_factor" | "passkey_register" | "passkey_login" | "oidc";
export type ChallengeRow = {
  id_hash: string;
  kind: ChallengeKind;
  user_id: number | null;
  data: string;
  expires_at: number;
  attempts: number;
};

export const totpRepo = {
  get: (db: Db, userId: number) =>
    db.get<TotpRow>("SELECT * FROM user_totp WHERE user_id = :userId", { userId }),
  put: (db: Db, userId: number, sealed: string, at: number) =>
    db.run(
      `INSERT INTO user_totp (user_id, secret_sealed, confirmed_at, last_step, created_at)
       VALUES (:userId, :sealed, NULL, 0, :at)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, confirmed_at = NULL,
         last_step = 0, created_at = excluded.created_at`,
      { userId, sealed, at },
    ),
  confirm: (db: Db, userId: number, at: number, step: number) =>
    db.run("UPDATE user_totp SET confirmed_at = :at, last_step = :step WHERE user_id = :userId", {
      userId,
      at,
      step,
    }).changes,
  /** Moves last_step forward; 0 changes when `step` was already used (a replay). */
  useStep: (db: Db, userId: number, step: number) =>
    db.run("UPDATE user_totp SET last_step = :step WHERE user_id = :userId AND last_step < :step", {
      userId,
      step,
    }).changes,
  delete: (db: Db, userId: number) =>
    db.run("DELETE FROM user_totp WHERE user_id = :userId", { userId }).changes,
  confirmedUserIds: (db: Db) =>
    db.all<{ user_id: number }>("SELECT user_id FROM user_totp WHERE confirmed_at IS NOT NULL").map((r) =>
      r.user_id
    ),
};

export const recoveryRepo = {
  replace: (db: Db, userId: number, hashes: string[]) => {
    db.run("DELETE FROM recovery_codes WHERE user_id = :userId", { userId });
    for (const hash of hashes) {
      db.run("INSERT INTO recovery_codes (user_id, code_hash) VALUES (:userId, :hash)", { userId, hash });
    }
  },
  /** Marks an unused code used; 0 changes when it is unknown or already used. */
  use: (db: Db, userId: number, hash: string, at: number) =>
    db.run(
      "UPDATE recovery_codes SET used_at = :at WHERE user_id = :userId AND code_hash = :hash AND used_at IS NULL",
      { userId, hash, at },
    ).changes,
  remaining: (db: Db, userId: number) =>
    db.get<{ n: number }>(
      "SELECT count(*) AS n FROM recovery_codes WHERE user_id = :userId AND used_at IS NULL",
      { userId },
    )!.n,
  deleteForUser: (db: Db, userId: number) =>
    db.run("DELETE FROM recovery_codes WHERE user_id = :userId", { userId }).changes,
};

export const passkeysRepo = {
  insert: (db: Db, p: Omit<PasskeyRow, "id" | "last_used_at">) =>
    db.run(
      `INSERT INTO passkeys (user_id, credential_id, public_key, counter, transports, name, created_at)
       VALUES (:user_id, :credential_id, :public_key, :counter, :transports, :name, :created_at)`,
      p,
    ).lastInsertRowid,
  forUser: (db: Db, userId: number) =>
    db.all<PasskeyRow>("SELECT * FROM passkeys WHERE user_id = :userId ORDER BY created_at, id", { userId }),
  byCredential: (db: Db, credentialId: string) =>
    db.get<PasskeyRow>("SELECT * FROM passkeys WHERE credential_id = :credentialId", { credentialId }),
  byId: (db: Db, id: number) => db.get<PasskeyRow>("SELECT * FROM passkeys WHERE id = :id", { id }),
  /** Stores a newer signature counter; 0 changes when the counter did not grow (a cloned key). */
  use: (db: Db, id: number, counter: number, at: number) =>
    db.run(
      `UPDATE passkeys SET counter = :counter, last_used_at = :at
       WHERE id = :id AND (:counter = 0 AND counter = 0 OR counter < :counter)`,
      { id, counter, at },
    ).changes,
  delete: (db: Db, id: number) => db.run("DELETE FROM passkeys WHERE id = :id", { id }).changes,
  deleteForUser: (db: Db, userId: number) =>
    db.run("DELETE FROM passkeys WHERE user_id = :userId", { userId }).changes,
  countForUser: (db: Db, userId: number) =>
    db.get<{ n: number }>("SELECT count(*) AS n FROM passkeys WHERE user_id = :userId", { userId })!.n,
};

export const challengesRepo = {
  insert: (db: Db, c: Omit<ChallengeRow, "attempts">) =>
    db.run(
      `INSERT INTO auth_challenges (id_hash, kind, user_id, data, expires_at)
       VALUES (:id_hash, :kind, :user_id, :data, :expires_at)`,
      c,
    ),
  get: (db: Db, idHash: string, kind: ChallengeKind) =>
    db.get<ChallengeRow>("SELECT * FROM auth_challenges WHERE id_hash = :idHash AND kind = :kind", {
      idHash,
      kind,
    }),
  countAttempt: (db: Db, idHash: string) =>
    db.run("UPDATE auth_challenges SET attempts = attempts + 1 WHERE id_hash = :idHash", { idHash }),
  delete: (db: Db, idHash: string) =>
    db.run("DELETE FROM auth_challenges WHERE id_hash = :idHash", { idHash }).changes,
  deleteExpired: (db: Db, now: number) =>
    db.run("DELETE FROM auth_challenges WHERE expires_at <= :now", { now }).changes,
  count: (db: Db, kind: ChallengeKind) =>
    db.get<{ n: number }>("SELECT count(*) AS n FROM auth_challenges WHERE kind = :kind", { kind })!.n,
};
