// What every screen of the browser UI shares: the session's user, full-page responses that are never
// cached, flash messages through a short-lived cookie, form bodies and their coercion into service
// input, the 422 re-render of a form, the answers to htmx (dialog or page), what the screens know of the
// master and its nodes, the one confirmation for destructive actions, and a session that ends mid-form.
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { JSX } from "hono/jsx/jsx-runtime";
import { AppError, toAppError } from "../../core/errors.ts";
import type { FormState } from "../../../ui/views/auth.tsx";
import { ConfirmDialog, type ConfirmModel, ConfirmPage } from "../../../ui/views/confirm.tsx";
import type { CurrentUser, Flash } from "../../../ui/views/layout.tsx";
import type { LocalHelpModel, NodeBrief } from "../../../ui/views/node_status.tsx";
import type { SettingRow } from "../../../ui/views/settings.tsx";
import { canWrite } from "../service/context.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { actorOf, FLASH_COOKIE } from "./middleware.ts";

export type C = Context<AppEnv>;

export const cookieBase = { path: "/", secure: true, httpOnly: true, sameSite: "Lax" as const };

export const emptyForm = (): FormState => ({ values: {}, errors: {} });

export function currentUser(c: C): CurrentUser | null {
  const a = c.get("actor");
  return a && a.kind === "user" ? { username: a.username, role: a.role } : null;
}

export function html(c: C, page: JSX.Element, status = 200) {
  c.header("Cache-Control", "no-store");
  return c.html(page, status as 200);
}

/** Refuses viewers (403) before a form or an action that changes `what`. */
export function requireWriter(c: C, what: string): void {
  if (!canWrite(actorOf(c))) throw new AppError("forbidden", `Viewers cannot change ${what}`);
}

// --- flash messages -------------------------------------------------------------------------------

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

// --- htmx -----------------------------------------------------------------------------------------

/** The element an htmx request will swap ("" for a plain browser request). */
export const hxTarget = (c: C) => (c.req.header("hx-request") ? c.req.header("hx-target") ?? "" : "");

/**
 * After a successful mutation: a redirect with a flash, or, for a form posted from the dialog, an
 * HX-Location that makes htmx load the page (the dialog goes with the old page).
 */
export function done(c: C, to: string, flash: Flash): Response {
  if (hxTarget(c) === "modal") {
    setFlash(c, flash);
    c.header("HX-Location", JSON.stringify({ path: to, target: "body" }));
    return c.body(null, 200);
  }
  return redirectWith(c, to, flash);
}

// --- forms ----------------------------------------------------------------------------------------

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

/** Form fields where a name may repeat (checkboxes: ids=1&ids=2), as text or lists of text. */
export async function formLists(c: C): Promise<Record<string, string | string[]>> {
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("application/x-www-form-urlencoded") && !type.includes("multipart/form-data")) {
    throw new AppError("bad_request", "Send the form as application/x-www-form-urlencoded");
  }
  const body = await c.req.parseBody({ all: true });
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(body)) {
    const list = Array.isArray(v) ? v : [v];
    if (list.some((x) => typeof x !== "string")) throw new AppError("bad_request", `Field ${k} must be text`);
    if (list.length > 1000) throw new AppError("bad_request", `Field ${k} is repeated too often`);
    out[k] = list.length === 1 ? list[0] as string : list as string[];
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

// Forms post strings; these map them onto the services' JSON types. A value that is not what the field
// takes stays a string, so the service's schema names the field.

export const text = (v: string | undefined) => (v ?? "").trim();

/** "" → undefined; an integer → number; anything else stays a string. */
export function num(v: string | undefined): number | string | undefined {
  const t = text(v);
  if (t === "") return undefined;
  return /^-?\d{1,15}$/.test(t) ? Number(t) : t;
}

/** A checkbox: absent or "" → false, "on"/"true" → true; anything else is left for the schema to refuse. */
export function checkbox(v: string | undefined): boolean | string {
  if (v === undefined || v === "") return false;
  return v === "on" || v === "true" ? true : v;
}

/** The object without its undefined fields (a field left out keeps its current value or default). */
export const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function agoText(ms: number): string {
  if (ms < 60_000) return "just now";
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return `${Math.floor(ms / 86_400_000)} days ago`;
}

// --- what the screens know about the master and its nodes ----------------------------------------

/** What the UI knows of the master's own configuration (from the Settings rows; never a secret). */
export type UiOptions = {
  settings: SettingRow[];
  /** How a node on the master's own host reaches it: the listen port on loopback. */
  loopbackUrl: string;
  /** The public URL nodes and browsers use (null when unknown, e.g. in unit tests). */
  publicUrl: URL | null;
};

export function uiOptions(settings: SettingRow[]): UiOptions {
  const value = (env: string) => settings.find((r) => r.env === env)?.value;
  const port = value("WIREBUDDY_LISTEN")?.match(/:(\d{1,5})$/)?.[1] ?? "8443";
  const scheme = value("WIREBUDDY_TLS") === "off" ? "http" : "https";
  let publicUrl: URL | null = null;
  try {
    const v = value("WIREBUDDY_PUBLIC_URL");
    if (v) publicUrl = new URL(v);
  } catch {
    publicUrl = null;
  }
  return { settings, loopbackUrl: `${scheme}://127.0.0.1:${port}`, publicUrl };
}

/** Whether a host name or address only reaches this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "0:0:0:0:0:0:0:1";
}

/** Every node, as the status notices and Node dropdowns show it. */
export function nodeBriefs(s: Services): NodeBrief[] {
  return s.nodes.list().map((n) => ({
    id: n.id,
    name: n.name,
    isLocal: n.isLocal,
    status: n.status,
    lastSeenAt: n.lastSeenAt,
    enrolled: n.enrolled,
    peerCount: n.peerCount,
    hostname: n.hostname,
  }));
}

export const localHelp = (c: C, o: UiOptions): LocalHelpModel => ({
  loopbackUrl: o.loopbackUrl,
  canEdit: canWrite(actorOf(c)),
});

// --- confirmations -------------------------------------------------------------------------------

/** A destructive action's confirmation: in the dialog for htmx, a page of its own otherwise. */
export function confirmation(c: C, m: ConfirmModel): Response | Promise<Response> {
  return html(
    c,
    hxTarget(c) === "modal"
      ? <ConfirmDialog m={m} />
      : <ConfirmPage title={m.title} user={currentUser(c)} m={m} />,
  );
}

// --- a session that ends mid-form ------------------------------------------------------------------

const DRAFT_COOKIE = "__Host-wb_draft";

/** The page that shows the form a POST came from (where the user lands after logging in again). */
const FORM_PAGES: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^\/ui\/peers$/, () => "/ui/peers/new"],
  [/^\/ui\/peers\/(\d+)$/, (m) => `/ui/peers/${m[1]}/edit`],
  [/^\/ui\/interfaces$/, () => "/ui/interfaces"],
  [/^\/ui\/interfaces\/(\d+)$/, (m) => `/ui/interfaces/${m[1]}/edit`],
  [/^\/ui\/nodes$/, () => "/ui/nodes"],
  [/^\/ui\/nodes\/(\d+)$/, (m) => `/ui/nodes/${m[1]}/edit`],
  [/^\/ui\/users$/, () => "/ui/users"],
  [/^\/ui\/tokens$/, () => "/ui/tokens"],
];

