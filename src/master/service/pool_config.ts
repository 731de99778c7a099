// A failover pool in a member's NodeConfig (issue 11), and the pool clients the master routes to each
// node on its tunnel. Every member runs the pool's interface with the pool's shared identity, its own
// addresses and port, and all of its peers; non-members never see it. A drained member says so (it
// withdraws) and, once safe to stop, drops the pool's peers. In DNS mode the member told to take clients
// over (pool_takeover.ts) gets their keys in `takeover`. The master's `local` config sends each
// pool client's traffic (DNS replies) to the member holding the client's latest handshake.
import type { NodeInterfaceConfig, PoolConfig } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { type PoolMemberRow, type PoolSettingsRow, poolsRepo } from "../db/pools_repo.ts";
import { type InterfaceRow, interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import { dnsTakeovers } from "./pool_takeover.ts";
import type { SecretOpener } from "./secret_box.ts";

type ClientPeers = (
  rows: ReturnType<typeof peersRepo.activeOn>,
  secrets: SecretOpener,
) => Promise<NodeInterfaceConfig["peers"]>;

/** The pools (interface ids) and, for `nodeId`, its memberships by pool. */
export function poolsOf(
  db: Db,
  nodeId: number,
): { pools: Map<number, PoolSettingsRow>; mine: Map<number, PoolMemberRow> } {
  const pools = new Map(poolsRepo.list(db).map((p) => [p.id, p]));
  // No pool, no membership to read (every node's render asks: a fleet-wide change renders them all).
  const mine = pools.size === 0 ? [] : poolsRepo.membershipsOf(db, nodeId);
  return { pools, mine: new Map(mine.map((m) => [m.interface_id, m])) };
}

function announceOf(s: PoolSettingsRow, m: PoolMemberRow): PoolConfig["announce"] {
  if (s.pool_announce === "vrrp") {
    return {
      kind: "vrrp",
      address: s.pool_vrrp_address!,
      vrid: s.pool_vrrp_vrid!,
      priority: m.priority,
      advert_ms: s.pool_vrrp_advert_ms ?? 1000,
      link: s.pool_vrrp_link,
    };
  }
  return { kind: "dns" };
}

/** The pool's interface as member `m` runs it. */
export async function renderPoolInterface(
  db: Db,
  secrets: SecretOpener,
  iface: InterfaceRow,
  settings: PoolSettingsRow,
  m: PoolMemberRow,
  now: number,
  clientPeers: ClientPeers,
): Promise<NodeInterfaceConfig> {
  const drained = m.drained_at !== null;
  const takeover = drained ? undefined : dnsTakeovers(db, iface.id, now).get(m.node_id);
  const rows = m.drain_state === "safe" ? [] : peersRepo.activeOn(db, iface.id, now);
  const active = new Set(rows.map((r) => r.public_key));
  return {
    name: iface.name,
    addresses: iface.address6 ? [iface.address4, iface.address6] : [iface.address4],
    listen_port: iface.listen_port,
    mtu: iface.mtu,
    private_key: await secrets.open(iface.private_key_sealed, `interface:${iface.name}`),
    peers: await clientPeers(rows, secrets),
    master_peer: null,
    masquerade: true,
    pool: {
      id: iface.id,
      name: iface.name,
      announce: announceOf(settings, m),
      drained,
      handover: drained ? [] : poolsRepo.endpoints(db, iface.id).filter((e) => active.has(e.public_key))
        .map((e) => ({ public_key: e.public_key, endpoint: e.endpoint })),
      ...(takeover ? { takeover } : {}),
    },
  };
}

/**
 * The pool clients' addresses the master routes to each remote node on its tunnel: the clients it
 * holds, and those nobody holds yet (or last held by a member drained and safe to stop) on the first
 * member in priority order (undrained first).
 */
export function poolRoutes(db: Db, now: number): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const add = (nodeId: number, a: { ipv4: string; ipv6: string | null }) => {
    const list = out.get(nodeId) ?? [];
    list.push(a.ipv4, ...(a.ipv6 ? [a.ipv6] : []));
    out.set(nodeId, list);
  };
  const firstMember = new Map<number, number | null>();
  const stopped = new Set<string>(); // "pool node": drained members safe to stop (no session left)
  for (const p of poolsRepo.list(db)) {
    const members = poolsRepo.members(db, p.id);
    const first = members.find((m) => m.drained_at === null) ?? members[0];
    firstMember.set(p.id, first && !first.is_local ? first.node_id : null);
    for (const m of members) if (m.drain_state === "safe") stopped.add(`${p.id} ${m.node_id}`);
  }
  const toFirst = (u: { interface_id: number; ipv4: string; ipv6: string | null }) => {
    const to = firstMember.get(u.interface_id);
    if (to) add(to, u);
  };
  for (const h of poolsRepo.heldClients(db, now)) {
    if (stopped.has(`${h.interface_id} ${h.node_id}`)) toFirst(h); // its last holder no longer serves it
    else add(h.node_id, h);
  }
  for (const u of poolsRepo.unheld(db, now)) toFirst(u);
  return out;
}

/** The members of whichever of these interfaces are pools (a pool peer's change reaches all of them). */
export function poolHostsOf(db: Db, interfaceIds: number[]): number[] {
  const out = new Set<number>();
  for (const id of new Set(interfaceIds)) {
    if (poolsRepo.isPool(db, id)) { for (const n of poolsRepo.memberIds(db, id)) out.add(n); }
  }
  return [...out];
}

/**
 * Where a pool client connects (client_configs.ts): the pool's key, its address (the VRRP floating
 * address without its prefix, or the DNS name) and port, and the master's resolver through the member's
 * tunnel (the first interface's own addresses) unless the pool names its own DNS servers. Null when the
 * interface is no pool.
 */
export function poolClientTarget(
  db: Db,
  iface: InterfaceRow,
): { publicKey: string; endpoint: { host: string; port: number }; dns: string[] } | null {
  const s = poolsRepo.settings(db, iface.id);
  if (!s || s.is_pool !== 1) return null;
  const host = s.pool_announce === "vrrp"
    ? s.pool_vrrp_address!.slice(0, s.pool_vrrp_address!.indexOf("/"))
    : s.pool_dns_name ?? "";
  const first = interfacesRepo.list(db)[0]!;
  const own = iface.dns.split(",").map((x) => x.trim()).filter(Boolean);
  const resolver = [first.address4, ...(first.address6 ? [first.address6] : [])].map((c) =>
    c.slice(0, c.indexOf("/"))
  );
  return {
    publicKey: iface.public_key,
    endpoint: { host, port: iface.listen_port },
    dns: own.length > 0 ? own : resolver,
  };
}
