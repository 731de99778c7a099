// Small helpers for JSON request bodies and responses.
import type { Context } from "hono";
import { AppError } from "../../core/errors.ts";
import type { AppEnv } from "./env.ts";

/** The request body as JSON; 400 for the wrong content type or malformed JSON. */
export async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  if (!(c.req.header("content-type") ?? "").includes("application/json")) {
    throw new AppError("bad_request", "Send the request body as JSON (Content-Type: application/json)");
  }
  try {
    return await c.req.json();
  } catch {
    throw new AppError("bad_request", "The request body is not valid JSON");
  }
}

/**
 * An optional JSON body: {} when the request has none (no Content-Type, no bytes); otherwise as jsonBody,
 * so a body of another type is refused (400), not ignored.
 */
export async function optionalJsonBody(c: Context<AppEnv>): Promise<unknown> {
  if (c.req.header("content-type") === undefined && (await c.req.text()) === "") return {};
  return await jsonBody(c);
}

export const iso = (
  ms: number | null | undefined,
) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** Sends a download that must not be cached (client configs carry private keys). */
export function download(
  c: Context<AppEnv>,
  body: string | Uint8Array,
  type: string,
  filename?: string,
): Response {
  c.header("Content-Type", type);
  c.header("Cache-Control", "no-store");
  c.header("Pragma", "no-cache");
  if (filename) {
    c.header("Content-Disposition", `attachment; filename="${filename.replace(/[^A-Za-z0-9_=+.-]/g, "-")}"`);
  }
  return c.body(typeof body === "string" ? body : body.slice().buffer);
}
