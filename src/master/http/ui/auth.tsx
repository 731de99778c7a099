// First-start setup, login and logout, and the root address (to the dashboard, the login or the setup).
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { LoginPage, SetupPage } from "../../../../ui/views/auth.tsx";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { SESSION_COOKIE } from "../middleware.ts";
import { cookieBase, formBody, html, redirectWith, takeFlash, withForm } from "../ui_kit.tsx";

function safeNext(next: string | undefined): string {
  return next && /^\/[A-Za-z0-9/_?=&.-]*$/.test(next) && !next.startsWith("//") ? next : "/ui/dashboard";
}

export function authRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get(
    "/",
    (c) => c.redirect(c.get("actor") ? "/ui/dashboard" : s.accounts.hasUsers() ? "/login" : "/setup", 303),
  );

  ui.get("/setup", async (c) => {
    const token = c.req.query("token") ?? "";
    const valid = await s.accounts.checkSetupToken(token);
    return html(
      c,
      <SetupPage token={token} valid={valid} form={{ values: {}, errors: {} }} />,
      valid ? 200 : 410,
    );
  });
  ui.post("/setup", async (c) => {
    const body = await formBody(c);
    const token = body.token ?? "";
    return await withForm(c, body, async () => {
      const user = await s.accounts.completeSetup(c.get("meta"), token, {
        username: body.username,
        password: body.password,
      });
      return redirectWith(c, "/login", {
        kind: "ok",
        text: `Admin "${user.username}" created. Log in to continue.`,
      });
    }, (form) => <SetupPage token={token} valid form={form} />);
  });

  ui.get("/login", (c) => {
    if (c.get("actor")) return c.redirect("/ui/dashboard", 303);
    return html(
      c,
      <LoginPage
        form={{ values: {}, errors: {} }}
        next={safeNext(c.req.query("next"))}
        flash={takeFlash(c)}
      />,
    );
  });
  ui.post("/login", async (c) => {
    const body = await formBody(c);
    const next = safeNext(body.next);
    return await withForm(c, body, async () => {
      const session = await s.accounts.login(c.get("meta"), {
        username: body.username,
        password: body.password,
      });
      setCookie(c, SESSION_COOKIE, session.token, { ...cookieBase, expires: new Date(session.expiresAt) });
      return c.redirect(next, 303);
    }, (form) => <LoginPage form={form} next={next} />);
  });

  ui.post("/logout", (c) => {
    const actor = c.get("actor");
    if (actor) s.accounts.logout(actor, c.get("meta"));
    deleteCookie(c, SESSION_COOKIE, cookieBase);
    return redirectWith(c, "/login", { kind: "ok", text: "You have been logged out." });
  });

  return ui;
}
