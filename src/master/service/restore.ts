// `wirebuddy-master restore FILE`: puts a backup in place of this master's data, typically on a fresh
// install on a new VPS. The master must be stopped. Steps, each refusing with a clear message:
//   1. the file is a backup and intact (exit 65), the passphrase is right (77), its schema is not newer
//      than this program's (78);
//   2. its database is written next to the live one and migrated forward;
//   3. sealed values are re-sealed under this install's WIREBUDDY_SECRET_KEY when it differs from the
//      one the backup was made with (every sealed column is known below; an unknown one stops the restore);
//   4. restored over the same master (a rollback), the `local` node keeps the enrollment of the node
//      running beside it, with a higher config version; over another master (a fresh install) it must
//      enroll again, as the backup's TLS pin and signing key are not the ones it trusts (install.sh
//      master --restore does that);
//   5. the live database is kept as wirebuddy.db.before-restore and the restored one takes its place;
//      the TLS identity (the pin in every node's token) is written to the data dir.
// Remote nodes need nothing: they keep their identity and secret, the answer-signing key and the TLS
// pin are the backup's, and they reach the master by the name in their token's URL.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock, Fs } from "../../core/ports/types.ts";
import { deriveSealKey, seal, unseal } from "../../core/seal.ts";
import {
  adoptLocalEnrollment,
  clearEphemeral,
  type Enrollment,
  localEnrollment,
  recordedSchema,
  removeDbFile,
  renameDbFile,
  rowById,
  sealedCells,
  setCell,
  textColumns,
  writeDbFile,
} from "../db/backup_repo.ts";
import { metaRepo } from "../db/audit_repo.ts";
import { type Db, openDb } from "../db/db.ts";
import { fromBase64 } from "../../core/seal.ts";
import { type Manifest, openBackup, readEnvelope } from "./backup_format.ts";

/** Every sealed column and the context it was sealed with (see the services that seal them). */
export const SEALED: Record<string, (row: Record<string, unknown>) => string> = {
  "meta.value": (r) => String(r.key),
  "peers.private_key_sealed": (r) => `peer:${r.public_key}:private`,
  "peers.psk_sealed": (r) => `peer:${r.public_key}:psk`,
  "interfaces.private_key_sealed": (r) => `interface:${r.name}`,
  "interfaces.pool_tsig_secret_sealed": (r) => `pool:${r.name}:tsig`, // a DNS pool's TSIG secret (pool_settings.ts)
  "webhooks.secret_sealed": () => "webhook:secret",
  "user_totp.secret_sealed": (r) => `totp:${r.user_id}`,
  "sync_sessions.key_sealed": (r) => `session:${r.node_id}`,
};

export type RestoreDeps = {
  fs: Fs;
  clock: Clock;
  log: Logger;
  dataDir: string;
  /** This install's WIREBUDDY_SECRET_KEY. */
  secretKey: string;
  tlsMode: "self-signed" | "files" | "off";
  schema: number;
  appVersion: string;
};

export type RestoreResult = {
  manifest: Manifest;
  migratedTo: number;
  resealed: number;
  localAdopted: boolean;
  tlsWritten: boolean;
};

/** Re-seals every sealed value from one secret key's seal key to another's, in one transaction. */
export async function reseal(db: Db, from: string, to: string): Promise<number> {
  const [oldKey, newKey] = [await deriveSealKey(from), await deriveSealKey(to)];
  const updates: { table: string; column: string; rowid: number; value: string }[] = [];
  for (const { table, column } of textColumns(db)) {
    const cells = sealedCells(db, table, column);
    if (cells.length === 0) continue;
    const context = SEALED[`${table}.${column}`];
    if (!context) {
      throw new AppError(
        "config",
        `Cannot restore: ${table}.${column} holds sealed values this version does not know how to re-seal under the new WIREBUDDY_SECRET_KEY. Set WIREBUDDY_SECRET_KEY to the backed-up master's key and retry.`,
      );
    }
    for (const cell of cells) {
      const ctx = context(rowById(db, table, cell.rowid) ?? {});
      let plain: string;
      try {
        plain = await unseal(oldKey, cell.value, ctx);
      } catch (cause) {
        throw new AppError("config", `Cannot restore: ${table}.${column} row ${cell.rowid} does not open`, {
          cause,
        });
      }
      updates.push({ table, column, rowid: cell.rowid, value: await seal(newKey, plain, ctx) });
    }
  }
  db.tx(() => {
    for (const u of updates) setCell(db, u.table, u.column, u.rowid, u.value);
  });
  return updates.length;
}

