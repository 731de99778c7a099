// Renders the master's DNS settings, blocklists, rules, records and peers as Unbound configuration
// text: the files the `local` node writes into Unbound's include directory. Pure. Everything that
// reaches the text was validated before (names, addresses), and is checked again here, so no input
// can add a configuration line of its own.
//
// Blocking per client uses Unbound's tags: each list is a tag (`wb_l<id>`), operator block rules are
// `wb_custom`; every blocked name is one `local-zone` with the tags of the lists that name it, and a
// client's `access-control-tag` says which tags apply to it. A pool's default covers every peer with
// the default choice; a peer with its own choice (blocking off, or some lists) gets a /32 (/128) entry.
// The allowlist wins: allowed names (and their subdomains) leave the blocked set, and an allowed name
// under a blocked one becomes a transparent zone.
import { isValidCidr, isValidIp } from "../../core/cidr.ts";
import { isDomain, normalizeDomain } from "./dns_blocklists.ts";

export type BlockMode = "refuse" | "nxdomain" | "null";

export type DnsPeer = {
  /** The DNS label (already unique within the zone), e.g. `phone`. */
  label: string;
  addresses: string[];
  /** null: the pool default (blocking on with every enabled list). */
  blocking: { enabled: boolean; lists: number[] | null } | null;
};

export type DnsRecord = { name: string; type: "A" | "AAAA" | "CNAME"; value: string };

export type DnsDesiredInput = {
  /** Addresses Unbound listens on (the master's tunnel addresses, no prefix). */
  listen: string[];
  port: number;
  /** Subnets (the interfaces' pools) allowed to query. */
  pools: string[];
  /** `IP`, `IP@port` or `IP@853#tls-name`. */
  upstreams: string[];
  dnssec: boolean;
  insecureDomains: string[];
  zone: string;
  blockMode: BlockMode;
  paused: boolean;
  peers: DnsPeer[];
  lists: { id: number; domains: string[] }[];
  blockRules: string[];
  allowRules: string[];
  records: DnsRecord[];
};

export type RenderedFile = { name: string; text: string };

