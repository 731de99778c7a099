// JSON API for failover pools (issue 11): the pools with their members, health and clients; creating
// one, its announce settings, members (removal rotates the pool's identity) and draining. A pool's
// clients are peers created on the pool (POST /api/peers with its id as interface_id and no node).
import { Hono } from "hono";
import type { Services } from "../service/services.ts";
import type { PoolView } from "../service/pools.ts";
import type { PoolDnsStatus } from "../service/pool_dns.ts";
import {
  MemberInputSchema,
  MemberPatchSchema,
  PoolInputSchema,
  PoolPatchSchema,
} from "../service/pool_schemas.ts";
import type { AppEnv } from "./env.ts";
import { iso, jsonBody } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";
import { fleetOf, inScope } from "../service/scope.ts";

export const poolJson = (p: PoolView) => ({
  id: p.id,
  name: p.name,
  address4: p.address4,
  address6: p.address6,
  listen_port: p.listenPort,
  dns: p.dns,
  public_key: p.publicKey,
  announce: p.announce === null ? null : p.announce.kind === "vrrp"
    ? {
      kind: "vrrp" as const,
      address: p.announce.address,
      vrid: p.announce.vrid,
      advert_ms: p.announce.advertMs,
      link: p.announce.link,
    }
    : {
      kind: "dns" as const,
      name: p.announce.name,
      zone: p.announce.zone,
      server: p.announce.server,
      tsig: {
        name: p.announce.tsig.name,
        algorithm: p.announce.tsig.algorithm,
        has_secret: p.announce.tsig.hasSecret,
      },
      ttl: p.announce.ttl,
    },
  members: p.members.map((m) => ({
    node_id: m.nodeId,
    node: m.nodeName,
    local: m.isLocal,
    priority: m.priority,
    status: m.status,
    health_failures: m.healthFailures,
    drained: m.drained,
    drained_at: iso(m.drainedAt),
    drain_state: m.drainState,
    safe_to_stop: m.drainState === "safe",
    report: m.report
      ? { state: m.report.state, detail: m.report.detail, sessions: m.report.sessions, at: iso(m.report.at) }
      : null,
  })),
  clients: p.clients.map((c) => ({
    peer_id: c.peerId,
    name: c.name,
    ipv4: c.ipv4,
    enabled: c.enabled,
    served_by: c.servedBy
      ? {
        node_id: c.servedBy.nodeId,
        node: c.servedBy.nodeName,
        handshake_at: iso(c.servedBy.handshakeAt),
        endpoint: c.servedBy.endpoint,
      }
      : null,
  })),
});

/** A DNS-mode pool's RFC 2136 publishing (pool_dns.ts); null for other pools and before the first try. */
const dnsPublishJson = (d: PoolDnsStatus | null) =>
  d && {
    published: d.published,
    published_at: iso(d.publishedAt),
    wanted: d.wanted,
    last_attempt_at: iso(d.lastAttemptAt),
    last_error: d.lastError,
    failures: d.failures,
    next_attempt_at: iso(d.nextAttemptAt),
  };

export function poolsApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  const withDns = (p: PoolView) => ({ ...poolJson(p), dns_publish: dnsPublishJson(s.poolDns.status(p.id)) });
  const member = (c: Parameters<typeof idParam>[0]) => [idParam(c), idParam(c, "node")] as const;

  // A scoped admin: the pools whose interface is in scope (scope_guard.ts).
  api.get(
    "/pools",
    (c) => c.json({ pools: inScope(fleetOf(actorOf(c)), "interfaces", s.pools.list()).map(withDns) }),
  );
  api.post(
    "/pools",
    async (c) => c.json(poolJson(await s.pools.create(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.get("/pools/:id", (c) => c.json(withDns(s.pools.get(idParam(c)))));
  api.patch(
    "/pools/:id",
    async (c) =>
      c.json(poolJson(await s.pools.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  // A pool is an interface: deleting it takes it down on every member (its peers must be deleted first).
  api.delete("/pools/:id", (c) => {
    const id = idParam(c);
    s.pools.get(id); // 404 for an interface that is not a pool
    s.interfaces.delete(actorOf(c), c.get("meta"), id);
    return c.body(null, 204);
  });
  api.post("/pools/:id/members", async (c) => {
    const view = s.pools.addMember(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c));
    return c.json(poolJson(view), 201);
  });
  api.patch("/pools/:id/members/:node", async (c) => {
    const [id, node] = member(c);
    return c.json(poolJson(s.pools.setPriority(actorOf(c), c.get("meta"), id, node, await jsonBody(c))));
  });
  // Removing a member rotates the pool's identity: every client must download its config again.
  api.delete("/pools/:id/members/:node", async (c) => {
    const [id, node] = member(c);
    return c.json(poolJson(await s.pools.removeMember(actorOf(c), c.get("meta"), id, node)));
  });
  api.post("/pools/:id/members/:node/drain", (c) => {
    const [id, node] = member(c);
    return c.json(poolJson(s.pools.drain(actorOf(c), c.get("meta"), id, node)));
  });
  api.post("/pools/:id/members/:node/undrain", (c) => {
    const [id, node] = member(c);
    return c.json(poolJson(s.pools.undrain(actorOf(c), c.get("meta"), id, node)));
  });
  return api;
}

/** The pool endpoints in the OpenAPI document (openapi.ts), bodies from the schemas the service validates with. */
export const POOL_OPS = {
  "/api/pools": {
    get: {
      summary:
        "Failover pools with their members (health, drain state, reports), which member serves each client and, for a DNS pool, dns_publish: the addresses last published by RFC 2136 and the last error",
      ok: 200,
    },
    post: {
      summary: "Create a pool: an interface served by its members with one identity made by the master",
      body: PoolInputSchema,
      ok: 201,
    },
  },
  "/api/pools/{id}": {
    get: { summary: "One pool (with dns_publish as in the list)", ok: 200 },
    patch: {
      summary:
        "Change how the pool's address follows health and/or its port (a DNS pool keeps its TSIG secret unless given; clients must download their configs again after an address or port change)",
      body: PoolPatchSchema,
      ok: 200,
    },
    delete: { summary: "Delete a pool without peers (taken down on every member)", ok: 204 },
  },
  "/api/pools/{id}/members": {
    post: {
      summary: "Add a node (the master's local node too) to the pool",
      body: MemberInputSchema,
      ok: 201,
    },
  },
  "/api/pools/{id}/members/{node}": {
    patch: { summary: "Change a member's VRRP priority (higher wins)", body: MemberPatchSchema, ok: 200 },
    delete: {
      summary: "Remove a member: the pool's identity is rotated (clients must download their configs again)",
      ok: 200,
    },
  },
  "/api/pools/{id}/members/{node}/drain": {
    post: {
      summary: "Drain a member: it withdraws; safe to stop once its clients have moved (audited)",
      ok: 200,
    },
  },
  "/api/pools/{id}/members/{node}/undrain": {
    post: { summary: "Bring a drained member back (audited)", ok: 200 },
  },
};
