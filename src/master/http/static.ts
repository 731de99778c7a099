// Static assets embedded in the program (works with no CDN and inside a `deno compile` binary).
import { Hono } from "hono";
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import css from "../../../ui/static/app.css" with { type: "text" };
import app from "../../../ui/static/app.js" with { type: "text" };
import boot from "../../../ui/static/boot.js" with { type: "text" };
import passkey from "../../../ui/static/passkey.js" with { type: "text" };
import favicon from "../../../ui/static/favicon.svg" with { type: "text" };
import type { AppEnv } from "./env.ts";

const ASSETS: Record<string, { body: string; type: string }> = {
  "htmx.min.js": { body: htmx, type: "text/javascript; charset=utf-8" },
  "app.css": { body: css, type: "text/css; charset=utf-8" },
  "app.js": { body: app, type: "text/javascript; charset=utf-8" },
  "boot.js": { body: boot, type: "text/javascript; charset=utf-8" },
  "passkey.js": { body: passkey, type: "text/javascript; charset=utf-8" },
  "favicon.svg": { body: favicon, type: "image/svg+xml" },
};

export const staticRoutes = new Hono<AppEnv>().get("/:file", (c) => {
  const asset = ASSETS[c.req.param("file")];
  if (!asset) return c.notFound();
  c.header("Content-Type", asset.type);
  c.header("Cache-Control", "public, max-age=3600");
  return c.body(asset.body);
});
