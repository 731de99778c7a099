// A pool as the API and the pool page show it: its address, announce settings (never the TSIG secret),
// its members with their health, drain state and last report, and which member serves each client.
import type { Db } from "../db/db.ts";
import { nodeHealthRepo } from "../db/node_health_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import { interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import { splitList } from "./interfaces.ts";

export type PoolAnnounceView =
  | { kind: "vrrp"; address: string; vrid: number; advertMs: number; link: string | null }
  | {
    kind: "dns";
    name: string;
    zone: string;
    server: string;
    tsig: { name: string; algorithm: string; hasSecret: boolean };
    ttl: number;
  };

export type MemberView = {
  nodeId: number;
  nodeName: string;
  isLocal: boolean;
  priority: number;
  /** The node's fleet status (online, offline, unreachable, error, pending). */
  status: string;
  /** Failed tunnel checks in a row (0 = healthy). */
  healthFailures: number;
  drained: boolean;
  drainedAt: number | null;
  /** active; draining (withdrawn, clients still on it); safe (no client left: safe to stop). */
  drainState: "active" | "draining" | "safe";
  report: { state: string; detail: string | null; sessions: number; at: number } | null;
};

export type PoolClientView = {
  peerId: number;
  name: string;
  ipv4: string;
  enabled: boolean;
  /** The member holding the client's latest handshake (null: none seen yet). */
  servedBy: { nodeId: number; nodeName: string; handshakeAt: number; endpoint: string | null } | null;
};

export type PoolView = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listenPort: number;
  dns: string[];
  publicKey: string;
  announce: PoolAnnounceView | null;
  members: MemberView[];
  clients: PoolClientView[];
};

export function poolView(db: Db, id: number, now: number): PoolView {
  const i = interfacesRepo.byId(db, id)!;
  const s = poolsRepo.settings(db, id)!;
  const holders = new Map(poolsRepo.holders(db, id).map((h) => [h.peer_id, h]));
  const peers = peersRepo.page(db, { q: "", interfaceId: id, nodeId: null, limit: 10_000, offset: 0 }).rows;
  let announce: PoolAnnounceView | null = null;
  if (s.pool_announce === "vrrp") {
    announce = {
      kind: "vrrp",
      address: s.pool_vrrp_address!,
      vrid: s.pool_vrrp_vrid!,
      advertMs: s.pool_vrrp_advert_ms!,
      link: s.pool_vrrp_link,
    };
  } else if (s.pool_announce === "dns") {
    announce = {
      kind: "dns",
      name: s.pool_dns_name!,
      zone: s.pool_dns_zone!,
      server: s.pool_dns_server!,
      tsig: {
        name: s.pool_tsig_name!,
        algorithm: s.pool_tsig_algorithm!,
        hasSecret: !!s.pool_tsig_secret_sealed,
      },
      ttl: s.pool_dns_ttl ?? 30,
    };
  }
  return {
    id,
    name: i.name,
    address4: i.address4,
    address6: i.address6,
    listenPort: i.listen_port,
    dns: splitList(i.dns),
    publicKey: i.public_key,
    announce,
    members: poolsRepo.members(db, id).map((m) => ({
      nodeId: m.node_id,
      nodeName: m.node_name,
      isLocal: m.is_local === 1,
      priority: m.priority,
      status: m.status,
      healthFailures: m.is_local ? 0 : nodeHealthRepo.get(db, m.node_id)?.failures ?? 0,
      drained: m.drained_at !== null,
      drainedAt: m.drained_at,
      drainState: m.drain_state,
      report: m.report_state === null ? null : {
        state: m.report_state,
        detail: m.report_detail,
        sessions: m.report_sessions ?? 0,
        at: m.reported_at ?? 0,
      },
    })),
    clients: peers.map((p) => {
      const h = holders.get(p.id);
      return {
        peerId: p.id,
        name: p.name,
        ipv4: p.ipv4,
        enabled: p.enabled === 1 && (p.expires_at === null || p.expires_at > now),
        servedBy: h
          ? { nodeId: h.node_id, nodeName: h.node_name, handshakeAt: h.handshake_at, endpoint: h.endpoint }
          : null,
      };
    }),
  };
}
