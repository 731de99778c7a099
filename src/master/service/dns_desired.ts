// The desired state of the master's Unbound, read from the database: what dns_render.ts renders into
// the include files the `local` node writes (its config's `dns` section), and the peers' DNS labels.
import { formatCidr, networkOf } from "../../core/cidr.ts";
import type { NodeDnsConfig } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import {
  dnsListsRepo,
  type DnsPeerRow,
  dnsPeersRepo,
  dnsRecordsRepo,
  dnsRulesRepo,
  dnsSettingsRepo,
} from "../db/dns_repo.ts";
import { interfacesRepo } from "../db/wg_repo.ts";
import { type BlockMode, type DnsDesiredInput, type DnsPeer, renderUnbound } from "./dns_render.ts";

export const split = (s: string) => s.split(/[\s,]+/).filter(Boolean);
export const hostOf = (cidr: string) => cidr.slice(0, cidr.indexOf("/"));

/** A peer's name as a DNS label: lowercase letters, digits and dashes ("Bob's Phone" → "bob-s-phone"). */
export function dnsLabel(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(
    /-+$/,
    "",
  );
}

/** Labels for peers in order: the first keeps a name, later ones with the same name get `-<id>`. */
export function peerLabels(peers: { id: number; name: string }[]): Map<number, string> {
  const used = new Set<string>();
  const out = new Map<number, string>();
  for (const p of peers) {
    const base = dnsLabel(p.name);
    if (!base) continue;
    const label = used.has(base) ? `${base.slice(0, 50)}-${p.id}` : base;
    used.add(label);
    out.set(p.id, label);
  }
  return out;
}

export const prefsOf = (p: DnsPeerRow) => ({
  blocking: p.blocking === null ? true : p.blocking === 1,
  lists: p.lists === null ? null : (JSON.parse(p.lists) as number[]),
  log: p.log === null ? true : p.log === 1,
});

/** Everything the renderer needs, from the database. */
export function dnsDesiredInput(db: Db, now: number): DnsDesiredInput {
  const s = dnsSettingsRepo.get(db);
  const interfaces = interfacesRepo.list(db);
  const active = dnsPeersRepo.active(db, now);
  const labels = peerLabels(active);
  const lists = dnsListsRepo.enabledContent(db);
  const rules = dnsRulesRepo.list(db);
  const peers: DnsPeer[] = active.filter((p) => labels.has(p.id) || p.blocking !== null).map((p) => ({
    label: labels.get(p.id) ?? "",
    addresses: [hostOf(p.ipv4), ...(p.ipv6 ? [hostOf(p.ipv6)] : [])],
    blocking: p.blocking === null && p.lists === null
      ? null
      : { enabled: prefsOf(p).blocking, lists: prefsOf(p).lists },
  }));
  return {
    listen: interfaces.flatMap((i) => [hostOf(i.address4), ...(i.address6 ? [hostOf(i.address6)] : [])]),
    port: 53,
    pools: interfaces.flatMap((i) => [i.address4, ...(i.address6 ? [i.address6] : [])]).map((c) =>
      formatCidr(networkOf(c))
    ),
    upstreams: split(s.upstreams),
    dnssec: s.dnssec === 1,
    insecureDomains: split(s.insecure_domains),
    zone: s.zone,
    blockMode: s.block_mode as BlockMode,
    paused: s.paused_until > now,
    peers,
    lists: lists.map((l) => ({ id: l.id, domains: split(l.domains) })),
    blockRules: rules.filter((r) => r.kind === "block").map((r) => r.domain),
    allowRules: [
      ...new Set([
        ...rules.filter((r) => r.kind === "allow").map((r) => r.domain),
        ...lists.flatMap((l) => split(l.allow)),
      ]),
    ],
    records: dnsRecordsRepo.list(db).map((r) => ({ name: r.name, type: r.type, value: r.value })),
  };
}

/** The `dns` section of the local node's config; null while DNS is off (the node removes its files). */
export function renderDnsConfig(db: Db, now: number): NodeDnsConfig | null {
  const s = dnsSettingsRepo.get(db);
  if (s.enabled !== 1) return null;
  const input = dnsDesiredInput(db, now);
  const nolog = s.log_queries === 1
    ? dnsPeersRepo.active(db, now).filter((p) => p.log === 0)
      .flatMap((p) => [hostOf(p.ipv4), ...(p.ipv6 ? [hostOf(p.ipv6)] : [])])
    : [];
  return { files: renderUnbound(input), log: s.log_queries === 1, nolog };
}
