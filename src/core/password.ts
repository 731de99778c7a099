// Password hashing with scrypt (node:crypto), constant-time verification, and a bounded pool that keeps
// parallel hashes (64 MiB each at the default cost) from exhausting memory.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { AppError } from "./errors.ts";

export type ScryptCost = { N: number; r: number; p: number };
/** ~64 MiB and ~100 ms per hash on a small VPS: expensive for an attacker, fine for a login. */
export const DEFAULT_COST: ScryptCost = { N: 1 << 16, r: 8, p: 1 };
const KEY_LEN = 32;

function scryptAsync(password: string, salt: Uint8Array, cost: ScryptCost): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize("NFKC"),
      salt,
      KEY_LEN,
      { ...cost, maxmem: 256 * cost.N * cost.r + (1 << 20) },
      (err, key) => {
        if (err) reject(err);
        else resolve(new Uint8Array(key));
      },
    );
  });
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** Returns `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = new Uint8Array(randomBytes(16));
  const key = await scryptAsync(password, salt, cost);
  return ["scrypt", cost.N, cost.r, cost.p, b64(salt), b64(key)].join("$");
}

/** Constant-time check of `password` against a stored hash; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20) return false;
  const expected = unb64(parts[5]!);
  const actual = await scryptAsync(password, unb64(parts[4]!), { N, r, p });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of a random password, to spend the same time on an unknown username as on a known one. */
export const DUMMY_HASH_COST: ScryptCost = DEFAULT_COST;

export type HashLimits = {
  /** Hashes running at once (each holds 128 * N * r bytes: 64 MiB at the default cost). */
  concurrency: number;
  /** Hashes waiting for a slot; one more is refused with 503. */
  queue: number;
};
/** Two hashes at once (~128 MiB at the default cost), 16 waiting: about 1 s of queue on a small VPS. */
export const DEFAULT_HASH_LIMITS: HashLimits = { concurrency: 2, queue: 16 };

/**
 * Runs password hashes through at most `concurrency` slots with a bounded FIFO queue. Beyond the queue
 * `run()` throws `unavailable` (503, Retry-After 1) at once, before any memory is spent.
 */
export class HashPool {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(private readonly limits: HashLimits = DEFAULT_HASH_LIMITS) {}

  /** Hashes running and waiting now. */
  get load(): { active: number; waiting: number } {
    return { active: this.#active, waiting: this.#waiting.length };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active < this.limits.concurrency) this.#active++;
    else if (this.#waiting.length < this.limits.queue) {
      // The finishing hash hands its slot over: #active stays the same.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      throw new AppError(
        "unavailable",
        `Password hashing is saturated (${this.limits.concurrency} running, ${this.limits.queue} waiting)`,
        { retryAfter: 1, publicMessage: "The server is busy checking passwords. Try again in a moment." },
      );
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
