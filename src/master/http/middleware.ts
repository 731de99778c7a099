// Request plumbing: client address, body limits, security headers, CSRF origin checks, sessions and API
// tokens.
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { AppError } from "../../core/errors.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { checkScope } from "./scope_guard.ts";

export const SESSION_COOKIE = "__Host-wb_session";
export const FLASH_COOKIE = "__Host-wb_flash";
/** A sign-in whose password was right, waiting for the second factor (5 minutes). */
export const PENDING_COOKIE = "__Host-wb_pending";
/** The state of this browser's single sign-on flow (10 minutes). */
export const SSO_COOKIE = "__Host-wb_sso";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Request body limits per part of the app, enforced while the body streams in. */
export type BodyLimits = { formBytes: number; apiBytes: number; syncBytes: number; timeoutMs: number };
export const DEFAULT_BODY_LIMITS: BodyLimits = {
  formBytes: 64 * 1024,
  apiBytes: 256 * 1024,
  syncBytes: 512 * 1024,
  timeoutMs: 30_000,
};

export type HttpOptions = {
  publicUrl: URL;
  trustProxy: boolean;
  /** Origins besides the public URL's that browsers may post from (the listen addresses). */
  origins?: string[];
  bodies?: BodyLimits;
  /** The effective configuration for the Settings page (never a secret). */
  settings?: { label: string; value: string; env: string }[];
};

/** The client's address: the socket peer, or X-Forwarded-For's last hop behind a trusted proxy on loopback. */
export function clientAddress(options: HttpOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let ip = c.env?.remoteAddr ?? "unknown";
    const forwarded = c.req.header("x-forwarded-for");
    if (options.trustProxy && forwarded && (ip === "::1" || ip.startsWith("127."))) {
      ip = forwarded.split(",").map((s) => s.trim()).filter(Boolean).pop() ?? ip;
    }
    c.set("meta", { ip, userAgent: c.req.header("user-agent") ?? "" });
    c.set("actor", null);
    await next();
  };
}

const kib = (n: number) => `${Math.round(n / 1024)} KiB`;

/**
 * Every request body is read here, before any route parses it: a declared length over the limit is
 * refused at once, a streamed one as soon as it crosses the limit, and a body that does not arrive within
 * the timeout is refused too. Routes then read the buffered copy.
 */
export function bodyLimits(limits: BodyLimits = DEFAULT_BODY_LIMITS): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return await next();
    const path = c.req.path;
    const max = path.startsWith("/api/sync/")
      ? limits.syncBytes
      : path.startsWith("/api/")
      ? limits.apiBytes
      : limits.formBytes;
    const tooLarge = () =>
      new AppError("payload_too_large", `The request body is larger than ${kib(max)}`, {
        publicMessage: `The request is too large (at most ${kib(max)}).`,
      });
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > max) {
      await body.cancel().catch(() => {});
      throw tooLarge();
    }
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AppError("bad_request", `The request body did not arrive within ${limits.timeoutMs} ms`),
          ),
        limits.timeoutMs,
      );
    });
    try {
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), late]);
        if (done) break;
        size += value.length;
        if (size > max) throw tooLarge();
        chunks.push(value);
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const buffered = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      buffered.set(chunk, offset);
      offset += chunk.length;
    }
    // Not `new Request(c.req.raw, …)`: following the original's signal makes Deno abort it (a DOMException
    // and its stack) after every answer, 5 % of the master's busy time under heartbeats; no route reads it.
    const { url, method, headers } = c.req.raw;
    c.req.raw = new Request(url, { method, headers, body: buffered });
    await next();
  };
}

export function securityHeaders(options: HttpOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    // Nodes are not browsers: their answers stay small (the per-heartbeat byte budget is 1 KB).
    if (c.req.path.startsWith("/api/sync/")) return;
    c.header("Referrer-Policy", "same-origin");
    c.header("X-Frame-Options", "DENY");
    c.header(
      "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    );
    if (options.publicUrl.protocol === "https:") c.header("Strict-Transport-Security", "max-age=31536000");
  };
}

