// A consistent copy of the live database, and the SQL a restore needs. The copy is made with SQLite's
// online backup API (node:sqlite's backup(), which Deno 2.9 provides): it copies pages while the master
// keeps serving, restarting when a writer changes a page it already copied, so the result is one
// transaction's view. Copying wirebuddy.db while it runs in WAL mode would miss the -wal file's commits
// or catch a half-checkpointed page.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { backup } from "node:sqlite";
import type { Db } from "./db.ts";

/** The database's bytes as of one transaction, via a temporary file at `tmpPath` (removed after). */
export async function snapshotBytes(db: Db, tmpPath: string): Promise<Uint8Array> {
  rmSync(tmpPath, { force: true });
  try {
    await backup(db.raw, tmpPath);
    return new Uint8Array(readFileSync(tmpPath));
  } finally {
    rmSync(tmpPath, { force: true });
    rmSync(`${tmpPath}-journal`, { force: true });
  }
}

/** Writes a database file (mode 0600), removing stale -wal and -shm files that would belong to another. */
export function writeDbFile(path: string, bytes: Uint8Array): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) rmSync(f, { force: true });
  writeFileSync(path, bytes, { mode: 0o600 });
}

export function removeDbFile(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) rmSync(f, { force: true });
}

/** Moves a database file and its -wal and -shm files. */
export function renameDbFile(from: string, to: string): void {
  for (const ext of ["-wal", "-shm", "-journal"]) rmSync(`${to}${ext}`, { force: true });
  for (const ext of ["", "-wal", "-shm"]) {
    if (existsSync(`${from}${ext}`)) renameSync(`${from}${ext}`, `${to}${ext}`);
  }
}

/** The schema version recorded in a database (0 for an empty one). */
export function recordedSchema(db: Db): number {
  const has = db.get<{ n: number }>(
    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  );
  if (!has?.n) return 0;
  return db.get<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations")?.v ?? 0;
}

/** Every TEXT column of every table, to find sealed values a restore would have to re-seal. */
export function textColumns(db: Db): { table: string; column: string }[] {
  const tables = db.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  return tables.flatMap((t) =>
    db.all<{ name: string; type: string }>(`SELECT name, type FROM pragma_table_info(:t)`, { t: t.name })
      .filter((c) => c.type.toUpperCase() === "TEXT")
      .map((c) => ({ table: t.name, column: c.name }))
  );
}

/** Rows of `table` whose `column` holds a sealed value ("v1." prefix), with their rowid. */
export function sealedCells(db: Db, table: string, column: string): { rowid: number; value: string }[] {
  const n = db.get<{ n: number }>(`SELECT count(*) AS n FROM "${table}" WHERE "${column}" LIKE 'v1.%'`)!.n;
  if (n === 0) return []; // (WITHOUT ROWID tables have no rowid to select)
  return db.all<{ rowid: number; value: string }>(
    `SELECT rowid AS rowid, "${column}" AS value FROM "${table}" WHERE "${column}" LIKE 'v1.%'`,
  );
}

/** A row's columns by rowid (what a sealing context is made from). */
export function rowById(db: Db, table: string, rowid: number): Record<string, unknown> | undefined {
  return db.get(`SELECT * FROM "${table}" WHERE rowid = :rowid`, { rowid });
}

export function setCell(db: Db, table: string, column: string, rowid: number, value: string): void {
  db.run(`UPDATE "${table}" SET "${column}" = :value WHERE rowid = :rowid`, { value, rowid });
}

/** The enrollment of a node row (what a restore carries over for the host's own `local` node). */
export type Enrollment = {
  hostname: string;
  enrolled_at: number | null;
  node_secret_hash: string | null;
  cert_sha256: string | null;
  verify_key: string | null;
  config_version: number;
};

export function localEnrollment(db: Db): Enrollment | undefined {
  return db.get<Enrollment>(
    `SELECT hostname, enrolled_at, node_secret_hash, cert_sha256, verify_key, config_version
     FROM nodes WHERE is_local = 1`,
  );
}

/** Gives the restored `local` node the enrollment of the node running beside this master. */
export function adoptLocalEnrollment(db: Db, e: Enrollment): void {
  db.run(
    `UPDATE nodes SET hostname = :hostname, enrolled_at = :enrolled_at, node_secret_hash = :node_secret_hash,
       cert_sha256 = :cert_sha256, verify_key = :verify_key, enroll_secret_hash = NULL,
       config_version = max(config_version, :config_version) + 1
     WHERE is_local = 1`,
    e,
  );
}

/** Forgets nonces, sign-in sessions and node sync sessions (nodes open new ones by themselves). */
export function clearEphemeral(db: Db): void {
  for (const table of ["sync_nonces", "sessions", "sync_sessions"]) {
    const has = db.get<{ n: number }>(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :table",
      {
        table,
      },
    );
    if (has?.n) db.run(`DELETE FROM "${table}"`);
  }
}
