// What a heartbeat tells about failover pools, inside its transaction: each pool client's holder (the
// member whose sample shows the newest handshake) and its last endpoint, each member's own report, and
// the drain lifecycle (draining → safe once no client is held by the drained member). A holder change
// bumps the master's `local` config (its tunnel routes pool clients to their holder); an endpoint change
// bumps the pool's members (their handover list). Both are coalesced: at most one bump per target per
// COALESCE_MS, a later one waiting for the next heartbeat after the window.
import type { HeartbeatRequest } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { type NodeFullRow, nodesFullRepo } from "../db/nodes_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import type { ConfigVersions } from "./config_versions.ts";
import { masterTime, type NodeClocks } from "./node_clocks.ts";

/** WireGuard's session lifetime: a client without a handshake this long has no session left. */
export const SESSION_MS = 180_000;
/** At most one coalesced bump per target (the local node, a pool's members) per this long. */
export const COALESCE_MS = 3_000;

export class PoolIntake {
  /** Target ("local" or "pool:<id>") → when it was last bumped. */
  #lastBump = new Map<string, number>();
  #pending = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly versions: ConfigVersions,
    private readonly clocks: NodeClocks | null = null,
  ) {}

  /** The pool clients a member reports samples for (besides its own peers). */
  keysOf(node: NodeFullRow): string[] {
    return poolsRepo.memberPeerKeys(this.db, node.id);
  }

  /** Holders, endpoints, the member's reports and drains; call inside the heartbeat's transaction. */
  heartbeatInTx(node: NodeFullRow, hb: HeartbeatRequest, now: number): void {
    const memberships = poolsRepo.membershipsOf(this.db, node.id);
    if (memberships.length > 0) {
      this.#samples(node, hb, memberships.map((m) => m.interface_id), now);
      for (const r of hb.pools ?? []) {
        poolsRepo.saveReport(this.db, r.id, node.id, {
          state: r.state,
          detail: r.detail,
          sessions: r.sessions,
          at: now,
        });
      }
    }
    this.#advanceDrains(now);
    this.#flush(now);
  }

  #samples(node: NodeFullRow, hb: HeartbeatRequest, pools: number[], now: number): void {
    // Handshake times in ms by the master's clock (less the node's skew), so members' times compare.
    const skew = this.clocks?.skew(node.id) ?? null;
    const latest = new Map<string, { handshake: number; endpoint: string | null }>();
    for (const m of hb.metrics) {
      if (m.handshake <= 0) continue;
      const handshake = masterTime(m.handshake * 1000, skew, now); // WireGuard counts seconds
      const cur = latest.get(m.peer);
      if (!cur || handshake >= cur.handshake) latest.set(m.peer, { handshake, endpoint: m.endpoint });
    }
    if (latest.size === 0) return;
    const mine = new Set(pools);
    for (const p of poolsRepo.poolPeersByKey(this.db, [...latest.keys()])) {
      if (!mine.has(p.interface_id)) continue;
      const s = latest.get(p.public_key)!;
      if (p.handshake_at !== null && s.handshake <= p.handshake_at) continue; // not newer than the holder's
      const endpoint = s.endpoint ?? p.endpoint;
      poolsRepo.setHolder(this.db, {
        peer_id: p.peer_id,
        node_id: node.id,
        handshake_at: s.handshake,
        endpoint,
        updated_at: now,
      });
      if (p.holder !== node.id) this.#pending.add("local");
      if (endpoint !== p.endpoint) this.#pending.add(`pool:${p.interface_id}`);
    }
  }

  /** Draining members with no client held within SESSION_MS become safe to stop (their config drops peers). */
  #advanceDrains(now: number): void {
    for (const m of poolsRepo.draining(this.db)) { // one read per heartbeat, usually of nothing
      if (poolsRepo.heldSince(this.db, m.interface_id, m.node_id, now - SESSION_MS) > 0) continue;
      poolsRepo.setDrain(this.db, m.interface_id, m.node_id, m.drained_at, "safe");
      this.versions.bumpInTx([m.node_id]);
      this.versions.wake([m.node_id]);
    }
  }

  /** Bumps the targets whose window has passed (in the heartbeat's transaction; long-polls woken after). */
  #flush(now: number): void {
    for (const target of [...this.#pending]) {
      if (now - (this.#lastBump.get(target) ?? -Infinity) < COALESCE_MS) continue;
      this.#pending.delete(target);
      this.#lastBump.set(target, now);
      const ids = target === "local"
        ? [nodesFullRepo.local(this.db)?.id].filter((id): id is number => id !== undefined)
        : poolsRepo.memberIds(this.db, Number(target.slice(5)));
      if (ids.length === 0) continue;
      this.versions.bumpInTx(ids);
      this.versions.wake(ids);
    }
  }
}
