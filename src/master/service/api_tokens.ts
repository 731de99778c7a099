// API tokens for the JSON API: shown once, stored as a SHA-256 hash, scoped, expiring, revocable.
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import type { Db } from "../db/db.ts";
import { type ApiTokenWithUser, tokensRepo } from "../db/tokens_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { fleetOf, parseScope } from "./scope.ts";
import { parseInput } from "./validate.ts";

export const TOKEN_PREFIX = "wbt_";

export const NewTokenSchema = z.object({
  // No control characters: SQLite cut the name at a NUL, and the rest can garble a terminal or log.
  name: z.string().trim().min(1, "is required").max(64, "must be at most 64 characters")
    .regex(/^\P{Cc}*$/u, "must not contain control characters"),
  scope: z.enum(["read", "write"], { error: "must be read or write" }),
  // A number, or the form's digits: not z.coerce, which took true as 1 day and null or "" as never.
  expires_in_days: z.union([
    z.number({ error: "must be a number of days" }),
    z.string().trim().regex(/^-?\d+$/, "must be a number of days").transform(Number),
  ], { error: "must be a number of days" }).pipe(
    z.number().int("must be a whole number of days").min(0, "must be 0 (never) or more")
      .max(3650, "must be at most 3650"),
  ).default(90),
}).strict();

export type TokenView = {
  id: number;
  name: string;
  prefix: string;
  scope: "read" | "write";
  owner: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  status: "active" | "expired" | "revoked";
};

export class ApiTokenService {
  constructor(private readonly db: Db, private readonly clock: Clock, private readonly audit: AuditService) {}

  #view(t: ApiTokenWithUser): TokenView {
    const now = this.clock.now();
    return {
      id: t.id,
      name: t.name,
      prefix: t.prefix,
      scope: t.scope,
      owner: t.username,
      createdAt: t.created_at,
      expiresAt: t.expires_at,
      revokedAt: t.revoked_at,
      lastUsedAt: t.last_used_at,
      status: t.revoked_at ? "revoked" : t.expires_at !== null && t.expires_at <= now ? "expired" : "active",
    };
  }

  /** Every token; a scoped admin sees only their own. */
  list(actor: Actor | null = null): TokenView[] {
    const own = actor && fleetOf(actor) && actor.kind !== "system" ? actor.userId : null;
    return tokensRepo.list(this.db).filter((t) => own === null || t.user_id === own).map((t) =>
      this.#view(t)
    );
  }

  /** Creates a token and returns its secret, which is never shown again. */
  async create(
    actor: Actor,
    meta: RequestMeta | null,
    input: unknown,
  ): Promise<{ token: string; view: TokenView }> {
    requireAdmin(actor);
    if (actor.kind === "system") throw new AppError("forbidden", "Tokens belong to a user");
    const data = parseInput(NewTokenSchema, input, "API token");
    const token = randomToken(32, TOKEN_PREFIX);
    const hash = await sha256Hex(token);
    const now = this.clock.now();
    const id = this.db.tx(() => {
      const id = tokensRepo.insert(this.db, {
        name: data.name,
        prefix: token.slice(0, TOKEN_PREFIX.length + 6),
        token_hash: hash,
        scope: data.scope,
        user_id: actor.userId,
        created_at: now,
        expires_at: data.expires_in_days === 0 ? null : now + data.expires_in_days * 86_400_000,
      });
      this.audit.record(actor, meta, {
        action: "token.create",
        target: data.name,
        detail: `scope=${data.scope}`,
      });
      return id;
    });
    return { token, view: this.#view(tokensRepo.byId(this.db, id)!) };
  }

  revoke(actor: Actor, meta: RequestMeta | null, id: number): TokenView {
    requireAdmin(actor);
    return this.db.tx(() => {
      const t = tokensRepo.byId(this.db, id);
      const own = fleetOf(actor) && actor.kind !== "system" ? actor.userId : null;
      if (!t || (own !== null && t.user_id !== own)) {
        throw new AppError("not_found", `API token ${id} not found`);
      }
      if (tokensRepo.revoke(this.db, id, this.clock.now()) > 0) {
        this.audit.record(actor, meta, { action: "token.revoke", target: t.name });
      }
      return this.#view(tokensRepo.byId(this.db, id)!);
    });
  }

  /** The actor behind a bearer token, or an AppError("unauthorized") saying why not. */
  async authenticate(bearer: string): Promise<Extract<Actor, { kind: "token" }>> {
    if (!bearer.startsWith(TOKEN_PREFIX) || bearer.length > 200) {
      throw new AppError("unauthorized", "Invalid API token");
    }
    const t = tokensRepo.byHash(this.db, await sha256Hex(bearer));
    const now = this.clock.now();
    if (!t) throw new AppError("unauthorized", "Invalid API token");
    if (t.revoked_at) throw new AppError("unauthorized", "This API token has been revoked");
    if (t.expires_at !== null && t.expires_at <= now) {
      throw new AppError("unauthorized", "This API token has expired");
    }
    if (!t.last_used_at || now - t.last_used_at > 60_000) tokensRepo.markUsed(this.db, t.id, now);
    return {
      kind: "token",
      tokenId: t.id,
      name: t.name,
      scope: t.scope,
      userId: t.user_id,
      username: t.username,
      role: t.role,
      fleet: parseScope(t.user_scope),
    };
  }
}
