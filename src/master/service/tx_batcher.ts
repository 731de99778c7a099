// Many small writes in one transaction: each `run(fn)` queues `fn`; once per event-loop turn the queue is
// flushed in ONE BEGIN IMMEDIATE…COMMIT, each item in a savepoint of its own. A heartbeat's BEGIN/COMMIT
// was the largest SQLite cost per heartbeat at fleet scale; batched, it is paid once per turn.
// Guarantees: items run in the order they were queued; an item that throws rolls back only its own
// savepoint and rejects only its own promise; every promise settles after the COMMIT (nothing is
// acknowledged before it is durable), and if the COMMIT fails (or SQLite rolled the transaction back
// itself, as it does on a full disk) every item of the batch is rejected.
import type { Db } from "../db/db.ts";

type Item = { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void };

export class TxBatcher {
  #queue: Item[] = [];
  #scheduled = false;

  constructor(
    private readonly db: Db,
    /** When to flush (a later turn of the event loop); tests may flush by hand. */
    private readonly schedule: (flush: () => void) => void = (f) => setTimeout(f, 0),
  ) {}

  /** Runs `fn` in the next batch's transaction; resolves with its result after the batch commits. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.schedule(() => this.flush());
      }
    });
  }

  /** Items queued and not yet flushed. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Writes what is queued now, in one transaction (called by the schedule). */
  flush(): void {
    this.#scheduled = false;
    const items = this.#queue;
    this.#queue = [];
    if (items.length === 0) return;
    const results: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.db.tx(() => {
        for (const item of items) {
          try {
            results.push({ ok: true, value: this.db.tx(item.fn) }); // nested: a savepoint
          } catch (err) {
            // SQLite rolled the whole transaction back (a full disk, an I/O error): what the items
            // before wrote is gone too, so the batch fails as one.
            if (!this.db.raw.isTransaction) throw err;
            results.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      for (const item of items) item.reject(err);
      return;
    }
    items.forEach((item, i) => {
      const r = results[i];
      if (r.ok) item.resolve(r.value);
      else item.reject(r.err);
    });
  }
}