/**
 * CSRF: a state-changing request from a browser must come from our own origin: the public URL's or a
 * listen address's, never one derived from the request's Host header (a DNS-rebinding page controls that).
 * Browsers always send Origin on cross-site POSTs; without Origin we accept only Sec-Fetch-Site
 * same-origin.
 */
export function csrfOrigin(options: HttpOptions): MiddlewareHandler<AppEnv> {
  const own = new Set([options.publicUrl.origin, ...(options.origins ?? [])]);
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method)) {
      const origin = c.req.header("origin");
      const fetchSite = c.req.header("sec-fetch-site");
      const ok = origin ? own.has(origin) : fetchSite === "same-origin";
      if (!ok) {
        throw new AppError(
          "forbidden",
          `Cross-site request refused (origin ${origin ?? "missing"}; allowed: ${[...own].join(", ")})`,
          {
            publicMessage:
              `This request did not come from this site, so it was refused (CSRF protection). Open the UI at ${options.publicUrl.origin} (or set WIREBUDDY_PUBLIC_URL to the address you use), reload the page and try again.`,
          },
        );
      }
    }
    await next();
  };
}

/** Loads the session's user into `actor` (or leaves it null); a scoped admin stays in scope. */
export function sessionAuth(services: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) c.set("actor", await services.login.resolveSession(token));
    if (c.req.path.startsWith("/ui/")) {
      const refused = await checkScope(c, services);
      if (refused) return refused;
    }
    return await next();
  };
}

/** /ui/* needs a session: browsers are sent to the login page. */
export function requireSession(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.get("actor")) {
      const to = `/login?next=${encodeURIComponent(new URL(c.req.url).pathname)}`;
      if (c.req.header("hx-request")) {
        c.header("HX-Redirect", to);
        return c.body(null, 401);
      }
      return c.redirect(to, 303);
    }
    const actor = c.get("actor");
    const path = new URL(c.req.url).pathname;
    if (actor?.kind === "user" && actor.mustEnrol && !path.startsWith("/ui/account")) {
      // The "every admin needs a second factor" policy: nothing else until one is set up.
      if (c.req.header("hx-request")) {
        c.header("HX-Redirect", "/ui/account");
        return c.body(null, 403);
      }
      return c.redirect("/ui/account", 303);
    }
    return await next();
  };
}

/** /api/* (but health and ready) needs `Authorization: Bearer wbt_...`; read tokens may only GET. */
export function tokenAuth(services: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const m = header.match(/^Bearer\s+(\S+)$/i);
    if (!m) {
      c.header("WWW-Authenticate", 'Bearer realm="wirebuddy"');
      throw new AppError("unauthorized", "An API token is required: send Authorization: Bearer <token>");
    }
    const actor = await services.tokens.authenticate(m[1]!);
    if (!SAFE_METHODS.has(c.req.method) && actor.scope !== "write") {
      throw new AppError("forbidden", "This API token may only read (scope=read)");
    }
    c.set("actor", actor);
    const refused = await checkScope(c, services);
    if (refused) return refused;
    return await next();
  };
}

/** The actor of an authenticated route (set by sessionAuth/requireSession or tokenAuth). */
export function actorOf(c: Context<AppEnv>) {
  const actor = c.get("actor");
  if (!actor) throw new AppError("unauthorized", "Not logged in");
  return actor;
}

/** Parses a route's numeric id parameter. */
export function idParam(c: Context<AppEnv>, name = "id"): number {
  const raw = c.req.param(name) ?? "";
  if (!/^\d{1,15}$/.test(raw)) {
    throw new AppError("not_found", `No such ${name}: "${raw.slice(0, 40)}"`, {
      publicMessage: "There is nothing at this address: the link is wrong or what it named was deleted.",
    });
  }
  return Number(raw);
}
