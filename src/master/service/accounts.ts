// Users (create, role, scope, passwords, delete) and the one-time setup link for the first admin. Signing
// in is login.ts; second factors second_factor.ts.
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import {
  DEFAULT_COST,
  hashPassword,
  type HashPool,
  type ScryptCost,
  verifyPassword,
} from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { loginFailuresRepo, sessionsRepo, type UserRow, usersRepo } from "../db/users_repo.ts";
import { userKey } from "./login_throttle.ts";
import type { AuditService } from "./audit.ts";
import { type Actor, canWrite, type RequestMeta, type Role } from "./context.ts";
import { parseInput } from "./validate.ts";
import { type AdminScope, fleetOf, formatScope, parseScope } from "./scope.ts";

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
}).strict();
/** An admin scope: node and pool ids (null: the whole fleet). */
export const ScopeSchema = z.object({
  nodes: z.array(z.number().int().positive()).max(1000).default([]),
  interfaces: z.array(z.number().int().positive()).max(1000).default([]),
}).nullable();

export const ChangePasswordSchema = z.object({
  current_password: z.string().min(1, "is required").max(1024),
  new_password: PasswordSchema,
});

export type UserView = {
  id: number;
  username: string;
  role: Role;
  /** The nodes and pools an admin is limited to; null: the whole fleet. */
  scope: AdminScope | null;
  sso: boolean;
  createdAt: number;
  passwordChangedAt: number;
};

export const SETUP_TTL_MS = 24 * 3_600_000;

export function toView(u: UserRow): UserView {
  return {
    id: u.id,
    username: u.username,
    role: u.role,
    scope: parseScope(u.scope),
    sso: u.oidc_subject !== null,
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
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly hashes: HashPool,
    private readonly opts: { cost?: ScryptCost },
  ) {}

  /** Hashes a new password through the bounded pool (503 when it is saturated). */
  #hash(password: string): Promise<string> {
    return this.hashes.run(() => hashPassword(password, this.#cost));
  }

  #verify(password: string, stored: string): Promise<boolean> {
    return this.hashes.run(() => verifyPassword(password, stored));
  }

  get #cost(): ScryptCost {
    return this.opts.cost ?? DEFAULT_COST;
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

  /** Limits an admin to some nodes and pools (null: the whole fleet again). Only unscoped admins may. */
  setScope(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): UserView {
    requireAdmin(actor);
    if (fleetOf(actor)) throw new AppError("forbidden", "A scoped admin cannot change scopes");
    const scope = parseInput(ScopeSchema, input, "scope");
    this.db.tx(() => {
      const u = usersRepo.byId(this.db, id);
      if (!u) throw new AppError("not_found", `User ${id} not found`);
      if (scope) {
        for (const kind of ["nodes", "interfaces"] as const) {
          const found = usersRepo.existing(this.db, kind, scope[kind]);
          const missing = scope[kind].filter((x) => !found.includes(x));
          if (missing.length > 0) {
            throw new AppError("validation", `No such ${kind}: ${missing.join(", ")}`, {
              fields: [{ field: kind, message: `has unknown ids ${missing.join(", ")}` }],
            });
          }
        }
        if (!usersRepo.list(this.db).some((o) => o.id !== id && o.role === "admin" && !o.scope)) {
          throw new AppError("conflict", `Cannot scope "${u.username}": no unscoped admin would remain`);
        }
      }
      const text = scope ? JSON.stringify(scope) : "";
      if (text === u.scope) return;
      usersRepo.setScope(this.db, id, text);
      this.audit.record(actor, meta, {
        action: "user.scope",
        target: u.username,
        detail: formatScope(scope),
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
      loginFailuresRepo.clear(this.db, userKey(u.username));
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
