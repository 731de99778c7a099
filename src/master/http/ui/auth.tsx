// First-start setup, login and logout, and the root address (to the dashboard, the login or the setup).
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { LoginPage, SecondFactorPage, SetupPage, type SignInOptions } from "../../../../ui/views/auth.tsx";
import { AppError, toAppError } from "../../../core/errors.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { PENDING_COOKIE, SESSION_COOKIE, SSO_COOKIE } from "../middleware.ts";
import { type C, cookieBase, formBody, html, redirectWith, takeFlash, withForm } from "../ui_kit.tsx";
import type { Session } from "../../service/login.ts";
import { getCookie } from "hono/cookie";

/** Signs the browser in: the session cookie, and on to where it was going. */
export function signedIn(c: C, session: Session, next: string): Response {
  setCookie(c, SESSION_COOKIE, session.token, { ...cookieBase, expires: new Date(session.expiresAt) });
  if (getCookie(c, PENDING_COOKIE)) deleteCookie(c, PENDING_COOKIE, cookieBase);
  return c.redirect(next, 303);
}

/** Where to go after signing in: a path on this site with its whole query, else the dashboard. */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || /[\\\s]/.test(next) || next.length > 1000) {
    return "/ui/dashboard";
  }
  try {
    const u = new URL(next, "https://wirebuddy.invalid");
    return u.origin === "https://wirebuddy.invalid" ? u.pathname + u.search : "/ui/dashboard";
  } catch {
    return "/ui/dashboard";
  }
}

export function authRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const options = (): SignInOptions => ({
    sso: s.oidc?.label ?? null,
    passkeys: !!s.passkeys,
    passwordsLimited: s.login.policy.passwordOnlyFor !== null,
  });

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
        options={options()}
      />,
    );
  });
  ui.post("/login", async (c) => {
    const body = await formBody(c);
    const next = safeNext(body.next);
    return await withForm(c, body, async () => {
      const result = await s.login.login(c.get("meta"), {
        username: body.username,
        password: body.password,
      });
      if (result.kind === "session") return signedIn(c, result.session, next);
      setCookie(c, PENDING_COOKIE, result.pending, { ...cookieBase, expires: new Date(result.expiresAt) });
      return c.redirect(`/login/code?next=${encodeURIComponent(next)}`, 303);
    }, (form) => <LoginPage form={form} next={next} options={options()} />);
  });

  const passkeys = () => {
    if (!s.passkeys) throw new AppError("not_found", "Passkeys are off on this master");
    return s.passkeys;
  };
  const sso = () => {
    if (!s.oidc) throw new AppError("not_found", "Single sign-on is not set up on this master");
    return s.oidc;
  };
  // A link, not a form: CSP's form-action would stop a form's redirect to the provider. The flow is
  // bound to this browser by a cookie holding its state.
  ui.get("/login/sso", async (c) => {
    const { url, state } = await sso().start(safeNext(c.req.query("next")));
    setCookie(c, SSO_COOKIE, state, { ...cookieBase, maxAge: 600 });
    return c.redirect(url.href, 303);
  });
  ui.get("/login/sso/callback", async (c) => {
    try {
      const query = new URL(c.req.url).searchParams;
      const bound = getCookie(c, SSO_COOKIE);
      if (bound) deleteCookie(c, SSO_COOKIE, cookieBase);
      const { session, next } = await sso().callback(c.get("meta"), query, bound ?? "");
      return signedIn(c, session, safeNext(next));
    } catch (err) {
      const e = toAppError(err);
      if (!["unauthorized", "forbidden", "unavailable"].includes(e.code)) throw e;
      return redirectWith(c, "/login", { kind: "error", text: e.publicMessage });
    }
  });
  ui.post("/login/passkey/options", async (c) => c.json(await passkeys().authenticationOptions()));
  ui.post("/login/passkey", async (c) => {
    const body = await formBody(c);
    const next = safeNext(body.next);
    return await withForm(c, body, async () => {
      return signedIn(c, await passkeys().signIn(c.get("meta"), body.response ?? ""), next);
    }, (form) => <LoginPage form={form} next={next} options={options()} />);
  });

  ui.get("/login/code", (c) => {
    const next = safeNext(c.req.query("next"));
    if (!getCookie(c, PENDING_COOKIE)) return c.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
    return html(c, <SecondFactorPage form={{ values: {}, errors: {} }} next={next} />);
  });
  ui.post("/login/code", async (c) => {
    const body = await formBody(c);
    const next = safeNext(body.next);
    try {
      return await withForm(c, body, async () => {
        const session = await s.login.secondFactor(c.get("meta"), getCookie(c, PENDING_COOKIE) ?? "", {
          code: body.code,
        });
        return signedIn(c, session, next);
      }, (form) => <SecondFactorPage form={form} next={next} />);
    } catch (err) {
      const e = toAppError(err);
      if (e.code !== "gone") throw e;
      deleteCookie(c, PENDING_COOKIE, cookieBase);
      return redirectWith(c, `/login?next=${encodeURIComponent(next)}`, {
        kind: "error",
        text: e.publicMessage,
      });
    }
  });

  ui.post("/logout", (c) => {
    const actor = c.get("actor");
    if (actor) s.login.logout(actor, c.get("meta"));
    deleteCookie(c, SESSION_COOKIE, cookieBase);
    return redirectWith(c, "/login", { kind: "ok", text: "You have been logged out." });
  });

  return ui;
}
