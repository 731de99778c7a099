// SQLite through node:sqlite: WAL, foreign keys, a busy timeout, append-only migrations recorded in
// schema_migrations, and a BEGIN IMMEDIATE transaction helper. Refuses a database from a newer schema
// and a read-only one; a full or failing disk becomes a 503 "storage full" instead of a generic 500.
import { closeSync, existsSync, openSync, unlinkSync } from "node:fs";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { AppError } from "../../core/errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";

export type Row = Record<string, SQLInputValue>;
export type Params = Record<string, SQLInputValue>;

/** SQLite result codes that mean the storage, not the statement, is at fault. */
const STORAGE_FAULTS: { code: number; pattern: RegExp; what: string }[] = [
  { code: 13, pattern: /database or disk is full/, what: "full" },
  { code: 8, pattern: /attempt to write a readonly database/, what: "read-only" },
  { code: 10, pattern: /disk I\/O error/, what: "failing (I/O error)" },
];

/** What is wrong with the storage when `err` is an SQLite storage fault (full, read-only, I/O), else null. */
export function storageFault(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  // Prepared statements carry the primary result code in `errcode`; exec() errors only the message.
  const errcode = (err as { errcode?: number }).errcode;
  const hit = STORAGE_FAULTS.find((f) =>
    (typeof errcode === "number" && (errcode & 0xff) === f.code) || f.pattern.test(err.message)
  );
  return hit?.what ?? null;
}

/** A storage fault as the one 503 clients see; other errors unchanged. */
function asStorageError(err: unknown): unknown {
  const what = storageFault(err);
  if (!what || err instanceof AppError) return err;
  return new AppError("unavailable", `The database storage is ${what}: ${(err as Error).message}`, {
    cause: err,
    retryAfter: 30,
    publicMessage: what === "full"
      ? "Storage full: the server cannot save changes right now. Try again later."
      : "Storage unavailable: the server cannot save changes right now. Try again later.",
  });
}

export class Db {
  readonly raw: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #depth = 0;
  /** The last write's storage fault, until a write succeeds again (read by /api/ready). */
  #fault: string | null = null;
  /** Whether the open transaction changed a row (only a committed change proves writes work). */
  #wrote = false;

  constructor(path: string) {
    this.raw = new DatabaseSync(path);
    this.raw.exec("PRAGMA busy_timeout = 5000");
    if (path !== ":memory:") this.raw.exec("PRAGMA journal_mode = WAL");
    this.raw.exec("PRAGMA synchronous = NORMAL");
    this.raw.exec("PRAGMA foreign_keys = ON");
  }

  #prepare(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.raw.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  get<T = Row>(sql: string, params: Params = {}): T | undefined {
    return this.#prepare(sql).get(params) as T | undefined;
  }

  all<T = Row>(sql: string, params: Params = {}): T[] {
    return this.#prepare(sql).all(params) as T[];
  }

  run(sql: string, params: Params = {}): { changes: number; lastInsertRowid: number } {
    let r;
    try {
      r = this.#prepare(sql).run(params);
    } catch (err) {
      throw this.#failed(err);
    }
    if (r.changes > 0) {
      if (this.#depth === 0) this.#fault = null;
      else this.#wrote = true;
    }
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** Remembers a storage fault (for readiness) and turns it into the 503 clients see. */
  #failed(err: unknown): unknown {
    if (err instanceof AppError) return err;
    const what = storageFault(err);
    if (what) this.#fault = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    return asStorageError(err);
  }

  /** The storage fault of the last write ("full: database or disk is full"), or null when writes work. */
  get storageFault(): string | null {
    return this.#fault;
  }

  /**
   * Whether writes work: true unless the last write hit a storage fault and a probe write (a committed
   * row of about two pages, deleted again) still fails. Cheap when nothing is wrong.
   */
  checkWritable(): boolean {
    if (this.#fault === null) return true;
    try {
      this.tx(() => {
        this.run("INSERT OR REPLACE INTO meta (key, value) VALUES ('storage_probe', hex(randomblob(4096)))");
      });
      this.tx(() => this.run("DELETE FROM meta WHERE key = 'storage_probe'"));
    } catch {
      return false;
    }
    return this.#fault === null;
  }

  /** Runs `fn` in a BEGIN IMMEDIATE transaction (a savepoint when nested); rolls back on throw. */
  tx<T>(fn: () => T): T {
    if (this.#depth > 0) {
      const name = `sp${this.#depth}`;
      this.raw.exec(`SAVEPOINT ${name}`);
      this.#depth++;
      try {
        const result = fn();
        this.raw.exec(`RELEASE ${name}`);
        return result;
      } catch (err) {
        this.#rollback(`ROLLBACK TO ${name}; RELEASE ${name}`);
        throw err;
      } finally {
        this.#depth--;
      }
    }
    try {
      this.raw.exec("BEGIN IMMEDIATE");
    } catch (err) {
      throw this.#failed(err);
    }
    this.#depth++;
    this.#wrote = false;
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error("Db.tx() takes a synchronous function");
      this.raw.exec("COMMIT");
      if (this.#wrote) this.#fault = null;
      return result;
    } catch (err) {
      this.#rollback("ROLLBACK");
      throw this.#failed(err);
    } finally {
      this.#depth--;
    }
  }

  /**
   * Rolls back what is still open. SQLite may already have rolled the transaction back itself (it does
   * on SQLITE_FULL and I/O errors): the caller's original error is what matters, so a failing ROLLBACK
   * never replaces it.
   */
  #rollback(sql: string): void {
    if (!this.raw.isTransaction) return;
    try {
      this.raw.exec(sql);
    } catch {
      // the original error is rethrown by the caller
    }
  }

  close(): void {
    this.#statements.clear();
    this.raw.close();
  }
}

