// Login throttling shared by every step of a sign-in (password, second factor): failures are counted per
// client address and per username in the database, and a key with too many in the window is locked.
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { loginFailuresRepo } from "../db/users_repo.ts";
import type { AuditService } from "./audit.ts";
import type { RequestMeta } from "./context.ts";

export type ThrottlePolicy = { maxFailures: number; windowMs: number; lockMs: number };
export const DEFAULT_THROTTLE: ThrottlePolicy = {
  maxFailures: 5,
  windowMs: 15 * 60_000,
  lockMs: 15 * 60_000,
};

export const ipKey = (meta: RequestMeta) => `ip:${meta.ip}`;
export const userKey = (username: string) => `user:${username.toLowerCase()}`;

export class LoginThrottle {
  /** Lock key -> the locked_until already audited: a refused login is audited once per lock. */
  readonly #auditedLocks = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly policy: ThrottlePolicy = DEFAULT_THROTTLE,
  ) {}

  /** A key's failures in the current window (0 once the window or a served lock has passed). */
  #current(key: string, now: number): { count: number; firstAt: number; lockedUntil: number } {
    const row = loginFailuresRepo.get(this.db, key);
    const lockedUntil = row?.locked_until ?? 0;
    if (!row || (lockedUntil > 0 && lockedUntil <= now) || now - row.first_at > this.policy.windowMs) {
      return { count: 0, firstAt: now, lockedUntil: 0 };
    }
    return { count: row.count, firstAt: row.first_at, lockedUntil };
  }

  /**
   * Takes an attempt's slot before any checking, in one synchronous transaction: every attempt counts as
   * a failure of its keys until it proves otherwise, so however many guesses arrive at once, at most
   * `maxFailures` per window are ever evaluated. A refused attempt is audited once per lock.
   */
  reserve(keys: string[], username: string, meta: RequestMeta): void {
    const now = this.clock.now();
    const { maxFailures, lockMs } = this.policy;
    const locked = this.db.tx(() => {
      const states = keys.map((key) => ({ key, ...this.#current(key, now) }));
      const locked = states.filter((s) => s.lockedUntil > now || s.count >= maxFailures);
      if (locked.length > 0) return locked;
      for (const s of states) {
        const count = s.count + 1;
        loginFailuresRepo.put(this.db, {
          key: s.key,
          count,
          first_at: s.firstAt,
          locked_until: count >= maxFailures ? now + lockMs : null,
        });
      }
      return [];
    });
    if (locked.length === 0) return;
    if (locked.some((s) => this.#auditedLocks.get(s.key) !== s.lockedUntil)) {
      this.audit.record(username, meta, { action: "login.blocked", target: username });
      this.#pruneAuditedLocks(now);
      for (const s of locked) this.#auditedLocks.set(s.key, s.lockedUntil);
    }
    const wait = Math.max(...locked.map((s) => s.lockedUntil || now + lockMs)) - now;
    throw new AppError(
      "rate_limited",
      `Too many failed logins. Try again in ${Math.ceil(wait / 60_000)} minute(s).`,
      { retryAfter: Math.ceil(wait / 1000) },
    );
  }

  /** Gives back a reserved attempt that was not a failed guess (a success, or never evaluated). */
  refund(key: string): void {
    const now = this.clock.now();
    const s = this.#current(key, now);
    if (s.count === 0) return;
    const count = s.count - 1;
    loginFailuresRepo.put(this.db, {
      key,
      count,
      first_at: s.firstAt,
      locked_until: count >= this.policy.maxFailures ? s.lockedUntil : null,
    });
  }

  /** After a complete sign-in: the user's failures end; the address keeps its earlier failures. */
  succeeded(username: string, meta: RequestMeta): void {
    this.refund(ipKey(meta));
    loginFailuresRepo.clear(this.db, userKey(username));
  }

  #pruneAuditedLocks(now: number): void {
    if (this.#auditedLocks.size < 1000) return;
    for (const [key, until] of this.#auditedLocks) if (until <= now) this.#auditedLocks.delete(key);
  }
}