const isIp = isValidIp;
const CIDR = isValidCidr;
/** `IP`, `IP@port`, `IP@port#name` (the TLS name of a DNS-over-TLS upstream). */
const UPSTREAM = /^([0-9a-fA-F:.]+)(?:@(\d{1,5}))?(?:#([a-zA-Z0-9.-]{1,253}))?$/;

export function parseUpstream(s: string): { ip: string; port: number | null; tlsName: string | null } | null {
  const m = s.trim().match(UPSTREAM);
  if (!m || !isIp(m[1]!)) return null;
  const port = m[2] ? Number(m[2]) : null;
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { ip: m[1]!, port, tlsName: m[3] ?? null };
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(`refusing to render DNS config: ${what}`);
}

const q = (s: string) => `"${s}"`;
const fqdn = (d: string) => `${d}.`;
const ZONE_TYPE: Record<BlockMode, string> = {
  refuse: "always_refuse",
  nxdomain: "always_nxdomain",
  null: "always_null",
};

/** True when `name` is `parent` or under it. */
export const within = (name: string, parent: string) => name === parent || name.endsWith(`.${parent}`);

/** The blocked names with the tags that block them, less everything the allowlist covers. */
export function blockedSet(
  input: Pick<DnsDesiredInput, "lists" | "blockRules" | "allowRules">,
): Map<string, Set<string>> {
  const allow = new Set(input.allowRules);
  const allowed = (d: string) => {
    for (let at = d; at.includes("."); at = at.slice(at.indexOf(".") + 1)) if (allow.has(at)) return true;
    return false;
  };
  const out = new Map<string, Set<string>>();
  const add = (d: string, tag: string) => {
    if (allowed(d)) return;
    const tags = out.get(d) ?? new Set<string>();
    tags.add(tag);
    out.set(d, tags);
  };
  for (const l of input.lists) for (const d of l.domains) add(d, `wb_l${l.id}`);
  for (const d of input.blockRules) add(d, "wb_custom");
  return out;
}

/** The tags a client's choice turns on. */
function tagsFor(
  choice: { enabled: boolean; lists: number[] | null },
  listIds: number[],
  custom: boolean,
): string[] {
  if (!choice.enabled) return [];
  const ids = choice.lists === null ? listIds : listIds.filter((id) => choice.lists!.includes(id));
  return [...ids.map((id) => `wb_l${id}`), ...(custom ? ["wb_custom"] : [])];
}

export function renderUnbound(input: DnsDesiredInput): RenderedFile[] {
  const zone = normalizeDomain(input.zone);
  must(zone !== null, `zone ${input.zone}`);
  must(Number.isInteger(input.port) && input.port > 0 && input.port < 65536, "port");
  const blocked = blockedSet(input);
  const listIds = input.lists.map((l) => l.id);
  const custom = input.blockRules.length > 0;
  const allTags = [...listIds.map((id) => `wb_l${id}`), ...(custom ? ["wb_custom"] : [])];

  const s: string[] = [
    "# Written by wirebuddy-node from the master's signed config. Do not edit.",
    "server:",
  ];
  for (const a of input.listen) {
    must(isIp(a), `listen address ${a}`);
    s.push(`  interface: ${a}@${input.port}`);
  }
  s.push("  ip-freebind: yes");
  s.push(`  module-config: ${q(input.dnssec ? "validator iterator" : "iterator")}`);
  for (const d of input.insecureDomains) {
    must(normalizeDomain(d) === d, `insecure domain ${d}`);
    s.push(`  domain-insecure: ${q(fqdn(d))}`);
  }
  const defaults = tagsFor({ enabled: true, lists: null }, listIds, custom);
  for (const p of input.pools) {
    must(CIDR(p), `pool ${p}`);
    s.push(`  access-control: ${p} allow`);
    if (!input.paused && defaults.length > 0) s.push(`  access-control-tag: ${p} ${q(defaults.join(" "))}`);
  }
  for (const peer of input.peers) {
    if (!peer.blocking) continue;
    const tags = tagsFor(peer.blocking, listIds, custom);
    for (const a of peer.addresses) {
      must(isIp(a), `peer address ${a}`);
      const host = `${a}/${a.includes(":") ? 128 : 32}`;
      s.push(`  access-control: ${host} allow`);
      if (!input.paused && tags.length > 0) s.push(`  access-control-tag: ${host} ${q(tags.join(" "))}`);
    }
  }
  // Peers by name: a static zone (names that are not a peer are NXDOMAIN), with reverse entries.
  s.push(`  local-zone: ${q(fqdn(zone!))} static`);
  for (const peer of input.peers) {
    must(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(peer.label), `peer label ${peer.label}`);
    for (const a of peer.addresses) {
      const name = `${peer.label}.${zone}.`;
      s.push(`  local-data: ${q(`${name} 300 IN ${a.includes(":") ? "AAAA" : "A"} ${a}`)}`);
      s.push(`  local-data-ptr: ${q(`${a} ${name}`)}`);
    }
  }
  for (const r of input.records) {
    must(normalizeDomain(r.name) === r.name, `record name ${r.name}`);
    const ok = r.type === "CNAME" ? normalizeDomain(r.value) === r.value : isIp(r.value) &&
      (r.type === "AAAA") === r.value.includes(":");
    must(ok, `record value ${r.value}`);
    s.push(
      `  local-data: ${q(`${r.name}. 300 IN ${r.type} ${r.type === "CNAME" ? fqdn(r.value) : r.value}`)}`,
    );
  }
  // An allowed name under a blocked one: its own transparent zone wins (the most specific zone applies).
  for (const d of input.allowRules) {
    must(normalizeDomain(d) === d, `allowed domain ${d}`);
    let parent = d.slice(d.indexOf(".") + 1);
    for (; parent.includes("."); parent = parent.slice(parent.indexOf(".") + 1)) {
      if (blocked.has(parent)) break;
    }
    if (blocked.has(parent)) s.push(`  local-zone: ${q(fqdn(d))} transparent`);
  }
  const upstreams = input.upstreams.map((u) => ({ text: u, parsed: parseUpstream(u) }));
  if (upstreams.length > 0) {
    const tls = upstreams.some((u) => u.parsed?.tlsName);
    s.push("forward-zone:", `  name: "."`);
    if (tls) s.push("  forward-tls-upstream: yes");
    for (const u of upstreams) {
      must(u.parsed !== null, `upstream ${u.text}`);
      const { ip, port, tlsName } = u.parsed!;
      s.push(`  forward-addr: ${ip}${port ? `@${port}` : tls ? "@853" : ""}${tlsName ? `#${tlsName}` : ""}`);
    }
  }

  const b: string[] = [
    "# Written by wirebuddy-node from the master's signed config. Do not edit.",
    "server:",
  ];
  // Tags are defined before any use: Unbound reads wb-blocklist.conf before wb-server.conf (glob order).
  if (allTags.length > 0) b.push(`  define-tag: ${q(allTags.join(" "))}`);
  const type = ZONE_TYPE[input.blockMode];
  for (const d of [...blocked.keys()].sort()) {
    const tags = blocked.get(d)!;
    if (!isDomain(d)) must(false, `blocked domain ${d}`);
    b.push(
      `  local-zone: ${q(fqdn(d))} ${type}`,
      `  local-zone-tag: ${q(fqdn(d))} ${q([...tags].join(" "))}`,
    );
  }
  return [
    { name: "wb-server.conf", text: s.join("\n") + "\n" },
    { name: "wb-blocklist.conf", text: b.join("\n") + "\n" },
  ];
}