/** The schema version recorded in the database (0 for a new one). */
export function schemaVersion(db: Db): number {
  db.raw.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
  );
  return db.get<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations")?.v ?? 0;
}

/** Applies every migration the database lacks, each in its own transaction. */
export function migrate(db: Db, now: number, migrations = MIGRATIONS): number[] {
  const current = schemaVersion(db);
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  if (current > latest) {
    throw new AppError(
      "config",
      `The database has schema version ${current}, newer than this program's ${latest}: it was written by a newer WireBuddy. Upgrade WireBuddy or restore a backup.`,
    );
  }
  // Every migration not recorded, also one below the newest recorded (a database made while two
  // branches each appended one, e.g. v7 recorded without v6, gets v6 now).
  const recorded = new Set(
    db.all<{ version: number }>("SELECT version FROM schema_migrations").map((r) => r.version),
  );
  const applied: number[] = [];
  for (const m of migrations) {
    if (recorded.has(m.version)) continue;
    db.tx(() => {
      db.raw.exec(m.sql);
      db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)", {
        v: m.version,
        n: m.name,
        t: now,
      });
    });
    applied.push(m.version);
  }
  return applied;
}

/**
 * Refuses a database this process cannot write, before SQLite opens it: SQLite would silently open it
 * read-only (then fail every write) and create its -wal and -shm files read-only too.
 */
function assertWritable(path: string): void {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const problems: string[] = [];
  const check = (file: string, attempt: () => void) => {
    try {
      attempt();
    } catch (err) {
      problems.push(`${file} (${(err as { code?: string }).code ?? (err as Error).message})`);
    }
  };
  const probe = `${dir}/.wirebuddy-write-test`;
  check(dir, () => {
    closeSync(openSync(probe, "w"));
    unlinkSync(probe);
  });
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) check(file, () => closeSync(openSync(file, "r+")));
  }
  if (problems.length > 0) {
    throw new AppError(
      "config",
      `The database ${path} is read-only for this process: cannot write ${
        problems.join(", ")
      }. Fix its ownership and permissions (and those of its -wal and -shm files), or the mount.`,
    );
  }
}

/** A write that is rolled back: fails on a database SQLite could only open read-only. */
function probeWrite(db: Db, path: string): void {
  try {
    db.raw.exec("BEGIN IMMEDIATE");
    try {
      db.raw.exec(
        `PRAGMA user_version = ${db.get<{ user_version: number }>("PRAGMA user_version")!.user_version}`,
      );
    } finally {
      if (db.raw.isTransaction) db.raw.exec("ROLLBACK");
    }
  } catch (err) {
    throw new AppError("config", `The database ${path} is read-only: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Opens (creating if needed) and migrates the database at `path` (":memory:" for tests). */
export function openDb(path: string, now: number): Db {
  if (path !== ":memory:") assertWritable(path);
  const db = new Db(path);
  try {
    if (path !== ":memory:") probeWrite(db, path);
    migrate(db, now);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

export { SCHEMA_VERSION };
