// The JSON API under /api. Health and ready are public; everything else takes an API token.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../../core/errors.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { iso, jsonBody } from "./json.ts";
import { actorOf, idParam, tokenAuth } from "./middleware.ts";
import { wgApiRoutes } from "./wg_api.ts";
import { nodesApiRoutes } from "./nodes_api.ts";
import { healthApiRoutes } from "./health_api.ts";
import { webhooksApiRoutes } from "./webhooks_api.ts";
import { dnsApiRoutes } from "./dns_api.ts";
import { poolsApiRoutes } from "./pools_api.ts";
import { syncRoutes } from "./sync_routes.ts";
import { openApiDocument } from "./openapi.ts";
import denoJson from "../../../deno.json" with { type: "json" };

const userJson = (
  u: {
    id: number;
    username: string;
    role: string;
    scope: { nodes: number[]; interfaces: number[] } | null;
    sso: boolean;
    createdAt: number;
    passwordChangedAt: number;
  },
) => ({
  id: u.id,
  username: u.username,
  role: u.role,
  scope: u.scope,
  sso: u.sso,
  created_at: new Date(u.createdAt).toISOString(),
  password_changed_at: new Date(u.passwordChangedAt).toISOString(),
});

export function apiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  api.get("/health", (c) => c.json({ status: "healthy", service: "wirebuddy" }));

  api.get("/ready", async (c) => {
    const { database, secretKey } = await s.readiness.check();
    const ready = database === "ok" && secretKey === "ok";
    return c.json(
      { status: ready ? "ready" : "not ready", checks: { database, secret_key: secretKey } },
      ready ? 200 : 503,
    );
  });

  // Nodes authenticate with their own signed credentials, not API tokens.
  api.route("/sync", syncRoutes(s));

  const doc = openApiDocument(denoJson.version);
  api.get("/openapi.json", (c) => c.json(doc));

  api.use(
    "*",
    bodyLimit({
      maxSize: 256 * 1024,
      onError: () => {
        throw new AppError("payload_too_large", "The request body is larger than 256 KiB");
      },
    }),
  );
  api.use("*", tokenAuth(s));

  api.get("/me", (c) => {
    const a = actorOf(c);
    if (a.kind !== "token") throw new AppError("unauthorized", "Not a token");
    return c.json({
      username: a.username,
      role: a.role,
      scope: a.fleet ?? null,
      token: { id: a.tokenId, name: a.name, scope: a.scope },
    });
  });

  const withFactors = (u: Parameters<typeof userJson>[0]) => {
    const f = s.factors.status(u.id);
    return { ...userJson(u), second_factor: { totp: f.totp, passkeys: f.passkeys } };
  };
  api.get("/users", (c) => c.json({ users: s.accounts.list().map(withFactors) }));
  api.get("/users/:id", (c) => c.json(withFactors(s.accounts.get(idParam(c)))));
  api.post(
    "/users",
    async (c) =>
      c.json(withFactors(await s.accounts.create(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.patch("/users/:id", async (c) => {
    const id = idParam(c);
    const body = await jsonBody(c);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new AppError("validation", "Send an object with role and/or password", {
        fields: [{ field: "body", message: "must be an object" }],
      });
    }
    const { role, password, scope, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) {
      throw new AppError("validation", `Unknown field(s): ${unknown.join(", ")}`, {
        fields: unknown.map((f) => ({ field: f, message: "is not a field of a user" })),
      });
    }
    if (role !== undefined) s.accounts.setRole(actorOf(c), c.get("meta"), id, role);
    if (scope !== undefined) s.accounts.setScope(actorOf(c), c.get("meta"), id, scope);
    if (password !== undefined) await s.accounts.resetPassword(actorOf(c), c.get("meta"), id, password);
    return c.json(withFactors(s.accounts.get(id)));
  });
  api.delete("/users/:id/second-factor", (c) => {
    s.factors.resetFor(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });
  api.delete("/users/:id", (c) => {
    s.accounts.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  const tokenJson = (t: ReturnType<typeof s.tokens.list>[number]) => ({
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    scope: t.scope,
    owner: t.owner,
    status: t.status,
    created_at: iso(t.createdAt),
    expires_at: iso(t.expiresAt),
    revoked_at: iso(t.revokedAt),
    last_used_at: iso(t.lastUsedAt),
  });
  api.get("/tokens", (c) => c.json({ tokens: s.tokens.list(actorOf(c)).map(tokenJson) }));
  api.post("/tokens", async (c) => {
    const { token, view } = await s.tokens.create(actorOf(c), c.get("meta"), await jsonBody(c));
    return c.json({ ...tokenJson(view), token }, 201);
  });
  api.delete("/tokens/:id", (c) => c.json(tokenJson(s.tokens.revoke(actorOf(c), c.get("meta"), idParam(c)))));

  api.get("/audit", (c) => {
    const q = c.req.query();
    const limit = Number(q.limit ?? 100);
    const before = Number(q.before ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new AppError("validation", "limit must be 1-500", {
        fields: [{ field: "limit", message: "must be 1-500" }],
      });
    }
    const entries = s.audit.listFor(actorOf(c), {
      action: (q.action ?? "").slice(0, 64),
      actor: (q.actor ?? "").slice(0, 128),
      q: (q.q ?? "").slice(0, 128),
      before: Number.isInteger(before) && before > 0 ? before : 0,
      limit,
    });
    return c.json({ entries: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) });
  });

  api.route("/", wgApiRoutes(s));
  api.route("/", nodesApiRoutes(s));
  api.route("/", healthApiRoutes(s));
  api.route("/", webhooksApiRoutes(s));
  api.route("/", dnsApiRoutes(s));
  api.route("/", poolsApiRoutes(s));

  api.all("*", () => {
    throw new AppError("not_found", "No such API endpoint");
  });
  return api;
}
