// GET /metrics: Prometheus text format for the whole fleet. Auth: the scrape token
// (WIREBUDDY_METRICS_TOKEN) or any API token (read scope is enough), as `Authorization: Bearer ...`.
import { Hono } from "hono";
import { AppError } from "../../core/errors.ts";
import { fleetOf } from "../service/scope.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";

export function metricsRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/metrics", async (c) => {
    const token = (c.req.header("authorization") ?? "").match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!token) {
      c.header("WWW-Authenticate", 'Bearer realm="wirebuddy-metrics"');
      throw new AppError(
        "unauthorized",
        "A scrape token or an API token is required (Authorization: Bearer)",
      );
    }
    if (!s.prom.isScrapeToken(token) && fleetOf(await s.tokens.authenticate(token))) {
      throw new AppError("forbidden", "The fleet's metrics are outside this token owner's scope");
    }
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    c.header("Cache-Control", "no-store");
    return c.body(s.prom.render());
  });
  return app;
}
