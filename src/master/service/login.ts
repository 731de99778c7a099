// Signing in: the password step (throttled, constant work for unknown names), the second-factor step when
// the user has one, sessions (created here for every sign-in method), and the "every admin needs a second
// factor" policy that sends such an admin to enrol before anything else.
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { hashPassword, type HashPool, type ScryptCost, verifyPassword } from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import { challengesRepo } from "../db/auth_repo.ts";
import type { Db } from "../db/db.ts";
import { sessionsRepo, type UserRow, usersRepo } from "../db/users_repo.ts";
import { toView, type UserView } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { ipKey, type LoginThrottle, userKey } from "./login_throttle.ts";
import { parseScope } from "./scope.ts";
import { CodeSchema, type SecondFactorService } from "./second_factor.ts";
import { parseInput } from "./validate.ts";

export const LoginSchema = z.object({
  username: z.string().trim().min(1, "is required").max(64, "is too long"),
  password: z.string().min(1, "is required").max(1024, "is too long"),
});

export type Session = { token: string; expiresAt: number; user: UserView };
export type SignInMethod = "password" | "totp" | "recovery" | "passkey" | "oidc";
/** The password step's outcome: a session, or a pending sign-in that needs the second factor. */
export type LoginResult =
  | { kind: "session"; session: Session }
  | { kind: "second_factor"; pending: string; expiresAt: number };

export const SECOND_FACTOR_TTL_MS = 5 * 60_000;
const SECOND_FACTOR_TRIES = 5;

export type LoginOptions = {
  sessionTtlMs: number;
  cost: ScryptCost;
  /** "Every admin needs a second factor": admins without one must enrol before anything else. */
  requireAdminSecondFactor: boolean;
  /** With single sign-on only, local passwords work for this break-glass admin alone ("" for none). */
  passwordOnlyFor: string | null;
};

