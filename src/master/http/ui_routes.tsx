// The browser UI: full pages rendered with hono/jsx; htmx boosts links and forms. Every mutation is
// a real form POST (works without JavaScript), followed by a redirect with a flash message, or a 422
// re-render of the form with the bad fields named.
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { JSX } from "hono/jsx/jsx-runtime";
import { AppError, toAppError } from "../../core/errors.ts";
import { type FormState, LoginPage, SetupPage } from "../../../ui/views/auth.tsx";
import { AuditPage } from "../../../ui/views/audit.tsx";
import { DashboardPage } from "../../../ui/views/dashboard.tsx";
import type { CurrentUser, Flash } from "../../../ui/views/layout.tsx";
import { TokensPage } from "../../../ui/views/tokens.tsx";
import { type SettingRow, SettingsPage } from "../../../ui/views/settings.tsx";
import { AccountPage, UsersPage } from "../../../ui/views/users.tsx";
import { canWrite } from "../service/context.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { actorOf, FLASH_COOKIE, idParam, requireSession, SESSION_COOKIE } from "./middleware.ts";
import { wireGuardCounts, wireGuardUiRoutes } from "./wg_ui.tsx";
import { dashboardTraffic, nodesUiRoutes } from "./nodes_ui.tsx";

type C = Context<AppEnv>;

const cookieBase = { path: "/", secure: true, httpOnly: true, sameSite: "Lax" as const };

export function currentUser(c: C): CurrentUser | null {
  const a = c.get("actor");
  return a && a.kind === "user" ? { username: a.username, role: a.role } : null;
}

export function html(c: C, page: JSX.Element, status = 200) {
  c.header("Cache-Control", "no-store");
  return c.html(page, status as 200);
}

export function setFlash(c: C, flash: Flash): void {
  setCookie(c, FLASH_COOKIE, encodeURIComponent(JSON.stringify(flash)), { ...cookieBase, maxAge: 60 });
}

export function takeFlash(c: C): Flash | null {
  const raw = getCookie(c, FLASH_COOKIE);
  if (!raw) return null;
  deleteCookie(c, FLASH_COOKIE, cookieBase);
  try {
    const f = JSON.parse(decodeURIComponent(raw));
    if ((f.kind === "ok" || f.kind === "error") && typeof f.text === "string") {
      return { kind: f.kind, text: f.text.slice(0, 300) };
    }
  } catch {
    // ignore a malformed flash cookie
  }
  return null;
}

export function redirectWith(c: C, to: string, flash?: Flash) {
  if (flash) setFlash(c, flash);
  return c.redirect(to, 303);
}

/** Form fields as strings (files and repeated fields are refused), size-limited. */
export async function formBody(c: C): Promise<Record<string, string>> {
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("application/x-www-form-urlencoded") && !type.includes("multipart/form-data")) {
    throw new AppError("bad_request", "Send the form as application/x-www-form-urlencoded");
  }
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v !== "string") throw new AppError("bad_request", `Field ${k} must be text`);
    if (v.length > 10_000) {
      throw new AppError("validation", `${k} is too long`, {
        fields: [{ field: k, message: "is too long" }],
      });
    }
    out[k] = v;
  }
  return out;
}

