// JSON API for webhooks (admin): list, create, read, edit, delete, send a test, and the delivery log.
import { Hono } from "hono";
import type { DeliveryView, WebhookView } from "../service/webhooks.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { iso, jsonBody } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";

export const webhookJson = (w: WebhookView) => ({
  id: w.id,
  name: w.name,
  url: w.url,
  has_secret: w.hasSecret,
  events: w.events === "*" ? "*" : w.events.split(","),
  enabled: w.enabled,
  created_at: iso(w.createdAt),
});

export const deliveryJson = (d: DeliveryView) => ({
  id: d.id,
  webhook_id: d.webhookId,
  event: d.event,
  event_id: d.eventId,
  event_at: iso(d.eventAt),
  state: d.state,
  attempts: d.attempts,
  next_attempt_at: d.state === "pending" ? iso(d.nextAttemptAt) : null,
  last_attempt_at: iso(d.lastAttemptAt),
  last_status: d.lastStatus,
  last_error: d.lastError,
});

export function webhooksApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.get("/webhooks", (c) => c.json({ webhooks: s.webhooks.list().map(webhookJson) }));
  api.post(
    "/webhooks",
    async (c) =>
      c.json(webhookJson(await s.webhooks.create(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.get("/webhooks/:id", (c) => c.json(webhookJson(s.webhooks.get(idParam(c)))));
  api.patch(
    "/webhooks/:id",
    async (c) =>
      c.json(webhookJson(await s.webhooks.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  api.delete("/webhooks/:id", (c) => {
    s.webhooks.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.json({ deleted: true });
  });
  api.post(
    "/webhooks/:id/test",
    async (c) => c.json(deliveryJson(await s.webhooks.sendTest(actorOf(c), c.get("meta"), idParam(c)))),
  );
  api.get("/webhooks/:id/deliveries", (c) => {
    const id = idParam(c);
    s.webhooks.get(id);
    return c.json({ deliveries: s.webhooks.deliveries(id, 100).map(deliveryJson) });
  });
  return api;
}
