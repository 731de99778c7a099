// SQLite through node:sqlite: WAL, foreign keys, a busy timeout, append-only migrations recorded in
// schema_migrations, and a BEGIN IMMEDIATE transaction helper. Refuses a database from a newer schema.
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { AppError } from "../../core/errors.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";

export type Row = Record<string, SQLInputValue>;
export type Params = Record<string, SQLInputValue>;

export class Db {
  readonly raw: DatabaseSync;
  #statements = new Map<string, StatementSync>();
  #depth = 0;

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
    const r = this.#prepare(sql).run(params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
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
        this.raw.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
        throw err;
      } finally {
        this.#depth--;
      }
    }
    this.raw.exec("BEGIN IMMEDIATE");
    this.#depth++;
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error("Db.tx() takes a synchronous function");
      this.raw.exec("COMMIT");
      return result;
    } catch (err) {
      this.raw.exec("ROLLBACK");
      throw err;
    } finally {
      this.#depth--;
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
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
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

/** Opens (creating if needed) and migrates the database at `path` (":memory:" for tests). */
export function openDb(path: string, now: number): Db {
  const db = new Db(path);
  try {
    migrate(db, now);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

export { SCHEMA_VERSION };
