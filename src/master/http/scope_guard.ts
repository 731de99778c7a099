// Scoped admins: the one place that decides which routes an admin limited to some nodes and pools (and
// their peers) may reach, for sessions and API tokens alike. Everything not listed here is refused (403),
// so a route added later is closed to scoped admins until someone decides otherwise. Lists of nodes, pools
// and peers are filtered where they are built (scope.ts helpers).
import type { Context } from "hono";
import { AppError } from "../../core/errors.ts";
import type { Services } from "../service/services.ts";
import {
  type AdminScope,
  fleetOf,
  formatScope,
  interfaceInScope,
  nodeInScope,
  peerInScope,
} from "../service/scope.ts";
import type { AppEnv } from "./env.ts";

type Rule = {
  path: RegExp;
  methods?: string[];
  /** true: allowed; false: refused; a string: refused, with this reason in the answer. */
  check?: (
    s: Services,
    scope: AdminScope,
    id: number,
    c: Context<AppEnv>,
  ) => boolean | string | Promise<boolean | string>;
  /** Refused outright with this reason (a decision, not a route nobody thought about). */
  refuse?: string;
};

/**
 * Failover pools (issue 11): a scoped admin reads the pools whose interface is in scope (their clients
 * are the admin's peers: they see which member serves them), and changes none: a pool's settings, members,
 * drain state and deletion act on every member node and every client of the pool at once (a member's
 * removal rotates the pool's key), so they are for unscoped admins, through the pools routes or the
 * interfaces routes alike. The pool's clients are created and edited like any peer in scope.
 */
const POOL_WRITES = "Failover pools are changed by admins of the whole fleet only (a scoped admin may read " +
  "the pools in scope and manage their clients).";

const READ = ["GET", "HEAD"];
const num = (v: unknown) => (v === undefined || v === "" ? undefined : v === null ? null : Number(v));

/** The interface and node a peer write asks for (form or JSON); absent fields keep `current`'s. */
async function peerTarget(
  c: Context<AppEnv>,
  current: { interfaceId: number; nodeId: number | null } | null,
): Promise<{ interfaceId: number; nodeId: number | null } | null> {
  if (READ.includes(c.req.method)) return current;
  const type = c.req.header("content-type") ?? "";
  let body: Record<string, unknown> = {};
  try {
    body = type.includes("application/json")
      ? ((await c.req.json()) ?? {}) as Record<string, unknown>
      : await c.req.parseBody() as Record<string, unknown>;
  } catch {
    return current; // the route refuses the malformed body itself
  }
  if (typeof body !== "object" || body === null) return current;
  const iface = num(body.interface_id);
  const node = "node_id" in body ? (body.node_id === "" ? null : num(body.node_id)) : undefined;
  const interfaceId = iface ?? current?.interfaceId;
  if (interfaceId === undefined || interfaceId === null || Number.isNaN(interfaceId)) return null;
  return {
    interfaceId,
    nodeId: node === undefined ? current?.nodeId ?? null : node === null || Number.isNaN(node) ? null : node,
  };
}

const RULES: Rule[] = [
  { path: /^\/ui\/account(\/.*)?$/ },
  { path: /^\/api\/me$/ },
  // Their own API tokens and their own audit entries (the services filter by owner and actor).
  { path: /^\/(ui|api)\/tokens$/ },
  { path: /^\/(ui|api)\/tokens\/(\d+)(\/revoke)?$/ },
  { path: /^\/(ui|api)\/audit$/, methods: READ },
  // Nodes and pools: the lists (filtered), and the ones in scope; no new ones (they are fleet-wide).
  { path: /^\/(ui|api)\/nodes$/, methods: READ },
  { path: /^\/(ui|api)\/nodes\/(\d+)(\/.*)?$/, check: (_s, scope, id) => nodeInScope(scope, id) },
  { path: /^\/(ui|api)\/interfaces$/, methods: READ },
  {
    path: /^\/(ui|api)\/interfaces\/(\d+)(\/.*)?$/,
    check: (s, scope, id, c) =>
      interfaceInScope(scope, id) && (READ.includes(c.req.method) || !s.pools.isPool(id) || POOL_WRITES),
  },
  // Failover pools: those in scope to read (the list filtered), no writes (POOL_WRITES).
  { path: /^\/(ui|api)\/pools$/, check: (_s, _scope, _id, c) => READ.includes(c.req.method) || POOL_WRITES },
  {
    path: /^\/(api)\/pools\/(\d+)$/, // (the id is the second group, as in every rule)
    check: (_s, scope, id, c) => READ.includes(c.req.method) ? interfaceInScope(scope, id) : POOL_WRITES,
  },
  { path: /^\/(ui|api)\/pools\/.*$/, refuse: POOL_WRITES },
  // Peers: the list (filtered), new ones and changes only where they stay in scope.
  { path: /^\/ui\/peers\/new$/, methods: READ },
  // The list's live status (the route answers only for peers in scope); bulk actions stay refused.
  { path: /^\/ui\/peers\/live$/, methods: READ },
  {
    path: /^\/(ui|api)\/peers$/,
    check: async (_s, scope, _id, c) => {
      const target = await peerTarget(c, null);
      return READ.includes(c.req.method) || (!!target && peerInScope(scope, target));
    },
  },
  {
    path: /^\/(ui|api)\/peers\/(\d+)(\/.*)?$/,
    check: async (s, scope, id, c) => {
      const peer = s.peers.get(id);
      if (!peerInScope(scope, peer)) return false;
      if (READ.includes(c.req.method)) return true;
      const target = await peerTarget(c, peer);
      return peerInScope(scope, peer) && !!target && peerInScope(scope, target);
    },
  },
];

/** Refuses a scoped admin's request outside their scope; the dashboard sends them to their peers. */
export async function checkScope(c: Context<AppEnv>, s: Services): Promise<Response | null> {
  const scope = fleetOf(c.get("actor"));
  if (!scope) return null;
  const path = new URL(c.req.url).pathname;
  if (path === "/ui/dashboard" && READ.includes(c.req.method)) return c.redirect("/ui/peers", 303);
  let reason: string | null = null;
  for (const rule of RULES) {
    const m = path.match(rule.path);
    if (!m) continue;
    if (rule.methods && !rule.methods.includes(c.req.method)) break;
    if (rule.refuse) {
      reason = rule.refuse;
      break;
    }
    const id = Number(m[2] ?? 0);
    let ok: boolean | string = true;
    try {
      ok = rule.check ? await rule.check(s, scope, id, c) : true;
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") ok = false;
      else throw err;
    }
    if (ok === true) return null;
    if (typeof ok === "string") reason = ok;
    break;
  }
  throw new AppError(
    "forbidden",
    `Outside this admin's scope (${formatScope(scope)}): ${c.req.method} ${path}${
      reason ? ` (${reason})` : ""
    }`,
    {
      publicMessage: reason
        ? `Your admin scope does not include this: ${reason}`
        : "Your admin scope does not include this.",
    },
  );
}
