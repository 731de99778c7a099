// Exponential backoff with full jitter: min, 2×min, 4×min … capped at max; reset on success.
export class Backoff {
  #failures = 0;
  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt after one more failure. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.#failures);
    this.#failures = Math.min(this.#failures + 1, 30);
    // Jitter between half and the whole ceiling: spreads a fleet's retries, never retries instantly.
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  reset(): void {
    this.#failures = 0;
  }
}
