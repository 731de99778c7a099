// Renders the master's DNS settings, blocklists, rules, records and peers as Unbound configuration
// text: the files the `local` node writes into Unbound's include directory. Pure. Everything that
// reaches the text was validated before (names, addresses), and is checked again here, so no input
// can add a configuration line of its own.
//
// Blocking per client: the pool default (every enabled list and the operator's block rules) is the
// global local-zone set in wb-blocklist.conf, alone in that file so the node can change it at run time
// (`unbound-control local_zones` / `local_zones_remove`) instead of reloading: Unbound 1.17 drops every
// query in flight on a reload. A peer with a choice of its own (blocking off, or some lists) gets a /32
// (/128) `access-control-view` into a view (`view-first: no`) holding its blocked names, the peer names
// and the records; changing a view needs a reload, so those changes are the rare kind (a peer's choice,
// a peer or record while such a view exists). The allowlist wins: allowed names (and their subdomains)
// leave the blocked set, and an allowed name under a blocked one becomes a transparent zone.
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

/** `local-zone` lines for the names blocked by any of `tags`, then the allowlist's transparent holes. */
function zoneLines(
  blocked: Map<string, Set<string>>,
  tags: string[],
  allowRules: string[],
  type: string,
): string[] {
  const on = new Set(tags);
  const names = new Set([...blocked].filter(([, t]) => [...t].some((x) => on.has(x))).map(([d]) => d));
  const out: string[] = [];
  for (const d of [...names].sort()) {
    must(isDomain(d), `blocked domain ${d}`);
    out.push(`  local-zone: ${q(fqdn(d))} ${type}`);
  }
  // An allowed name under a blocked one: its own transparent zone wins (the most specific zone applies).
  for (const d of allowRules) {
    must(normalizeDomain(d) === d, `allowed domain ${d}`);
    for (let p = d.slice(d.indexOf(".") + 1); p.includes("."); p = p.slice(p.indexOf(".") + 1)) {
      if (names.has(p)) {
        out.push(`  local-zone: ${q(fqdn(d))} transparent`);
        break;
      }
    }
  }
  return out;
}

export function renderUnbound(input: DnsDesiredInput): RenderedFile[] {
  const zone = normalizeDomain(input.zone);
  must(zone !== null, `zone ${input.zone}`);
  must(Number.isInteger(input.port) && input.port > 0 && input.port < 65536, "port");
  const blocked = blockedSet(input);
  const listIds = input.lists.map((l) => l.id);
  const custom = input.blockRules.length > 0;
  const defaults = input.paused ? [] : tagsFor({ enabled: true, lists: null }, listIds, custom);
  const type = ZONE_TYPE[input.blockMode];

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
  for (const p of input.pools) {
    must(CIDR(p), `pool ${p}`);
    s.push(`  access-control: ${p} allow`);
  }
  // A peer whose choice differs from the default: its own view (one per distinct choice).
  const views = new Map<string, string[]>();
  for (const peer of input.peers) {
    if (!peer.blocking || input.paused) continue;
    const tags = tagsFor(peer.blocking, listIds, custom);
    if (tags.join(" ") === defaults.join(" ")) continue;
    const view = tags.length === 0 ? "wb_off" : `wb_${tags.map((t) => t.replace(/^wb_/, "")).join("_")}`;
    views.set(view, tags);
    for (const a of peer.addresses) {
      must(isIp(a), `peer address ${a}`);
      const host = `${a}/${a.includes(":") ? 128 : 32}`;
      s.push(`  access-control: ${host} allow`, `  access-control-view: ${host} ${q(view)}`);
    }
  }
  // Peers by name: a static zone (names that are not a peer are NXDOMAIN), with reverse entries.
  const names: string[] = [`  local-zone: ${q(fqdn(zone!))} static`];
  for (const peer of input.peers) {
    must(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(peer.label), `peer label ${peer.label}`);
    for (const a of peer.addresses) {
      must(isIp(a), `peer address ${a}`);
      const name = `${peer.label}.${zone}.`;
      names.push(`  local-data: ${q(`${name} 300 IN ${a.includes(":") ? "AAAA" : "A"} ${a}`)}`);
      names.push(`  local-data-ptr: ${q(`${a} ${name}`)}`);
    }
  }
  for (const r of input.records) {
    must(normalizeDomain(r.name) === r.name, `record name ${r.name}`);
    const ok = r.type === "CNAME" ? normalizeDomain(r.value) === r.value : isIp(r.value) &&
      (r.type === "AAAA") === r.value.includes(":");
    must(ok, `record value ${r.value}`);
    names.push(
      `  local-data: ${q(`${r.name}. 300 IN ${r.type} ${r.type === "CNAME" ? fqdn(r.value) : r.value}`)}`,
    );
  }
  s.push(...names);
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
  // view-first: no, so the global (default) blocked names never reach the view's clients.
  for (const [view, tags] of [...views].sort(([a], [b]) => (a < b ? -1 : 1))) {
    s.push("view:", `  name: ${q(view)}`, "  view-first: no", ...names);
    s.push(...zoneLines(blocked, tags, input.allowRules, type));
  }

  const b: string[] = [
    "# Written by wirebuddy-node from the master's signed config. Do not edit.",
    "# Only global local-zone lines: the node applies changes here without a reload.",
    "server:",
    ...zoneLines(blocked, defaults, input.allowRules, type),
  ];
  return [
    { name: "wb-server.conf", text: s.join("\n") + "\n" },
    { name: "wb-blocklist.conf", text: b.join("\n") + "\n" },
  ];
}
