// Webhooks: the list, adding one, enable/disable, "Send test", delete, and the delivery log (which
// polls itself). Admins only change them; viewers see the list and the log.
import { Hono } from "hono";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { DeliveryLog, type WebhooksModel, WebhooksPage } from "../../../../ui/views/webhooks.tsx";
import { canWrite } from "../../service/context.ts";
import { EVENT_TYPES } from "../../service/events.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  currentUser,
  emptyForm,
  formBody,
  html,
  redirectWith,
  takeFlash,
  withForm,
} from "../ui_kit.tsx";

const TYPES = EVENT_TYPES.filter((t) => t !== "webhook.test");

export function webhooksRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const model = (c: C): WebhooksModel => ({
    webhooks: s.webhooks.list(),
    deliveries: s.webhooks.deliveries(null, 50),
    eventTypes: TYPES,
    canEdit: canWrite(actorOf(c)),
  });
  const page = (c: C, form: FormState, flash: Flash | null = null) => (
    <WebhooksPage title="Webhooks" user={currentUser(c)} flash={flash} m={model(c)} form={form} />
  );

  ui.get("/ui/webhooks", (c) => {
    if (c.req.header("hx-request") && c.req.header("hx-target") === "delivery-log") {
      return html(c, <DeliveryLog deliveries={s.webhooks.deliveries(null, 50)} />);
    }
    return html(c, page(c, emptyForm(), takeFlash(c)));
  });

  ui.post("/ui/webhooks", async (c) => {
    const body = await formBody(c);
    const all = await c.req.parseBody({ all: true });
    const checked = ([] as unknown[]).concat(all.events ?? []).map(String);
    return await withForm(c, { ...body, events: checked.join(",") }, async () => {
      const w = await s.webhooks.create(actorOf(c), c.get("meta"), {
        name: body.name ?? "",
        url: body.url ?? "",
        secret: body.secret ? body.secret : null,
        events: checked.length === 0 ? "*" : checked,
      });
      return redirectWith(c, "/ui/webhooks", { kind: "ok", text: `Webhook ${w.name} added.` });
    }, (form) => page(c, form));
  });

  const toggle = (enabled: boolean) => async (c: C) => {
    const w = await s.webhooks.update(actorOf(c), c.get("meta"), idParam(c), { enabled });
    return redirectWith(c, "/ui/webhooks", {
      kind: "ok",
      text: `Webhook ${w.name} ${enabled ? "enabled" : "disabled"}.`,
    });
  };
  ui.post("/ui/webhooks/:id/enable", toggle(true));
  ui.post("/ui/webhooks/:id/disable", toggle(false));

  ui.post("/ui/webhooks/:id/test", async (c) => {
    const d = await s.webhooks.sendTest(actorOf(c), c.get("meta"), idParam(c));
    return redirectWith(
      c,
      "/ui/webhooks",
      d.state === "delivered"
        ? { kind: "ok", text: `Test delivered to ${d.webhookName} (HTTP ${d.lastStatus}).` }
        : {
          kind: "error",
          text: `Test to ${d.webhookName} failed: ${d.lastError ?? `HTTP ${d.lastStatus}`}; it is retried.`,
        },
    );
  });

  ui.post("/ui/webhooks/:id/delete", (c) => {
    const w = s.webhooks.get(idParam(c));
    s.webhooks.delete(actorOf(c), c.get("meta"), w.id);
    return redirectWith(c, "/ui/webhooks", { kind: "ok", text: `Webhook ${w.name} deleted.` });
  });
  return ui;
}
