// Users, sessions, login throttling and the one-time setup link for the first admin.
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import {
  DEFAULT_COST,
  type HashLimits,
  hashPassword,
  HashPool,
  type ScryptCost,
  verifyPassword,
} from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { loginFailuresRepo, sessionsRepo, type UserRow, usersRepo } from "../db/users_repo.ts";
import type { AuditService } from "./audit.ts";
import { type Actor, canWrite, type RequestMeta, type Role } from "./context.ts";
import { parseInput } from "./validate.ts";

export const UsernameSchema = z.string().trim().min(3, "must be at least 3 characters").max(
  64,
  "must be at most 64 characters",
)
  .regex(/^[A-Za-z0-9._@-]+$/, "may contain letters, digits and . _ @ - only");
export const PasswordSchema = z.string().min(10, "must be at least 10 characters").max(
  1024,
  "must be at most 1024 characters",
);
export const RoleSchema = z.enum(["admin", "viewer"], { error: "must be admin or viewer" });

export const NewUserSchema = z.object({
  username: UsernameSchema,
  password: PasswordSchema,
  role: RoleSchema,
});
export const LoginSchema = z.object({
  username: z.string().trim().min(1, "is required").max(64, "is too long"),
  password: z.string().min(1, "is required").max(1024, "is too long"),
});
export const ChangePasswordSchema = z.object({
  current_password: z.string().min(1, "is required").max(1024),
  new_password: PasswordSchema,
});

export type UserView = {
  id: number;
  username: string;
  role: Role;
  createdAt: number;
  passwordChangedAt: number;
};

export type ThrottlePolicy = { maxFailures: number; windowMs: number; lockMs: number };
export const DEFAULT_THROTTLE: ThrottlePolicy = {
  maxFailures: 5,
  windowMs: 15 * 60_000,
  lockMs: 15 * 60_000,
};
export const SETUP_TTL_MS = 24 * 3_600_000;

export type Session = { token: string; expiresAt: number; user: UserView };

function toView(u: UserRow): UserView {
  return {
    id: u.id,
    username: u.username,
    role: u.role,
    createdAt: u.created_at,
    passwordChangedAt: u.password_changed_at,
  };
}

export function requireAdmin(actor: Actor): void {
  if (!canWrite(actor)) {
    throw new AppError(
      "forbidden",
      actor.kind === "token" ? "This API token may only read" : "Only admins can change this",
    );
  }
}

