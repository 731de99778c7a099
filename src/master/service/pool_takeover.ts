// DNS-mode failover pools: moving running clients. A stock client resolves the pool's name once, when its
// tunnel starts, and keeps sending to that address (WireGuard never resolves again), so the records
// dropping a dead member move nobody who is connected. When the member holding a client (pool_holders)
// is no longer healthy (pool_settings.ts: offline, a failed tunnel check, a fresh `fault`) or is drained,
// the master tells the healthy undrained member with the highest priority to take the client over: that
// member's config gets `pool.takeover` (the clients' keys and an epoch that changes whenever the set
// does), and the member starts the handshake itself (node/pools/takeover.ts, as a VRRP master does).
// The client answers and roams to it; the member's next samples make it the holder, which ends the
// takeover. A client held by a healthy member is never taken, so a member that comes back does not
// steal its clients back.
//
// planTakeover() decides (pure); dnsTakeovers() reads one pool's state for it (pool_config.ts renders a
// member's part from it, so a restarted master says the same); PoolTakeovers bumps a member as soon as
// its part changes, after each round of health checks (scheduler.ts), where a death is noticed.
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { PoolConfig } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import type { ConfigVersions } from "./config_versions.ts";
import { memberHealthy } from "./pool_settings.ts";

export type Takeover = NonNullable<PoolConfig["takeover"]>;
/** A member: `serving` when healthy and not drained. */
export type TakeoverMember = { node_id: number; priority: number; serving: boolean };
/** A client someone holds: the holder, its newest handshake (ms) and the client's last endpoint. */
export type HeldClient = {
  public_key: string;
  node_id: number;
  handshake_at: number;
  endpoint: string | null;
};

/** A stable 53-bit number for a text (cyrb53): the same set gives the same epoch, another set another one. */
function hash53(text: string): number {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Who takes which clients over in one DNS-mode pool: the serving member with the highest priority (then
 * the lowest node id) gets every client with an endpoint whose holder is not serving. The epoch is made
 * from the pool, that member and each client's key, holder and handshake: it stays while nothing moves
 * (a dead holder's row is frozen) and changes with the set, also when the same client comes back to it.
 */
export function planTakeover(
  poolId: number,
  members: TakeoverMember[],
  clients: HeldClient[],
): Map<number, Takeover> {
  const serving = members.filter((m) => m.serving);
  const target = [...serving].sort((a, b) => b.priority - a.priority || a.node_id - b.node_id)[0];
  if (!target) return new Map(); // nobody to move them to
  const up = new Set(serving.map((m) => m.node_id));
  const moved = clients.filter((c) => c.endpoint && !up.has(c.node_id))
    .sort((a, b) => a.public_key < b.public_key ? -1 : a.public_key > b.public_key ? 1 : 0);
  if (moved.length === 0) return new Map();
  const epoch = hash53(
    JSON.stringify([poolId, target.node_id, moved.map((c) => [c.public_key, c.node_id, c.handshake_at])]),
  );
  return new Map([[target.node_id, { epoch, keys: moved.map((c) => c.public_key) }]]);
}

/** A DNS-mode pool's takeovers now, by member node id (empty for a VRRP pool: keepalived moves those). */
export function dnsTakeovers(db: Db, poolId: number, now: number): Map<number, Takeover> {
  if (poolsRepo.settings(db, poolId)?.pool_announce !== "dns") return new Map();
  const members = poolsRepo.members(db, poolId).map((m) => ({
    node_id: m.node_id,
    priority: m.priority,
    serving: m.drained_at === null && memberHealthy(db, m, now),
  }));
  return planTakeover(poolId, members, poolsRepo.heldOn(db, poolId, now));
}

/** After each round of health checks: bumps every member whose takeover appeared, changed or ended. */
export class PoolTakeovers {
  /** "pool node" → the epoch its config carries. */
  #last = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly versions: Pick<ConfigVersions, "bumpInTx" | "wake">,
  ) {}

  /** Returns the members bumped. Never throws (the scheduler's job logs a failure anyway). */
  review(): number[] {
    const now = this.clock.now();
    const next = new Map<string, number>();
    const changed = new Set<number>();
    for (const p of poolsRepo.list(this.db)) {
      if (p.pool_announce !== "dns") continue;
      for (const [node, t] of dnsTakeovers(this.db, p.id, now)) {
        const k = `${p.id} ${node}`;
        next.set(k, t.epoch);
        if (this.#last.get(k) === t.epoch) continue;
        changed.add(node);
        this.log.info("pool clients to take over", {
          pool: p.id,
          node,
          clients: t.keys.length,
          epoch: t.epoch,
        });
      }
    }
    for (const k of this.#last.keys()) if (!next.has(k)) changed.add(Number(k.split(" ")[1]));
    this.#last = next;
    if (changed.size === 0) return [];
    const ids = [...changed];
    this.db.tx(() => this.versions.bumpInTx(ids));
    this.versions.wake(ids);
    return ids;
  }
}