/** The manifest of a backup file without opening it (for `restore --check` and the UI). */
export async function inspectBackup(text: string): Promise<Manifest> {
  return (await readEnvelope(text)).manifest;
}

export async function restoreBackup(
  d: RestoreDeps,
  text: string,
  passphrase: string,
): Promise<RestoreResult> {
  const { manifest, ct } = await readEnvelope(text);
  if (manifest.schema > d.schema) {
    throw new AppError(
      "config",
      `Cannot restore: the backup has schema v${manifest.schema} (WireBuddy ${manifest.app_version}), newer than this WireBuddy ${d.appVersion} (schema v${d.schema}). Install WireBuddy ${manifest.app_version} or later, then restore.`,
    );
  }
  const payload = await openBackup(manifest, ct, passphrase);
  const live = `${d.dataDir}/wirebuddy.db`;
  const next = `${d.dataDir}/wirebuddy.db.restoring`;
  const now = d.clock.now();

  // The enrollment of the node beside this master, if this install has one, and this master's
  // answer-signing key (the node trusts that key: it keeps its enrollment only if the backup has it too).
  let local: Enrollment | undefined;
  let liveVerifyKey: string | undefined;
  if (await d.fs.exists(live)) {
    const cur = openDb(live, now);
    try {
      local = localEnrollment(cur);
      liveVerifyKey = metaRepo.get(cur, "sync_verify_key");
    } finally {
      cur.close();
    }
  }

  await d.fs.mkdir(d.dataDir, 0o700);
  writeDbFile(next, fromBase64(payload.db));
  let result: Omit<RestoreResult, "manifest" | "tlsWritten">;
  try {
    const db = openDb(next, now); // migrates forward
    try {
      const resealed = payload.secret_key === d.secretKey
        ? 0
        : await reseal(db, payload.secret_key, d.secretKey);
      // Same master identity (a rollback on this host): the local node keeps its enrollment. Another
      // one (a fresh install): the local node must enroll again (install.sh master --restore does it).
      const sameMaster = liveVerifyKey !== undefined && liveVerifyKey === metaRepo.get(db, "sync_verify_key");
      const adopt = local?.node_secret_hash && sameMaster ? local : undefined;
      db.tx(() => {
        if (adopt) adoptLocalEnrollment(db, adopt);
        clearEphemeral(db);
      });
      result = { migratedTo: recordedSchema(db), resealed, localAdopted: adopt !== undefined };
      db.raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  } catch (err) {
    removeDbFile(next);
    throw err;
  }
  if (await d.fs.exists(live)) {
    removeDbFile(`${live}.before-restore`);
    renameDbFile(live, `${live}.before-restore`);
  }
  renameDbFile(next, live);

  let tlsWritten = false;
  if (payload.tls && d.tlsMode === "self-signed") {
    await d.fs.mkdir(`${d.dataDir}/tls`, 0o700);
    await d.fs.writeTextAtomic(`${d.dataDir}/tls/key.pem`, payload.tls.key, 0o600);
    await d.fs.writeTextAtomic(`${d.dataDir}/tls/cert.pem`, payload.tls.cert, 0o644);
    tlsWritten = true;
  } else if (payload.tls) {
    d.log.warn(
      "the backup's self-signed TLS certificate was not installed: WIREBUDDY_TLS is not self-signed",
      {
        tls: d.tlsMode,
      },
    );
  }
  return { manifest, ...result, tlsWritten };
}