export class AccountService {
  #dummyHash: Promise<string> | null = null;
  readonly #hashes: HashPool;
  /** Lock key -> the locked_until already audited: a refused login is audited once per lock. */
  readonly #auditedLocks = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly opts: {
      sessionTtlMs: number;
      cost?: ScryptCost;
      throttle?: ThrottlePolicy;
      hashing?: HashLimits;
    },
  ) {
    this.#hashes = new HashPool(opts.hashing);
  }

  /** Hashes a new password through the bounded pool (503 when it is saturated). */
  #hash(password: string): Promise<string> {
    return this.#hashes.run(() => hashPassword(password, this.#cost));
  }

  #verify(password: string, stored: string): Promise<boolean> {
    return this.#hashes.run(() => verifyPassword(password, stored));
  }

  get #cost(): ScryptCost {
    return this.opts.cost ?? DEFAULT_COST;
  }
  get #throttle(): ThrottlePolicy {
    return this.opts.throttle ?? DEFAULT_THROTTLE;
  }

  hasUsers(): boolean {
    return usersRepo.count(this.db) > 0;
  }

  list(): UserView[] {
    return usersRepo.list(this.db).map(toView);
  }

  get(id: number): UserView {
    const u = usersRepo.byId(this.db, id);
    if (!u) throw new AppError("not_found", `User ${id} not found`);
    return toView(u);
  }

  async create(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<UserView> {
    requireAdmin(actor);
    const data = parseInput(NewUserSchema, input, "user");
    const hash = await this.#hash(data.password);
    const now = this.clock.now();
    const id = this.db.tx(() => {
      if (usersRepo.byName(this.db, data.username)) {
        throw new AppError("conflict", `A user named "${data.username}" already exists`, {
          fields: [{ field: "username", message: "is already taken" }],
        });
      }
      const id = usersRepo.insert(this.db, {
        username: data.username,
        role: data.role,
        password_hash: hash,
        created_at: now,
        password_changed_at: now,
      });
      this.audit.record(actor, meta, {
        action: "user.create",
        target: data.username,
        detail: `role=${data.role}`,
      });
      return id;
    });
    return this.get(id);
  }

  setRole(actor: Actor, meta: RequestMeta | null, id: number, roleInput: unknown): UserView {
    requireAdmin(actor);
    const role = parseInput(z.object({ role: RoleSchema }), { role: roleInput }, "role").role;
    this.db.tx(() => {
      const u = usersRepo.byId(this.db, id);
      if (!u) throw new AppError("not_found", `User ${id} not found`);
      if (u.role === role) return;
      if (u.role === "admin" && usersRepo.countAdmins(this.db) <= 1) {
        throw new AppError("conflict", `Cannot make "${u.username}" a viewer: it is the last admin`);
      }
      usersRepo.setRole(this.db, id, role);
      this.audit.record(actor, meta, {
        action: "user.role",
        target: u.username,
        detail: `${u.role} -> ${role}`,
      });
    });
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    this.db.tx(() => {
      const u = usersRepo.byId(this.db, id);
      if (!u) throw new AppError("not_found", `User ${id} not found`);
      if (u.role === "admin" && usersRepo.countAdmins(this.db) <= 1) {
        throw new AppError("conflict", `Cannot delete "${u.username}": it is the last admin`);
      }
      usersRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "user.delete", target: u.username });
    });
  }

  /** An admin sets another user's password; all of that user's sessions end. */
  async resetPassword(
    actor: Actor,
    meta: RequestMeta | null,
    id: number,
    passwordInput: unknown,
  ): Promise<void> {
    requireAdmin(actor);
    const { password } = parseInput(
      z.object({ password: PasswordSchema }),
      { password: passwordInput },
      "password",
    );
    const hash = await this.#hash(password);
    this.db.tx(() => {
      const u = usersRepo.byId(this.db, id);
      if (!u) throw new AppError("not_found", `User ${id} not found`);
      usersRepo.setPassword(this.db, id, hash, this.clock.now());
      sessionsRepo.deleteForUser(this.db, id);
      loginFailuresRepo.clear(this.db, `user:${u.username.toLowerCase()}`);
      this.audit.record(actor, meta, { action: "user.password_reset", target: u.username });
    });
  }

  /** A user changes their own password: other sessions end, the current one stays. */
  async changeOwnPassword(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<void> {
    if (actor.kind !== "user") {
      throw new AppError("forbidden", "Only a logged-in user can change their password");
    }
    const data = parseInput(ChangePasswordSchema, input, "password change");
    const u = usersRepo.byId(this.db, actor.userId);
    if (!u) throw new AppError("unauthorized", "Your account no longer exists");
    if (!(await this.#verify(data.current_password, u.password_hash))) {
      throw new AppError("validation", "The current password is wrong", {
        fields: [{ field: "current_password", message: "is wrong" }],
      });
    }
    const hash = await this.#hash(data.new_password);
    this.db.tx(() => {
      usersRepo.setPassword(this.db, u.id, hash, this.clock.now());
      sessionsRepo.deleteForUser(this.db, u.id, actor.sessionHash);
      this.audit.record(actor, meta, { action: "user.password_change", target: u.username });
    });
  }

  /** The CLI's `admin create` and `admin reset-password`: no session, audited as "cli". */
  async cliUpsertAdmin(username: string, password: string, mode: "create" | "reset"): Promise<UserView> {
    const system: Actor = { kind: "system", name: "cli" };
    if (mode === "create") return await this.create(system, null, { username, password, role: "admin" });
    const u = usersRepo.byName(this.db, username);
    if (!u) throw new AppError("not_found", `User "${username}" not found`);
    await this.resetPassword(system, null, u.id, password);
    loginFailuresRepo.clearPrefix(this.db, "ip:");
    return toView(u);
  }

  // --- login, sessions -------------------------------------------------------------------------

  /** A key's failures in the current window (0 once the window or a served lock has passed). */
  #current(key: string, now: number): { count: number; firstAt: number; lockedUntil: number } {
    const row = loginFailuresRepo.get(this.db, key);
    const lockedUntil = row?.locked_until ?? 0;
    if (!row || (lockedUntil > 0 && lockedUntil <= now) || now - row.first_at > this.#throttle.windowMs) {
      return { count: 0, firstAt: now, lockedUntil: 0 };
    }
    return { count: row.count, firstAt: row.first_at, lockedUntil };
  }

  /**
   * Takes a login attempt's slot before any hashing, in one synchronous transaction: every attempt counts
   * as a failure of its address and its username until it proves otherwise, so however many guesses
   * arrive at once, at most `maxFailures` per window are ever evaluated. A refused attempt is audited
   * once per lock, not once per request.
   */
  #reserveAttempt(keys: string[], username: string, meta: RequestMeta, now: number): void {
    const { maxFailures, lockMs } = this.#throttle;
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
  #refundAttempt(key: string, now: number): void {
    const s = this.#current(key, now);
    if (s.count === 0) return;
    const count = s.count - 1;
    loginFailuresRepo.put(this.db, {
      key,
      count,
      first_at: s.firstAt,
      locked_until: count >= this.#throttle.maxFailures ? s.lockedUntil : null,
    });
  }

  #pruneAuditedLocks(now: number): void {
    if (this.#auditedLocks.size < 1000) return;
    for (const [key, until] of this.#auditedLocks) if (until <= now) this.#auditedLocks.delete(key);
  }

  async login(meta: RequestMeta, input: unknown): Promise<Session> {
    const data = parseInput(LoginSchema, input, "login");
    const now = this.clock.now();
    const ipKey = `ip:${meta.ip}`;
    const userKey = `user:${data.username.toLowerCase()}`;
    this.#reserveAttempt([ipKey, userKey], data.username, meta, now);
    const user = usersRepo.byName(this.db, data.username);
    // Spend the same time on an unknown username as on a wrong password (the dummy hash is made once,
    // only when first needed, so no scrypt runs in the background of a normal login).
    let ok = false;
    try {
      if (user) ok = await this.#verify(data.password, user.password_hash);
      else await this.#verify(data.password, await this.#dummy());
    } catch (err) {
      // Not evaluated (hashing saturated or failed): the attempt does not count.
      this.db.tx(() => {
        this.#refundAttempt(ipKey, now);
        this.#refundAttempt(userKey, now);
      });
      throw err;
    }
    if (!user || !ok) {
      this.audit.record(data.username, meta, { action: "login.failure", target: data.username });
      this.log.warn("login failed", { username: data.username, ip: meta.ip });
      throw new AppError("unauthorized", "Invalid username or password");
    }
    const token = randomToken(32);
    const idHash = await sha256Hex(token);
    const expiresAt = now + this.opts.sessionTtlMs;
    this.db.tx(() => {
      // The user's own failures end with a success; the address keeps its earlier failures, so mixing
      // one's own logins into a password spray does not reset its budget.
      this.#refundAttempt(ipKey, now);
      loginFailuresRepo.clear(this.db, userKey);
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
      this.audit.record(user.username, meta, { action: "login.success", target: user.username });
    });
    return { token, expiresAt, user: toView(user) };
  }

  /** The hash an unknown username is checked against (made once; a failed attempt is retried later). */
  #dummy(): Promise<string> {
    this.#dummyHash ??= this.#hash(randomToken(16)).catch((err) => {
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
    return { kind: "user", userId: row.user_id, username: row.username, role: row.role, sessionHash: idHash };
  }

  /** Deletes expired sessions; run by the scheduler. */
  purgeExpiredSessions(): number {
    return sessionsRepo.deleteExpired(this.db, this.clock.now());
  }

  logout(actor: Actor, meta: RequestMeta): void {
    if (actor.kind !== "user") return;
    this.db.tx(() => {
      sessionsRepo.delete(this.db, actor.sessionHash);
      this.audit.record(actor, meta, { action: "logout", target: actor.username });
    });
  }

  // --- first admin through a one-time setup link -----------------------------------------------

  /** When there is no user yet: a new single-use setup token (replacing any older one). */
  async newSetupToken(): Promise<{ token: string; expiresAt: number } | null> {
    if (this.hasUsers()) return null;
    const token = randomToken(24);
    const expiresAt = this.clock.now() + SETUP_TTL_MS;
    const hash = await sha256Hex(token);
    this.db.tx(() => {
      metaRepo.set(this.db, "setup_token_hash", hash);
      metaRepo.set(this.db, "setup_token_expires", String(expiresAt));
    });
    return { token, expiresAt };
  }

  /** Whether `token` is the current, unexpired setup token (constant-time comparison). */
  async checkSetupToken(token: string): Promise<boolean> {
    const stored = metaRepo.get(this.db, "setup_token_hash");
    const expires = Number(metaRepo.get(this.db, "setup_token_expires") ?? 0);
    if (!stored || !token || this.hasUsers() || expires <= this.clock.now()) return false;
    const given = new TextEncoder().encode(await sha256Hex(token));
    return timingSafeEqual(given, new TextEncoder().encode(stored));
  }

  async completeSetup(meta: RequestMeta, token: string, input: unknown): Promise<UserView> {
    if (!(await this.checkSetupToken(token))) {
      throw new AppError(
        "gone",
        "This setup link is invalid, used or expired. Restart the master for a new one, or use `wirebuddy-master admin create`.",
      );
    }
    const data = parseInput(NewUserSchema.omit({ role: true }), input, "admin account");
    const hash = await this.#hash(data.password);
    const now = this.clock.now();
    const id = this.db.tx(() => {
      if (this.hasUsers()) throw new AppError("gone", "Setup is already complete");
      metaRepo.delete(this.db, "setup_token_hash");
      metaRepo.delete(this.db, "setup_token_expires");
      const id = usersRepo.insert(this.db, {
        username: data.username,
        role: "admin",
        password_hash: hash,
        created_at: now,
        password_changed_at: now,
      });
      this.audit.record("setup", meta, {
        action: "user.create",
        target: data.username,
        detail: "role=admin (setup link)",
      });
      return id;
    });
    return this.get(id);
  }
}
