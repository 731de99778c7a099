// Derives the master's keys from WIREBUDDY_SECRET_KEY and proves it is the key the database was made
// with: a stored check value that must open, so a wrong key stops the start with a clear error.
import { AppError } from "../../core/errors.ts";
import { deriveHmacKey, deriveSealKey, KEY_CHECK_PLAINTEXT, seal, unseal } from "../../core/seal.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";

export type MasterKeys = { sealKey: CryptoKey; hmacKey: CryptoKey };

export async function initSecrets(db: Db, secret: string): Promise<MasterKeys> {
  const sealKey = await deriveSealKey(secret);
  const hmacKey = await deriveHmacKey(secret);
  const stored = metaRepo.get(db, "key_check");
  if (stored === undefined) {
    metaRepo.set(db, "key_check", await seal(sealKey, KEY_CHECK_PLAINTEXT, "key_check"));
  } else {
    let plain = "";
    try {
      plain = await unseal(sealKey, stored, "key_check");
    } catch {
      // fall through to the error below
    }
    if (plain !== KEY_CHECK_PLAINTEXT) {
      throw new AppError(
        "config",
        "WIREBUDDY_SECRET_KEY does not match the key this database was created with; start with the original key (the data cannot be read without it)",
      );
    }
  }
  return { sealKey, hmacKey };
}

/** True when the stored check value opens with these keys (for /api/ready). */
export async function keysMatch(db: Db, keys: MasterKeys): Promise<boolean> {
  const stored = metaRepo.get(db, "key_check");
  if (stored === undefined) return false;
  try {
    return (await unseal(keys.sealKey, stored, "key_check")) === KEY_CHECK_PLAINTEXT;
  } catch {
    return false;
  }
}
