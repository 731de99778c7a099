// The sync API nodes talk to (/api/sync/*): enrollment, heartbeat with metrics, long-polled config.
// Requests are authenticated by SyncService (bearer secret + ECDSA signature + clock window + nonce);
// every answer to an authenticated node is signed over its node id, the request nonce, status and body.
import { type Context, Hono } from "hono";
import { AppError } from "../../core/errors.ts";
import {
  type ConfigResponse,
  EnrollRequestSchema,
  HEADERS,
  HeartbeatRequestSchema,
  type HeartbeatResponse,
  IdentityRequestSchema,
} from "../../core/sync.ts";
import type { Services } from "../service/services.ts";
import type { SessionUse, SyncOrigin } from "../service/sync_auth.ts";
import { SESSION_HEADERS, type SessionAnswer, SessionRequestSchema } from "../../core/sync_session.ts";
import { parseInput } from "../service/validate.ts";
import type { AppEnv } from "./env.ts";
import { syncProtocol } from "./sync_protocol.ts";

const MAX_BODY = 512 * 1024;

function syncHeaders(c: Context<AppEnv>) {
  const auth = c.req.header("authorization") ?? "";
  return {
    nodeId: c.req.header(HEADERS.node),
    timestamp: c.req.header(HEADERS.timestamp),
    nonce: c.req.header(HEADERS.nonce),
    signature: c.req.header(HEADERS.signature),
    session: c.req.header(SESSION_HEADERS.session),
    mac: c.req.header(SESSION_HEADERS.mac),
    bearer: auth.match(/^Bearer\s+(\S+)$/i)?.[1],
  };
}

const LOOPBACK = /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;
const FORWARDING_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip"];

/**
 * The client address (as the clientAddress middleware derived it) and whether the request came over
 * loopback: the socket peer itself, not a forwarded header, and not relayed by a proxy (a proxy on
 * loopback carries the whole internet, so a forwarded request never counts as loopback).
 */
function originOf(c: Context<AppEnv>): SyncOrigin {
  const peer = c.env?.remoteAddr ?? "";
  const forwarded = FORWARDING_HEADERS.some((h) => c.req.header(h) !== undefined);
  return { ip: c.get("meta").ip, loopback: LOOPBACK.test(peer) && !forwarded };
}

function pathOf(c: Context<AppEnv>): string {
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}

async function rawBody(c: Context<AppEnv>): Promise<string> {
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new AppError("payload_too_large", "Sync request too large");
  return text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("bad_request", "The request body is not valid JSON");
  }
}

export function syncRoutes(s: Services): Hono<AppEnv> {
  const sync = new Hono<AppEnv>();
  sync.use("*", syncProtocol()); // the version on every answer; a node too far apart gets 426 first

  /** An answer proven for the node: its session's HMAC, or the master's signature (see SyncService.proveAnswer). */
  const signed = async (
    c: Context<AppEnv>,
    to: { nodeId: number; nonce: string; session: SessionUse },
    status: number,
    /** A JSON-serialisable answer, or its JSON text. */
    payload: unknown,
  ) => {
    const body = typeof payload === "string" ? payload : JSON.stringify(payload);
    const proof = await s.sync.proveAnswer(to, status, body);
    c.header(proof.header, proof.value);
    c.header("Content-Type", "application/json");
    c.header("Cache-Control", "no-store");
    return c.body(body, status as 200);
  };

  /** Authenticates a node request; a failure is counted (logged, audited, a burst announced). */
  const authenticate = async (c: Context<AppEnv>, method: string, body: string) => {
    const h = syncHeaders(c);
    try {
      return await s.sync.authenticate(originOf(c), method, pathOf(c), h, body);
    } catch (err) {
      if (err instanceof AppError && err.code === "unauthorized") {
        s.watch.authFailed(originOf(c).ip, h.nodeId, err.message);
      }
      throw err;
    }
  };

  sync.post("/enroll", async (c) => {
    const raw = await rawBody(c);
    const body = parseInput(EnrollRequestSchema, parseJson(raw), "enrollment");
    const { nodeId, response } = await s.sync.enroll(originOf(c), syncHeaders(c), raw, body);
    return await signed(c, { nodeId, nonce: syncHeaders(c).nonce!, session: null }, 200, response);
  });

  sync.post("/heartbeat", async (c) => {
    const raw = await rawBody(c);
    const auth = await authenticate(c, "POST", raw);
    if (auth.kind === "removed") {
      return await signed(
        c,
        auth,
        200,
        { kind: "removed", node_id: auth.nodeId } satisfies HeartbeatResponse,
      );
    }
    const hb = parseInput(HeartbeatRequestSchema, parseJson(raw), "heartbeat");
    return await signed(c, { ...auth, nodeId: auth.node.id }, 200, s.sync.heartbeat(auth.node, hb));
  });

  // Opens a session (an HMAC key agreed by ECDH) with a request signed by the node's identity key.
  sync.post("/session", async (c) => {
    const raw = await rawBody(c);
    const auth = await authenticate(c, "POST", raw);
    if (auth.kind === "removed") {
      return await signed(c, auth, 200, { kind: "removed", node_id: auth.nodeId } satisfies SessionAnswer);
    }
    const req = parseInput(SessionRequestSchema, parseJson(raw), "session");
    const opened = await s.sync.openSession(auth, req.ecdh_public);
    return await signed(
      c,
      { ...auth, nodeId: auth.node.id },
      200,
      { kind: "session", ...opened } satisfies SessionAnswer,
    );
  });

  // A node's new identity certificate, vouched for by its current identity key (identity_rotation.ts).
  sync.post("/identity", async (c) => {
    const raw = await rawBody(c);
    const auth = await authenticate(c, "POST", raw);
    if (auth.kind === "removed") throw new AppError("unauthorized", "This node was removed");
    const req = parseInput(IdentityRequestSchema, parseJson(raw), "identity");
    const answer = await s.identity.rotate(auth, req.cert);
    return await signed(c, { ...auth, nodeId: auth.node.id }, 200, answer);
  });

  sync.get("/config", async (c) => {
    const auth = await authenticate(c, "GET", "");
    if (auth.kind === "removed") {
      return await signed(c, auth, 200, { kind: "removed", node_id: auth.nodeId } satisfies ConfigResponse);
    }
    const have = Number(c.req.query("have") ?? 0);
    const wait = Number(c.req.query("wait") ?? 0);
    if (!Number.isInteger(have) || have < 0 || !Number.isFinite(wait) || wait < 0) {
      throw new AppError("bad_request", "have and wait must be non-negative numbers");
    }
    // A stopping master has answered the waiting long-polls: a new one would be answered at once, again
    // and again, so it is told to come back later (the node backs off).
    if (s.configVersions.closing) {
      throw new AppError("unavailable", "The master is stopping; ask again shortly", { retryAfter: 5 });
    }
    // A client that goes away leaves a waiter that times out by itself (at most the long-poll maximum).
    const end = await s.sync.waitForChange(auth.node.id, have, wait * 1000);
    // A ConfigResponse as JSON text: the config rendered once per version, "unchanged" without rendering.
    const answer = await s.sync.configAnswer(auth.node.id, have, end, c.req.query("delta") === "1");
    return await signed(c, { ...auth, nodeId: auth.node.id }, 200, answer);
  });

  return sync;
}
