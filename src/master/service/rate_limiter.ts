// A token bucket per key (a node, an enrollment token, an address). Buckets are kept in the order they
// were last used, so those idle long enough to have refilled (a full bucket is the same as no bucket)
// are forgotten from the front of the map: memory follows the keys active in the last minute, and no
// flood of other keys ever resets a bucket that is still draining.
import type { Clock } from "../../core/ports/types.ts";

export class RateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly perMinute: number, private readonly clock: Clock) {}

  get size(): number {
    return this.#buckets.size;
  }

  take(key: string): boolean {
    const now = this.clock.now();
    this.#forgetRefilled(now);
    const b = this.#buckets.get(key) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) / 60_000) * this.perMinute);
    b.at = now;
    this.#buckets.delete(key); // re-inserted last: the map stays ordered by last use
    this.#buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Gives back the token a request took (it turned out to be one the limit is not meant for). */
  refund(key: string): void {
    const b = this.#buckets.get(key);
    if (b) b.tokens = Math.min(this.perMinute, b.tokens + 1);
  }

  /** Any bucket untouched for a minute is full again: drop those (the oldest are first). */
  #forgetRefilled(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (now - b.at < 60_000) return;
      this.#buckets.delete(key);
    }
  }
}
