// The audit log, filtered by action, actor and a search.
import { Hono } from "hono";
import { AuditPage } from "../../../../ui/views/audit.tsx";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { currentUser, html } from "../ui_kit.tsx";
import { actorOf } from "../middleware.ts";

export function auditRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get("/ui/audit", (c) => {
    const filter = {
      action: (c.req.query("action") ?? "").slice(0, 64),
      actor: (c.req.query("actor") ?? "").slice(0, 128),
      q: (c.req.query("q") ?? "").slice(0, 128),
    };
    const entries = s.audit.listFor(actorOf(c), { ...filter, limit: 200 });
    return html(
      c,
      <AuditPage
        title="Audit"
        user={currentUser(c)}
        entries={entries}
        actions={s.audit.actions()}
        filter={filter}
      />,
    );
  });
  return ui;
}
