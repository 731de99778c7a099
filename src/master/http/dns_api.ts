// JSON API for DNS: the resolver's status and settings, blocklists, block/allow rules, custom records,
// per-peer choices, the pause switch, and the query log with its statistics.
import { Hono } from "hono";
import { AppError } from "../../core/errors.ts";
import type { DnsPeerView, DnsSettings, DnsStatus } from "../service/dns.ts";
import type { DnsListView } from "../service/dns_lists.ts";
import type { DnsQueryView, DnsStats } from "../service/dns_log.ts";
import {
  DnsListInputSchema,
  DnsListPatchSchema,
  DnsPauseSchema,
  DnsPeerPrefsSchema,
  DnsRecordInputSchema,
  DnsRuleInputSchema,
  DnsSettingsSchema,
} from "../service/dns_schemas.ts";
import type { Services } from "../service/services.ts";
import type { AppEnv } from "./env.ts";
import { iso, jsonBody, optionalJsonBody } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";

const statusJson = (s: DnsStatus) => ({
  enabled: s.enabled,
  running: s.running,
  detail: s.detail,
  error: s.error,
  reported_at: iso(s.reportedAt),
  listen: s.listen,
});

const settingsJson = (s: DnsSettings) => ({
  enabled: s.enabled,
  zone: s.zone,
  upstreams: s.upstreams,
  dnssec: s.dnssec,
  insecure_domains: s.insecureDomains,
  block_mode: s.blockMode,
  log_queries: s.logQueries,
  log_retention_days: s.logRetentionDays,
  refresh_hours: s.refreshHours,
  paused_until: iso(s.pausedUntil),
});

export const listJson = (l: DnsListView) => ({
  id: l.id,
  name: l.name,
  url: l.url,
  enabled: l.enabled,
  domain_count: l.domainCount,
  last_refresh_at: iso(l.lastRefreshAt),
  last_status: l.lastStatus,
  last_message: l.lastMessage,
  created_at: iso(l.createdAt),
});

const ruleJson = (r: { id: number; kind: string; domain: string; created_at: number }) => ({
  id: r.id,
  kind: r.kind,
  domain: r.domain,
  created_at: iso(r.created_at),
});

const recordJson = (r: { id: number; name: string; type: string; value: string; created_at: number }) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  value: r.value,
  created_at: iso(r.created_at),
});

const peerJson = (p: DnsPeerView) => ({
  id: p.id,
  name: p.name,
  dns_name: p.dnsName,
  addresses: p.addresses,
  node: p.node,
  blocking: p.blocking,
  lists: p.lists,
  log: p.log,
});

const queryJson = (q: DnsQueryView) => ({
  id: q.id,
  at: iso(q.at),
  peer_id: q.peerId,
  peer: q.peerName,
  client: q.client,
  node: q.via,
  name: q.qname,
  type: q.qtype,
  rcode: q.rcode,
  answer: q.answer,
  blocked: q.blocked,
});

const statsJson = (s: DnsStats) => ({
  total: s.total,
  blocked: s.blocked,
  top_domains: s.topDomains,
  top_blocked: s.topBlocked,
  over_time: s.overTime.map((b) => ({ at: iso(b.at), total: b.total, blocked: b.blocked })),
});

function intQuery(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AppError("validation", `${name} must be ${min}-${max}`, {
      fields: [{ field: name, message: `must be ${min}-${max}` }],
    });
  }
  return n;
}