/** Runs a form action; validation and conflict errors re-render the form with the fields named. */
export async function withForm(
  c: C,
  values: Record<string, string>,
  action: () => Promise<Response>,
  rerender: (form: FormState) => JSX.Element,
): Promise<Response> {
  try {
    return await action();
  } catch (err) {
    const e = toAppError(err);
    if (!["validation", "conflict", "unauthorized", "rate_limited"].includes(e.code)) throw e;
    const errors: Record<string, string> = {};
    for (const f of e.fields) errors[f.field] = f.message;
    const safeValues = Object.fromEntries(Object.entries(values).filter(([k]) => !/password|token/.test(k)));
    if (e.retryAfter) c.header("Retry-After", String(e.retryAfter));
    return html(c, rerender({ values: safeValues, errors, message: e.publicMessage }), e.status);
  }
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function agoText(ms: number): string {
  if (ms < 60_000) return "just now";
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return `${Math.floor(ms / 86_400_000)} days ago`;
}

function safeNext(next: string | undefined): string {
  return next && /^\/[A-Za-z0-9/_?=&.-]*$/.test(next) && !next.startsWith("//") ? next : "/ui/dashboard";
}

export function uiRoutes(s: Services, settings: SettingRow[] = []): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get(
    "/",
    (c) => c.redirect(c.get("actor") ? "/ui/dashboard" : s.accounts.hasUsers() ? "/login" : "/setup", 303),
  );

  // --- setup and login ----------------------------------------------------------------------
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

  // --- everything below needs a session -----------------------------------------------------
  ui.use("/ui/*", requireSession());

  ui.get("/ui/dashboard", (c) => {
    const logins = s.audit.list({ action: "login", limit: 8 });
    return html(
      c,
      <DashboardPage
        title="Dashboard"
        user={currentUser(c)}
        flash={takeFlash(c)}
        stats={{
          users: s.accounts.list().length,
          activeTokens: s.tokens.list().filter((t) => t.status === "active").length,
          recentLogins: logins.map((l) => ({
            actor: l.target,
            at: new Date(l.at).toISOString().slice(0, 16).replace("T", " "),
            ok: l.action === "login.success",
          })),
          wireguard: wireGuardCounts(s),
          traffic: dashboardTraffic(s),
          handshakes: s.traffic.recentHandshakes(s.clock.now() - 86_400_000, 8).map((h) => ({
            id: h.id,
            name: h.name,
            node: h.node_name,
            ago: agoText(s.clock.now() - h.handshake * 1000),
            endpoint: h.endpoint,
          })),
        }}
      />,
    );
  });

  // users
  const usersPage = (c: C, form: FormState, flash: Flash | null = null) => {
    const actor = actorOf(c);
    const selfId = actor.kind === "user" ? actor.userId : -1;
    return (
      <UsersPage
        title="Users"
        user={currentUser(c)}
        flash={flash}
        canEdit={canWrite(actor)}
        form={form}
        users={s.accounts.list().map((u) => ({ ...u, isSelf: u.id === selfId }))}
      />
    );
  };
  ui.get("/ui/users", (c) => html(c, usersPage(c, { values: {}, errors: {} }, takeFlash(c))));
  ui.post("/ui/users", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const u = await s.accounts.create(actorOf(c), c.get("meta"), {
        username: body.username,
        password: body.password,
        role: body.role,
      });
      return redirectWith(c, "/ui/users", { kind: "ok", text: `User "${u.username}" created as ${u.role}.` });
    }, (form) => usersPage(c, form));
  });
  ui.post("/ui/users/:id/role", async (c) => {
    const body = await formBody(c);
    const u = s.accounts.setRole(actorOf(c), c.get("meta"), idParam(c), body.role);
    return redirectWith(c, "/ui/users", { kind: "ok", text: `"${u.username}" is now ${u.role}.` });
  });
  ui.post("/ui/users/:id/delete", (c) => {
    const id = idParam(c);
    const name = s.accounts.get(id).username;
    s.accounts.delete(actorOf(c), c.get("meta"), id);
    return redirectWith(c, "/ui/users", { kind: "ok", text: `User "${name}" deleted.` });
  });

  // own account
  ui.get(
    "/ui/account",
    (c) =>
      html(
        c,
        <AccountPage
          title="Account"
          user={currentUser(c)}
          flash={takeFlash(c)}
          form={{ values: {}, errors: {} }}
        />,
      ),
  );
  ui.post("/ui/account/password", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      await s.accounts.changeOwnPassword(actorOf(c), c.get("meta"), body);
      return redirectWith(c, "/ui/account", {
        kind: "ok",
        text: "Password changed. Your other sessions were logged out.",
      });
    }, (form) => <AccountPage title="Account" user={currentUser(c)} form={form} />);
  });

  // API tokens
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
      tokens={s.tokens.list()}
    />
  );
  ui.get("/ui/tokens", (c) => html(c, tokensPage(c, { values: {}, errors: {} }, null, takeFlash(c))));
  ui.post("/ui/tokens", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const { token, view } = await s.tokens.create(actorOf(c), c.get("meta"), body);
      // Shown once, in this response only (never in a redirect, URL or cookie).
      return html(c, tokensPage(c, { values: {}, errors: {} }, { name: view.name, token }), 201);
    }, (form) => tokensPage(c, form));
  });
  ui.post("/ui/tokens/:id/revoke", (c) => {
    const t = s.tokens.revoke(actorOf(c), c.get("meta"), idParam(c));
    return redirectWith(c, "/ui/tokens", { kind: "ok", text: `Token "${t.name}" revoked.` });
  });

  // audit
  ui.get("/ui/audit", (c) => {
    const filter = {
      action: (c.req.query("action") ?? "").slice(0, 64),
      actor: (c.req.query("actor") ?? "").slice(0, 128),
      q: (c.req.query("q") ?? "").slice(0, 128),
    };
    const entries = s.audit.list({ ...filter, limit: 200 });
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

  // interfaces and peers
  ui.route("/", wireGuardUiRoutes(s));

  // nodes and traffic
  ui.route("/", nodesUiRoutes(s));

  // settings: read-only, from the environment
  ui.get(
    "/ui/settings",
    (c) => html(c, <SettingsPage title="Settings" user={currentUser(c)} rows={settings} />),
  );

  return ui;
}