export function formPageOf(path: string): string | null {
  for (const [re, page] of FORM_PAGES) {
    const m = path.match(re);
    if (m) return page(m);
  }
  return null;
}

/**
 * The path (with its query) of a URL in a header such as Referer or HX-Current-URL, when it names this
 * host. Callers still check the path (backTo, safeNext): a header is the browser's word, not ours.
 */
export function localPath(c: C, header: string): string | null {
  const v = c.req.header(header);
  if (!v) return null;
  try {
    const u = new URL(v);
    return u.host === (c.req.header("host") ?? new URL(c.req.url).host) ? u.pathname + u.search : null;
  } catch {
    return null;
  }
}

/**
 * /ui/* without a session. A page is sent to the login with its whole address (query included) as next.
 * A form posted after the session ended is kept (never a password or token field) for 10 minutes in a
 * cookie, and the login leads back to that form, filled in, with a message why.
 */
export function sessionGate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.get("actor")) return await next();
    const url = new URL(c.req.url);
    const htmx = Boolean(c.req.header("hx-request"));
    let page = url.pathname + url.search;
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const form = formPageOf(url.pathname);
      page = form ?? localPath(c, "hx-current-url") ?? localPath(c, "referer") ?? "/ui/dashboard";
      let kept = false;
      if (form) {
        try {
          const values = Object.fromEntries(
            Object.entries(await formBody(c)).filter(([k]) => !/password|token|secret|code/.test(k)),
          );
          const text = encodeURIComponent(JSON.stringify({ page: form, values }));
          if (text.length < 3500) {
            setCookie(c, DRAFT_COOKIE, text, { ...cookieBase, maxAge: 600 });
            kept = true;
          }
        } catch {
          // not a form we can keep: the message says so
        }
      }
      setFlash(c, {
        kind: "error",
        text: kept
          ? "Your session ended, so that was not saved. Log in again: you will be back on the form with what you typed."
          : "Your session ended, so that was not saved. Log in again and repeat it.",
      });
    } else if (htmx) {
      page = localPath(c, "hx-current-url") ?? page;
    }
    const to = `/login?next=${encodeURIComponent(page)}`;
    if (htmx) {
      c.header("HX-Redirect", to);
      return c.body(null, 401);
    }
    return c.redirect(to, 303);
  };
}

/** The values of a form kept when the session ended, for this page only (then forgotten). */
export function takeDraft(c: C, page: string): Record<string, string> | null {
  const raw = getCookie(c, DRAFT_COOKIE);
  if (!raw) return null;
  try {
    const d = JSON.parse(decodeURIComponent(raw));
    if (d.page !== page || typeof d.values !== "object" || d.values === null) return null;
    deleteCookie(c, DRAFT_COOKIE, cookieBase);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.values)) if (typeof v === "string") out[k] = v;
    return out;
  } catch {
    deleteCookie(c, DRAFT_COOKIE, cookieBase);
    return null;
  }
}

export const DRAFT_MESSAGE =
  "This is what you typed before your session ended; it was not saved yet. Check it and submit it again.";

/** A form's starting state: the kept draft for this page (with the message), else `fallback`. */
export function formOrDraft(c: C, page: string, fallback: FormState): FormState {
  const draft = takeDraft(c, page);
  return draft ? { values: { ...fallback.values, ...draft }, errors: {}, message: DRAFT_MESSAGE } : fallback;
}