export class LoginService {
  #dummyHash: Promise<string> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly hashes: HashPool,
    private readonly throttle: LoginThrottle,
    private readonly factors: SecondFactorService,
    private readonly opts: LoginOptions,
  ) {}

  get policy(): { requireAdminSecondFactor: boolean; passwordOnlyFor: string | null } {
    return {
      requireAdminSecondFactor: this.opts.requireAdminSecondFactor,
      passwordOnlyFor: this.opts.passwordOnlyFor,
    };
  }

  async login(meta: RequestMeta, input: unknown): Promise<LoginResult> {
    const data = parseInput(LoginSchema, input, "login");
    const only = this.opts.passwordOnlyFor;
    if (only !== null && data.username.toLowerCase() !== only.toLowerCase()) {
      throw new AppError("unauthorized", "Passwords are disabled: sign in with single sign-on");
    }
    const keys = [ipKey(meta), userKey(data.username)];
    this.throttle.reserve(keys, data.username, meta);
    const user = usersRepo.byName(this.db, data.username);
    // Spend the same time on an unknown username as on a wrong password (the dummy hash is made once,
    // only when first needed, so no scrypt runs in the background of a normal login).
    let ok = false;
    try {
      const stored = user?.password_hash ?? await this.#dummy();
      ok = await this.hashes.run(() => verifyPassword(data.password, stored)) && !!user;
    } catch (err) {
      // Not evaluated (hashing saturated or failed): the attempt does not count.
      this.db.tx(() => keys.forEach((k) => this.throttle.refund(k)));
      throw err;
    }
    if (!user || !ok) {
      this.audit.record(data.username, meta, { action: "login.failure", target: data.username });
      this.log.warn("login failed", { username: data.username, ip: meta.ip });
      throw new AppError("unauthorized", "Invalid username or password");
    }
    if (this.factors.hasTotp(user.id)) {
      // The password was right: this attempt is given back, but the user's earlier failures stay until
      // the second factor is given too (a known password must not reset the budget for code guesses).
      const pending = randomToken(32);
      const expiresAt = this.clock.now() + SECOND_FACTOR_TTL_MS;
      const idHash = await sha256Hex(pending);
      this.db.tx(() => {
        keys.forEach((k) => this.throttle.refund(k));
        challengesRepo.deleteExpired(this.db, this.clock.now());
        challengesRepo.insert(this.db, {
          id_hash: idHash,
          kind: "second_factor",
          user_id: user.id,
          data: "",
          expires_at: expiresAt,
        });
        this.audit.record(user.username, meta, { action: "login.password_ok", target: user.username });
      });
      return { kind: "second_factor", pending, expiresAt };
    }
    return { kind: "session", session: await this.startSession(user, meta, "password") };
  }

  /** The second step: a TOTP or recovery code for a pending sign-in, throttled like the password. */
  async secondFactor(meta: RequestMeta, pending: string, input: unknown): Promise<Session> {
    const { code } = parseInput(CodeSchema, input, "code");
    const idHash = await sha256Hex(pending || "-");
    const now = this.clock.now();
    const challenge = challengesRepo.get(this.db, idHash, "second_factor");
    const user = challenge?.user_id ? usersRepo.byId(this.db, challenge.user_id) : undefined;
    if (!challenge || !user || challenge.expires_at <= now) {
      throw new AppError("gone", "This sign-in has expired: enter your password again");
    }
    this.throttle.reserve([ipKey(meta), userKey(user.username)], user.username, meta);
    const method = await this.factors.verify(user.id, user.username, code);
    if (!method) {
      this.db.tx(() => {
        challengesRepo.countAttempt(this.db, idHash);
        if (challenge.attempts + 1 >= SECOND_FACTOR_TRIES) challengesRepo.delete(this.db, idHash);
        this.audit.record(user.username, meta, {
          action: "login.second_factor_failure",
          target: user.username,
        });
      });
      this.log.warn("second factor failed", { username: user.username, ip: meta.ip });
      throw new AppError("unauthorized", "That code is wrong or was already used", {
        fields: [{ field: "code", message: "is wrong or was already used" }],
      });
    }
    challengesRepo.delete(this.db, idHash);
    return await this.startSession(user, meta, method);
  }

  /** A new session for a user who proved who they are (by any method); audited as login.success. */
  async startSession(user: UserRow, meta: RequestMeta, method: SignInMethod): Promise<Session> {
    const now = this.clock.now();
    const token = randomToken(32);
    const idHash = await sha256Hex(token);
    const expiresAt = now + this.opts.sessionTtlMs;
    this.db.tx(() => {
      this.throttle.succeeded(user.username, meta);
      sessionsRepo.deleteExpired(this.db, now);
      sessionsRepo.insert(this.db, {
        id_hash: idHash,
        user_id: user.id,
        created_at: now,
        expires_at: expiresAt,
        last_seen_at: now,
        ip: meta.ip,
        user_agent: meta.userAgent.slice(0, 300),
      });
      this.audit.record(user.username, meta, {
        action: "login.success",
        target: user.username,
        detail: `method=${method}`,
      });
    });
    return { token, expiresAt, user: toView(user) };
  }

  /** The hash an unknown username is checked against (made once; a failed attempt is retried later). */
  #dummy(): Promise<string> {
    this.#dummyHash ??= this.hashes.run(() => hashPassword(randomToken(16), this.opts.cost)).catch((err) => {
      this.#dummyHash = null;
      throw err;
    });
    return this.#dummyHash;
  }

  /** The actor behind a session cookie, or null when it is unknown or expired. */
  async resolveSession(token: string): Promise<Extract<Actor, { kind: "user" }> | null> {
    if (!token || token.length > 200) return null;
    const idHash = await sha256Hex(token);
    const row = sessionsRepo.withUser(this.db, idHash);
    const now = this.clock.now();
    if (!row) return null;
    if (row.expires_at <= now) {
      sessionsRepo.delete(this.db, idHash);
      return null;
    }
    if (now - row.last_seen_at > 60_000) sessionsRepo.touch(this.db, idHash, now);
    const mustEnrol = this.opts.requireAdminSecondFactor && row.role === "admin" &&
      !this.factors.hasSecondFactor(row.user_id);
    return {
      kind: "user",
      userId: row.user_id,
      username: row.username,
      role: row.role,
      sessionHash: idHash,
      fleet: parseScope(row.scope),
      ...(mustEnrol ? { mustEnrol: true } : {}),
    };
  }

  /** Deletes expired sessions and sign-in challenges; run by the scheduler. */
  purgeExpiredSessions(): number {
    const now = this.clock.now();
    challengesRepo.deleteExpired(this.db, now);
    return sessionsRepo.deleteExpired(this.db, now);
  }

  logout(actor: Actor, meta: RequestMeta): void {
    if (actor.kind !== "user") return;
    this.db.tx(() => {
      sessionsRepo.delete(this.db, actor.sessionHash);
      this.audit.record(actor, meta, { action: "logout", target: actor.username });
    });
  }
}
