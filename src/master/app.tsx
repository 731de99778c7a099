// The master's HTTP application: mounts /api, /static and the UI, with one error handler.
import { Hono } from "hono";
import { toAppError } from "../core/errors.ts";
import { ErrorPage } from "../../ui/views/layout.tsx";
import { apiRoutes } from "./http/api_routes.ts";
import type { AppEnv } from "./http/env.ts";
import {
  bodyLimits,
  clientAddress,
  csrfOrigin,
  type HttpOptions,
  securityHeaders,
  sessionAuth,
} from "./http/middleware.ts";
import { staticRoutes } from "./http/static.ts";
import { metricsRoutes } from "./http/metrics_routes.ts";
import { currentUser } from "./http/ui_kit.tsx";
import { uiRoutes } from "./http/ui_routes.tsx";
import type { Services } from "./service/services.ts";

export function createApp(services: Services, options: HttpOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", clientAddress(options));
  app.use("*", securityHeaders(options));
  app.use("*", bodyLimits(options.bodies));

  app.route("/api", apiRoutes(services));
  app.route("/", metricsRoutes(services));
  app.route("/static", staticRoutes);

  app.use("*", csrfOrigin(options));
  app.use("*", sessionAuth(services));
  app.route("/", uiRoutes(services, options.settings ?? []));

  app.notFound((c) => {
    if (c.req.path.startsWith("/api/")) {
      return c.json({ error: { code: "not_found", message: "Not found" } }, 404);
    }
    return c.html(
      <ErrorPage
        title="Not found"
        user={currentUser(c)}
        status={404}
        message="There is no page at this address."
      />,
      404,
    );
  });

  app.onError((err, c) => {
    const e = toAppError(err);
    if (e.status >= 500) {
      services.log.error("request failed", { method: c.req.method, path: c.req.path, err: e.message });
    }
    if (e.retryAfter) c.header("Retry-After", String(e.retryAfter));
    if (c.req.path.startsWith("/api/")) {
      return c.json({ error: { code: e.code, message: e.publicMessage, fields: e.fields } }, e.status as 400);
    }
    return c.html(
      <ErrorPage
        title={`Error ${e.status}`}
        user={c.get("actor") ? currentUser(c) : null}
        status={e.status}
        message={e.publicMessage}
      />,
      e.status as 400,
    );
  });
  return app;
}
