// The query log's at-least-once queue: the same SQLite file (WAL) as the metrics queue, its own table
// and its own sequence numbers (they only grow, also across restarts), a cap that drops the oldest
// entries and counts them, deletion only after the master acknowledged a sequence number. The reply
// log's read position (inode and byte offset) is saved in the same transaction as the entries it gave.
import { DatabaseSync } from "node:sqlite";
import type { DnsLogEntry } from "../../core/sync.ts";

export type NewDnsEntry = Omit<DnsLogEntry, "seq">;

export class DnsLogQueue {
  readonly #db: DatabaseSync;

  constructor(path: string, private readonly max: number) {
    this.#db = new DatabaseSync(path);
    this.#db.exec("PRAGMA busy_timeout = 5000");
    if (path !== ":memory:") this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS dns_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL, client TEXT NOT NULL, qname TEXT NOT NULL, qtype TEXT NOT NULL,
        rcode TEXT NOT NULL, answer TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS dns_log_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO dns_log_counters (name, value) VALUES ('dropped', 0);
    `);
  }

  /** Where the reply log's tail stands, or null before its first read. */
  cursor(): { ino: number; offset: number } | null {
    const rows = this.#db.prepare(
      "SELECT name, value FROM dns_log_counters WHERE name IN ('tail_ino', 'tail_offset')",
    ).all() as { name: string; value: number }[];
    const v = Object.fromEntries(rows.map((r) => [r.name, Number(r.value)]));
    return v.tail_ino === undefined || v.tail_offset === undefined
      ? null
      : { ino: v.tail_ino, offset: v.tail_offset };
  }

  /**
   * Adds entries, and the reply log's new position when given, in one transaction; returns how many old
   * entries were dropped to stay under the cap.
   */
  enqueue(entries: NewDnsEntry[], cursor?: { ino: number; offset: number }): number {
    if (entries.length === 0 && !cursor) return 0;
    const insert = this.#db.prepare(
      "INSERT INTO dns_log (at, client, qname, qtype, rcode, answer) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const e of entries) insert.run(e.at, e.client, e.qname, e.qtype, e.rcode, e.answer);
      if (cursor) {
        const set = this.#db.prepare("INSERT OR REPLACE INTO dns_log_counters (name, value) VALUES (?, ?)");
        set.run("tail_ino", cursor.ino);
        set.run("tail_offset", cursor.offset);
      }
      const size = Number((this.#db.prepare("SELECT count(*) AS n FROM dns_log").get() as { n: number }).n);
      const over = Math.max(0, size - this.max);
      if (over > 0) {
        this.#db.prepare("DELETE FROM dns_log WHERE seq IN (SELECT seq FROM dns_log ORDER BY seq LIMIT ?)")
          .run(over);
        this.#db.prepare("UPDATE dns_log_counters SET value = value + ? WHERE name = 'dropped'").run(over);
      }
      this.#db.exec("COMMIT");
      return over;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /** The oldest `limit` entries, in sequence order. */
  batch(limit = 500): DnsLogEntry[] {
    return (this.#db.prepare("SELECT * FROM dns_log ORDER BY seq LIMIT ?").all(limit) as Record<
      string,
      unknown
    >[])
      .map((r) => ({
        seq: Number(r.seq),
        at: Number(r.at),
        client: String(r.client),
        qname: String(r.qname),
        qtype: String(r.qtype),
        rcode: String(r.rcode),
        answer: String(r.answer),
      }));
  }

  /** Deletes every entry up to `seq` (acknowledged by the master); returns how many. */
  ack(seq: number): number {
    return Number(this.#db.prepare("DELETE FROM dns_log WHERE seq <= ?").run(seq).changes);
  }

  stats(): { size: number; dropped: number } {
    const size = Number((this.#db.prepare("SELECT count(*) AS n FROM dns_log").get() as { n: number }).n);
    const dropped = Number(
      (this.#db.prepare("SELECT value FROM dns_log_counters WHERE name = 'dropped'").get() as {
        value: number;
      })
        .value,
    );
    return { size, dropped };
  }

  close(): void {
    this.#db.close();
  }
}
