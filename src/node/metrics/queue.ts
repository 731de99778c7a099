// The node's at-least-once metrics queue: SQLite in WAL mode, sequence numbers that only grow (also
// across restarts), a size cap that drops the oldest samples and counts them, and deletion only after
// the master acknowledged a sequence number. On a full disk, samples that could not be stored are
// counted as dropped too (in memory until the count itself can be stored again), and the error is
// SQLite's own ("database or disk is full"), never the failed ROLLBACK after it.
import { DatabaseSync } from "node:sqlite";
import type { MetricSample } from "../../core/sync.ts";

export type NewSample = Omit<MetricSample, "seq">;

export class MetricsQueue {
  readonly #db: DatabaseSync;
  /** Samples lost to a storage failure and not yet added to the stored `dropped` counter. */
  #unstored = 0;

  /** `db`: a path (":memory:" for none) or an open database (tests cap its size to play a full disk). */
  constructor(db: string | DatabaseSync, private readonly max: number) {
    this.#db = typeof db === "string" ? new DatabaseSync(db) : db;
    this.#db.exec("PRAGMA busy_timeout = 5000");
    if (db !== ":memory:" && typeof db === "string") this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL, peer TEXT NOT NULL, rx INTEGER NOT NULL, tx INTEGER NOT NULL,
        handshake INTEGER NOT NULL, endpoint TEXT
      );
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped', 0);
    `);
  }

  /**
   * Adds samples; returns how many old ones were dropped to stay under the cap. When they cannot be
   * stored (a full disk), they count as dropped and SQLite's own error is thrown.
   */
  enqueue(samples: NewSample[]): number {
    if (samples.length === 0) return 0;
    const insert = this.#db.prepare(
      "INSERT INTO queue (at, peer, rx, tx, handshake, endpoint) VALUES (?, ?, ?, ?, ?, ?)",
    );
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      this.#unstored += samples.length;
      throw err;
    }
    try {
      for (const s of samples) insert.run(s.at, s.peer, s.rx, s.tx, s.handshake, s.endpoint);
      const size = Number((this.#db.prepare("SELECT count(*) AS n FROM queue").get() as { n: number }).n);
      const over = Math.max(0, size - this.max);
      if (over > 0) {
        this.#db.prepare("DELETE FROM queue WHERE seq IN (SELECT seq FROM queue ORDER BY seq LIMIT ?)").run(
          over,
        );
      }
      const dropped = over + this.#unstored;
      if (dropped > 0) {
        this.#db.prepare("UPDATE counters SET value = value + ? WHERE name = 'dropped'").run(dropped);
      }
      this.#db.exec("COMMIT");
      this.#unstored = 0;
      return over;
    } catch (err) {
      this.#unstored += samples.length;
      // SQLite may have rolled back already (it does on SQLITE_FULL): the original error is the news.
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch { /* the original error is thrown below */ }
      }
      throw err;
    }
  }

  /** The oldest `limit` samples, in sequence order. */
  batch(limit = 500): MetricSample[] {
    return (this.#db.prepare("SELECT * FROM queue ORDER BY seq LIMIT ?").all(limit) as Record<
      string,
      unknown
    >[]).map((r) => ({
      seq: Number(r.seq),
      at: Number(r.at),
      peer: String(r.peer),
      rx: Number(r.rx),
      tx: Number(r.tx),
      handshake: Number(r.handshake),
      endpoint: r.endpoint === null ? null : String(r.endpoint),
    }));
  }

  /** Deletes every sample up to `seq` (acknowledged by the master); returns how many. */
  ack(seq: number): number {
    return Number(this.#db.prepare("DELETE FROM queue WHERE seq <= ?").run(seq).changes);
  }

  /** Queued samples, and samples dropped since the queue was made (cap, or storage failures). */
  stats(): { size: number; dropped: number } {
    const size = Number((this.#db.prepare("SELECT count(*) AS n FROM queue").get() as { n: number }).n);
    const dropped = Number(
      (this.#db.prepare("SELECT value FROM counters WHERE name = 'dropped'").get() as { value: number })
        .value,
    );
    return { size, dropped: dropped + this.#unstored };
  }

  close(): void {
    this.#db.close();
  }
}