export function dnsApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  api.get("/dns/status", (c) => c.json(statusJson(s.dns.status())));
  api.get("/dns/settings", (c) => c.json(settingsJson(s.dns.settings())));
  api.patch(
    "/dns/settings",
    async (c) => c.json(settingsJson(s.dns.updateSettings(actorOf(c), c.get("meta"), await jsonBody(c)))),
  );
  api.post("/dns/pause", async (c) => {
    return c.json(settingsJson(s.dns.pause(actorOf(c), c.get("meta"), await optionalJsonBody(c))));
  });
  api.post("/dns/resume", (c) => c.json(settingsJson(s.dns.resume(actorOf(c), c.get("meta")))));

  api.get("/dns/lists", (c) => c.json({ lists: s.dnsLists.list().map(listJson) }));
  api.post(
    "/dns/lists",
    async (c) => c.json(listJson(await s.dnsLists.add(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.get("/dns/lists/:id", (c) => c.json(listJson(s.dnsLists.get(idParam(c)))));
  api.patch(
    "/dns/lists/:id",
    async (c) =>
      c.json(listJson(s.dnsLists.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  api.post(
    "/dns/lists/:id/refresh",
    async (c) => c.json(listJson(await s.dnsLists.refresh(actorOf(c), c.get("meta"), idParam(c)))),
  );
  api.delete("/dns/lists/:id", (c) => {
    s.dnsLists.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  api.get("/dns/rules", (c) => c.json({ rules: s.dns.rules().map(ruleJson) }));
  api.post(
    "/dns/rules",
    async (c) => c.json(ruleJson(s.dns.addRule(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.delete("/dns/rules/:id", (c) => {
    s.dns.deleteRule(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  api.get("/dns/records", (c) => c.json({ records: s.dns.records().map(recordJson) }));
  api.post(
    "/dns/records",
    async (c) => c.json(recordJson(s.dns.addRecord(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.delete("/dns/records/:id", (c) => {
    s.dns.deleteRecord(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  api.get("/dns/peers", (c) => c.json({ peers: s.dns.peers().map(peerJson) }));
  api.get("/dns/peers/:id", (c) => c.json(peerJson(s.dns.peer(idParam(c)))));
  api.patch(
    "/dns/peers/:id",
    async (c) =>
      c.json(peerJson(s.dns.setPeerPrefs(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );

  api.get("/dns/queries", (c) => {
    const q = c.req.query();
    const blocked = q.blocked === undefined || q.blocked === ""
      ? null
      : q.blocked === "true" || q.blocked === "1";
    return c.json({
      queries: s.dnsLog.search({
        q: (q.q ?? "").slice(0, 200),
        blocked,
        peerId: intQuery(q.peer_id, "peer_id", 1, Number.MAX_SAFE_INTEGER) ?? null,
        before: intQuery(q.before, "before", 1, Number.MAX_SAFE_INTEGER) ?? 0,
        limit: intQuery(q.limit, "limit", 1, 500) ?? 100,
      }).map(queryJson),
    });
  });
  api.get("/dns/stats", (c) => {
    const hours = intQuery(c.req.query("hours"), "hours", 1, 24 * 365) ?? 24;
    return c.json(statsJson(s.dnsLog.stats(hours * 3_600_000)));
  });

  return api;
}

/** The DNS endpoints in the OpenAPI document (openapi.ts), bodies from the schemas the service validates with. */
export const DNS_OPS = {
  "/api/dns/status": {
    get: { summary: "Whether the master's Unbound runs (as its local node reports) and why not", ok: 200 },
  },
  "/api/dns/settings": {
    get: { summary: "DNS settings", ok: 200 },
    patch: {
      summary: "Change DNS settings (fields left out keep their value)",
      body: DnsSettingsSchema,
      ok: 200,
    },
  },
  "/api/dns/pause": {
    post: {
      summary: "Pause blocking for everyone (default 60 minutes)",
      body: DnsPauseSchema,
      optionalBody: true,
      ok: 200,
    },
  },
  "/api/dns/resume": { post: { summary: "End a pause now", ok: 200 } },
  "/api/dns/lists": {
    get: { summary: "Blocklists with their domain count and last refresh outcome", ok: 200 },
    post: {
      summary: "Add a blocklist by URL (fetched now, then on schedule) or from a file's text",
      body: DnsListInputSchema,
      ok: 201,
    },
  },
  "/api/dns/lists/{id}": {
    get: { summary: "One blocklist", ok: 200 },
    patch: { summary: "Enable or disable a blocklist", body: DnsListPatchSchema, ok: 200 },
    delete: { summary: "Delete a blocklist", ok: 204 },
  },
  "/api/dns/lists/{id}/refresh": {
    post: { summary: "Fetch a URL blocklist again; on failure it keeps its domains", ok: 200 },
  },
  "/api/dns/rules": {
    get: { summary: "Operator block and allow rules (allow wins over every list)", ok: 200 },
    post: { summary: "Block or allow a domain and its subdomains", body: DnsRuleInputSchema, ok: 201 },
  },
  "/api/dns/rules/{id}": { delete: { summary: "Delete a rule", ok: 204 } },
  "/api/dns/records": {
    get: { summary: "Custom A, AAAA and CNAME records", ok: 200 },
    post: { summary: "Add a custom record", body: DnsRecordInputSchema, ok: 201 },
  },
  "/api/dns/records/{id}": { delete: { summary: "Delete a custom record", ok: 204 } },
  "/api/dns/peers": { get: { summary: "Every peer's DNS name and blocking and logging choices", ok: 200 } },
  "/api/dns/peers/{id}": {
    get: { summary: "One peer's DNS name and choices", ok: 200 },
    patch: {
      summary: "A peer's blocking (on/off, which lists) and logging choice",
      body: DnsPeerPrefsSchema,
      ok: 200,
    },
  },
  "/api/dns/queries": {
    get: {
      summary: "The query log, newest first: search by name, peer, client or node",
      query: ["q", "blocked", "peer_id", "before", "limit"],
      ok: 200,
    },
  },
  "/api/dns/stats": {
    get: { summary: "Totals, top domains, top blocked and queries over time", query: ["hours"], ok: 200 },
  },
};
