// JSON API for fleet health: run a node's tunnel check now, read its health and report, and the recent
// fleet events.
import { Hono } from "hono";
import { AppError } from "../../core/errors.ts";
import type { CheckResult, HealthView } from "../service/health.ts";
import type { ReportView } from "../service/fleet_watch.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { iso } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";
import { requireAdmin } from "../service/accounts.ts";

export const checkJson = (r: CheckResult) => ({
  ok: r.ok,
  latency_ms: r.latencyMs,
  error: r.error,
  status: r.status,
  failures: r.failures,
  checked_at: iso(r.at),
  next_check_at: iso(r.nextCheckAt),
});

const healthJson = (h: HealthView, r: ReportView | null) => ({
  failures: h.failures,
  next_check_at: iso(h.nextCheckAt),
  last_check_at: iso(h.lastCheckAt),
  last_ok_at: iso(h.lastOkAt),
  last_latency_ms: h.lastLatencyMs,
  last_check_error: h.lastError,
  checks: h.checks.map((c) => ({
    at: iso(c.at),
    ok: c.ok,
    latency_ms: c.latencyMs,
    error: c.error,
    manual: c.manual,
  })),
  report: r && {
    at: iso(r.at),
    apply_ok: r.applyOk,
    apply_error: r.applyError,
    apply_version: r.applyVersion,
    apply_ms: r.applyMs,
    warnings: r.warnings,
    queue_depth: r.queueDepth,
    sync_latency_ms: r.syncLatencyMs,
  },
});

export function healthApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.post("/nodes/:id/check", async (c) => {
    requireAdmin(actorOf(c));
    return c.json(checkJson(await s.health.checkNow(idParam(c))));
  });
  api.get("/nodes/:id/health", (c) => {
    const id = idParam(c);
    s.nodes.get(id); // 404 for an unknown node
    return c.json(healthJson(s.health.view(id, 20), s.watch.report(id)));
  });
  api.get("/events", (c) => {
    // As /api/audit: an integer 1-500 or a 422 (a fraction reached SQLite's LIMIT and was a 500).
    const limit = Number(c.req.query("limit") ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new AppError("validation", "limit must be 1-500", {
        fields: [{ field: "limit", message: "must be 1-500" }],
      });
    }
    return c.json({ events: s.events.recent(limit).map((e) => JSON.parse(e.payload)) });
  });
  return api;
}
