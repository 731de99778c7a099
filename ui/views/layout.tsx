// The page shell: head, navigation, flash message. Every page renders inside it.
import type { Child, FC } from "hono/jsx";
import { raw } from "hono/html";

export type Flash = { kind: "ok" | "error"; text: string };
export type CurrentUser = { username: string; role: "admin" | "viewer" };
export type PageModel = { title: string; user: CurrentUser | null; active?: string; flash?: Flash | null };

export const NAV: readonly { href: string; label: string; key: string }[] = [
  { href: "/ui/dashboard", label: "Dashboard", key: "dashboard" },
  { href: "/ui/peers", label: "Peers", key: "peers" },
  { href: "/ui/interfaces", label: "Interfaces", key: "interfaces" },
  { href: "/ui/pools", label: "Pools", key: "pools" },
  { href: "/ui/nodes", label: "Nodes", key: "nodes" },
  { href: "/ui/dns", label: "DNS", key: "dns" },
  { href: "/ui/webhooks", label: "Webhooks", key: "webhooks" },
  { href: "/ui/users", label: "Users", key: "users" },
  { href: "/ui/tokens", label: "API tokens", key: "tokens" },
  { href: "/ui/audit", label: "Audit", key: "audit" },
  { href: "/ui/backup", label: "Backup", key: "backup" },
  { href: "/ui/settings", label: "Settings", key: "settings" },
];

// htmx: swap every response (a 422 re-renders the form, a 403 shows why) and inject no inline styles (CSP).
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  historyCacheSize: 0,
  responseHandling: [{ code: "204", swap: false }, { code: "...", swap: true }],
});

export const FlashMessage: FC<{ flash?: Flash | null | undefined }> = ({ flash }) =>
  flash
    ? (
      <div class={`flash flash-${flash.kind}`} role={flash.kind === "error" ? "alert" : "status"} id="flash">
        {flash.text}
      </div>
    )
    : <div id="flash" hidden></div>;

/** Light, dark, or auto (the system's); remembered per browser (localStorage) by app.js. */
const ThemePicker: FC = () => (
  <fieldset class="theme-picker">
    <legend>Theme</legend>
    {(["light", "dark", "auto"] as const).map((t) => (
      <label>
        <input type="radio" name="wb-theme" value={t} checked={t === "auto"} />
        {t === "light" ? "Light" : t === "dark" ? "Dark" : "Auto"}
      </label>
    ))}
  </fieldset>
);

export const Layout: FC<PageModel & { children?: Child }> = (props) => (
  <>
    {/* Standards mode: without a doctype browsers lay the page out in quirks mode. */}
    {raw("<!DOCTYPE html>")}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <title>{props.title} · WireBuddy</title>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/app.css" />
        {/* Sets the remembered theme before the first paint (no flash of the wrong theme). */}
        <script src="/static/boot.js"></script>
        <script src="/static/htmx.min.js" defer></script>
        <script src="/static/app.js" defer></script>
      </head>
      <body hx-boost="true">
        <a class="skip" href="#main">Skip to content</a>
        <div class="busy-bar" aria-hidden="true"></div>
        <header class="topbar">
          {props.user && (
            <button type="button" class="menu-button" aria-controls="sidenav" aria-expanded="false">
              <span class="menu-icon" aria-hidden="true"></span>Menu
            </button>
          )}
          <a class="brand" href="/">
            <img src="/static/favicon.svg" alt="" width="22" height="22" />WireBuddy
          </a>
          {props.user && (
            <div class="whoami">
              <a href="/ui/account" class="who">{props.user.username}</a>
              <span class={`badge role-${props.user.role}`}>{props.user.role}</span>
              <form method="post" action="/logout" class="logout">
                <button type="submit" class="link">Log out</button>
              </form>
            </div>
          )}
        </header>
        <div class="shell">
          {props.user && (
            <nav class="sidenav" id="sidenav" aria-label="Main">
              <ul>
                {NAV.map((n) => (
                  <li>
                    <a
                      href={n.href}
                      class={n.key === props.active ? "active" : undefined}
                      aria-current={n.key === props.active ? "page" : undefined}
                    >
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
              <div class="nav-foot">
                <a href="/ui/account" class={props.active === "account" ? "active" : undefined}>
                  Your account ({props.user.username})
                </a>
                <ThemePicker />
              </div>
            </nav>
          )}
          {props.user && <div class="scrim" hidden></div>}
          <main id="main" tabindex={-1}>
            <FlashMessage flash={props.flash} />
            {props.children}
          </main>
        </div>
        {/* Forms, QR codes and confirmations load into this dialog through htmx (pages of their own without). */}
        <dialog id="modal" class="modal" aria-labelledby="modal-title"></dialog>
      </body>
    </html>
  </>
);

/** The heading of the page's dialog (its accessible name) with a Close button. */
export const DialogHead: FC<{ title: string }> = ({ title }) => (
  <header class="dialog-head">
    <h2 id="modal-title">{title}</h2>
    <form method="dialog">
      <button type="submit" class="close">Close</button>
    </form>
  </header>
);

export type FieldProps = {
  name: string;
  label: string;
  type?: string;
  value?: string;
  error?: string | undefined;
  required?: boolean;
  autocomplete?: string;
  hint?: string;
};

/** A labelled input; with an error it is marked invalid and the message names the field. */
export const Field: FC<FieldProps> = (p) => (
  <label class={p.error ? "field invalid" : "field"}>
    <span>{p.label}</span>
    <input
      name={p.name}
      type={p.type ?? "text"}
      value={p.value ?? ""}
      required={p.required}
      autocomplete={p.autocomplete}
      aria-invalid={p.error ? "true" : undefined}
    />
    {p.hint && !p.error && <small class="hint">{p.hint}</small>}
    {p.error && <small class="error" data-field={p.name}>{p.label}: {p.error}</small>}
  </label>
);

export const FormErrors: FC<{ errors: Record<string, string>; message?: string | undefined }> = (
  { errors, message },
) =>
  Object.keys(errors).length > 0 || message
    ? (
      <div class="flash flash-error" role="alert">
        {message ?? "Please fix the fields below."}
      </div>
    )
    : null;

export function formatTime(ms: number | null | undefined): string {
  if (!ms) return "never";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** A full error page for anything that is not a form re-render. */
export const ErrorPage: FC<PageModel & { status: number; message: string }> = (p) => (
  <Layout title={`Error ${p.status}`} user={p.user} flash={null}>
    <section class="card">
      <h1>
        {p.status === 403
          ? "Not allowed"
          : p.status === 404
          ? "Not found"
          : p.status === 429
          ? "Slow down"
          : "Something went wrong"}
      </h1>
      <p class="error-message" role="alert">{p.message}</p>
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </section>
  </Layout>
);
