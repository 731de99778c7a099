// Single-use nonces kept in memory, each until its request's clock window has passed (after that the
// window itself refuses the request). Used for requests in a sync session: a session lives only in the
// master process that opened it (sync_sessions.ts), so a request made in it can only be replayed to this
// process, which remembers its nonce. Requests signed with a node's identity key (enrollment, opening a
// session) are not in a session and keep their nonce in the database (sync_auth.ts).
import type { Clock } from "../../core/ports/types.ts";

/** Expiries are grouped in buckets of this width; a bucket is forgotten once all of it has expired. */
const BUCKET_MS = 10_000;

export class NonceWindow {
  #live = new Set<string>();
  #buckets = new Map<number, string[]>();
  #oldest = Infinity;

  constructor(private readonly clock: Clock) {}

  /** False when `nonce` is still remembered (a replay); else remembers it until `expiresAt`. */
  claim(nonce: string, expiresAt: number): boolean {
    this.#forgetExpired();
    if (this.#live.has(nonce)) return false;
    this.#live.add(nonce);
    const b = Math.floor(expiresAt / BUCKET_MS);
    const bucket = this.#buckets.get(b);
    if (bucket) bucket.push(nonce);
    else this.#buckets.set(b, [nonce]);
    if (b < this.#oldest) this.#oldest = b;
    return true;
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#live.size;
  }

  #forgetExpired(): void {
    const now = this.clock.now();
    if ((this.#oldest + 1) * BUCKET_MS > now) return;
    for (const [b, nonces] of this.#buckets) {
      if ((b + 1) * BUCKET_MS > now) continue;
      for (const n of nonces) this.#live.delete(n);
      this.#buckets.delete(b);
    }
    this.#oldest = Math.min(Infinity, ...this.#buckets.keys());
  }
}
