// A pool's announce settings as stored (from validated input), and what the DNS path publishes for
// each DNS-mode pool: its server, TSIG key and the public addresses of its healthy, undrained members.
import { isValidIp } from "../../core/cidr.ts";
import type { Db } from "../db/db.ts";
import { nodeHealthRepo } from "../db/node_health_repo.ts";
import { type PoolMemberListRow, type PoolSettingsRow, poolsRepo } from "../db/pools_repo.ts";
import { interfacesRepo } from "../db/wg_repo.ts";
import type { AnnounceInput } from "./pool_schemas.ts";
import type { SecretOpener } from "./secret_box.ts";

/** What the DNS path publishes for one DNS-mode pool (pool_dns.ts). */
export type PoolDnsTarget = {
  interfaceId: number;
  /** The pool's DNS name, e.g. "vpn.example.com". */
  name: string;
  zone: string;
  /** The authoritative server, "host:port" ("[v6]:port"). */
  server: string;
  tsig: { name: string; algorithm: "hmac-sha256" | "hmac-sha512"; secret: string };
  ttl: number;
  /** Public addresses (members' FQDNs that are IP literals) of online, health-checked, undrained members. */
  addresses: string[];
  /** Those members' FQDNs that are host names, not addresses (the caller may resolve them). */
  hostnames: string[];
};

/** A member whose last report said `fault` within this long is left out of DNS. */
const FAULT_FRESH_MS = 120_000;

/**
 * Whether a member can serve (drain aside): online, its last tunnel check passed (the master's own node
 * is not checked), and no fresh `fault` report. What DNS publishes, and who may take clients over.
 */
export function memberHealthy(db: Db, m: PoolMemberListRow, now: number): boolean {
  if (m.status !== "online") return false;
  if (m.report_state === "fault" && m.reported_at !== null && now - m.reported_at < FAULT_FRESH_MS) {
    return false;
  }
  return m.is_local === 1 || (nodeHealthRepo.get(db, m.node_id)?.failures ?? 0) === 0;
}

export const tsigContext = (name: string) => `pool:${name}:tsig`;

export async function poolDnsTargets(db: Db, secrets: SecretOpener, now: number): Promise<PoolDnsTarget[]> {
  const out: PoolDnsTarget[] = [];
  for (const p of poolsRepo.list(db)) {
    if (p.pool_announce !== "dns" || !p.pool_tsig_secret_sealed) continue;
    const name = interfacesRepo.byId(db, p.id)!.name;
    const healthy = poolsRepo.members(db, p.id).filter((m) =>
      m.drained_at === null && memberHealthy(db, m, now)
    );
    out.push({
      interfaceId: p.id,
      name: p.pool_dns_name!,
      zone: p.pool_dns_zone!,
      server: p.pool_dns_server!,
      tsig: {
        name: p.pool_tsig_name!,
        algorithm: p.pool_tsig_algorithm as "hmac-sha256" | "hmac-sha512",
        secret: await secrets.open(p.pool_tsig_secret_sealed, tsigContext(name)),
      },
      ttl: p.pool_dns_ttl ?? 30,
      addresses: healthy.filter((m) => isValidIp(m.fqdn)).map((m) => m.fqdn),
      hostnames: healthy.filter((m) => !isValidIp(m.fqdn)).map((m) => m.fqdn),
    });
  }
  return out;
}

export function settingsRow(id: number, a: AnnounceInput, tsigSealed: string | null): PoolSettingsRow {
  const vrrp = a.kind === "vrrp" ? a : null;
  const dns = a.kind === "dns" ? a : null;
  return {
    id,
    is_pool: 1,
    pool_announce: a.kind,
    pool_vrrp_address: vrrp?.address ?? null,
    pool_vrrp_vrid: vrrp?.vrid ?? null,
    pool_vrrp_advert_ms: vrrp?.advert_ms ?? null,
    pool_vrrp_link: vrrp?.link ?? null,
    pool_dns_name: dns?.name ?? null,
    pool_dns_zone: dns?.zone ?? null,
    pool_dns_server: dns
      ? `${dns.server.host.includes(":") ? `[${dns.server.host}]` : dns.server.host}:${dns.server.port}`
      : null,
    pool_tsig_name: dns?.tsig.name ?? null,
    pool_tsig_algorithm: dns?.tsig.algorithm ?? null,
    pool_tsig_secret_sealed: dns ? tsigSealed : null,
    pool_dns_ttl: dns?.ttl ?? null,
  };
}
