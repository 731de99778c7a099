// The sync protocol version on the master's side: every sync answer names it, and a node too far apart
// (core/sync_protocol.ts: N±1) gets 426 Upgrade Required naming both versions, before any other work.
import type { MiddlewareHandler } from "hono";
import { PROTOCOL_HEADER, protocolRefusal, SYNC_PROTOCOL } from "../../core/sync_protocol.ts";
import type { AppEnv } from "./env.ts";

export function syncProtocol(protocol = SYNC_PROTOCOL): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const refused = protocolRefusal({ role: "master", protocol }, c.req.header(PROTOCOL_HEADER));
    if (refused) {
      c.header(PROTOCOL_HEADER, String(protocol));
      return c.json({ error: { code: "protocol", message: `Cannot sync: ${refused}` } }, 426);
    }
    await next();
    c.res.headers.set(PROTOCOL_HEADER, String(protocol));
    return undefined;
  };
}
