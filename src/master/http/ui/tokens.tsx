// API tokens: the list, creating one (shown once, in that response only), revoking.
import { Hono } from "hono";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { TokensPage } from "../../../../ui/views/tokens.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import { AppError } from "../../../core/errors.ts";
import {
  type C,
  confirmation,
  currentUser,
  formBody,
  formOrDraft,
  html,
  redirectWith,
  requireWriter,
  takeFlash,
  withForm,
} from "../ui_kit.tsx";

export function tokensRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const tokensPage = (
    c: C,
    form: FormState,
    created: { name: string; token: string } | null = null,
    flash: Flash | null = null,
  ) => (
    <TokensPage
      title="API tokens"
      user={currentUser(c)}
      flash={flash}
      canEdit={canWrite(actorOf(c))}
      form={form}
      created={created}
      tokens={s.tokens.list(actorOf(c))}
    />
  );
  ui.get(
    "/ui/tokens",
    (c) =>
      html(c, tokensPage(c, formOrDraft(c, "/ui/tokens", { values: {}, errors: {} }), null, takeFlash(c))),
  );
  ui.post("/ui/tokens", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const { name, scope, expires_in_days } = body; // the form's fields (the schema refuses others)
      const { token, view } = await s.tokens.create(actorOf(c), c.get("meta"), {
        name,
        scope,
        expires_in_days,
      });
      // Shown once, in this response only (never in a redirect, URL or cookie).
      return html(c, tokensPage(c, { values: {}, errors: {} }, { name: view.name, token }), 201);
    }, (form) => tokensPage(c, form));
  });
  ui.get("/ui/tokens/:id/revoke", (c) => {
    requireWriter(c, "API tokens");
    const id = idParam(c);
    const t = s.tokens.list(actorOf(c)).find((t) => t.id === id);
    if (!t) throw new AppError("not_found", `Token ${id} not found`);
    return confirmation(c, {
      title: `Revoke token ${t.name}?`,
      warning: `Every program that uses ${t.name} (${t.prefix}…) is refused from now on.`,
      detail: "This cannot be undone: make a new token for them instead.",
      action: `/ui/tokens/${t.id}/revoke`,
      button: `Revoke token ${t.name}`,
      danger: true,
      cancel: "/ui/tokens",
      active: "tokens",
      id: "revoke-token",
    });
  });
  ui.post("/ui/tokens/:id/revoke", (c) => {
    const t = s.tokens.revoke(actorOf(c), c.get("meta"), idParam(c));
    return redirectWith(c, "/ui/tokens", { kind: "ok", text: `Token "${t.name}" revoked.` });
  });
  return ui;
}
