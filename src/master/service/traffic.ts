// Traffic rates from the peers' WireGuard counters: the bytes between two consecutive samples divided by
// the time between them, spread over fixed time slots for a chart. A counter that goes down was reset
// (a device or peer re-created: a pool takeover, a node restart, a key rotation, a repair): it counted
// from zero again, so the interval contributes the new value, never a negative rate. That delta is taken
// between every two consecutive samples of a host as they are stored (runningTotals, metrics_intake.ts),
// before any slot or downsampled bucket keeps only its last sample: the chart reads the running totals,
// so a reset inside a slot loses nothing, at any resolution. Intervals longer than a gap leave their
// slots empty (unknown) rather than invent a flat average.
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { metricsRepo, trafficRepo, type TrafficScope } from "../db/nodes_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";

/** How long a downsampled row's bucket is, by resolution (see LivenessService.housekeeping). */
export const RESOLUTION_MS = [0, 5 * 60_000, 3_600_000] as const;

export type TrafficRange = "1h" | "24h" | "7d" | "30d";

export const TRAFFIC_RANGES: Record<TrafficRange, { spanMs: number; slotMs: number; label: string }> = {
  // Minutes from the raw samples (kept for a day before the first rollup): traffic shows at once.
  "1h": { spanMs: 3_600_000, slotMs: 60_000, label: "last hour" },
  "24h": { spanMs: 24 * 3_600_000, slotMs: 10 * 60_000, label: "last 24 hours" },
  "7d": { spanMs: 7 * 86_400_000, slotMs: 3_600_000, label: "last 7 days" },
  "30d": { spanMs: 30 * 86_400_000, slotMs: 4 * 3_600_000, label: "last 30 days" },
};

export function parseRange(v: string | undefined): TrafficRange {
  return v === "1h" || v === "7d" || v === "30d" ? v : "24h";
}

/** Running totals of one peer on one host at one time (ms): they never go down (see runningTotals). */
export type CounterSample = { key: string; at: number; rx: number; tx: number };

/** Bytes per second over the slot [at, at + slotMs); null where no interval covers the slot. */
export type TrafficPoint = { at: number; rx: number | null; tx: number | null };

export type TrafficSeries = {
  from: number;
  to: number;
  slotMs: number;
  points: TrafficPoint[];
  /** Bytes counted inside [from, to). */
  totals: { rx: number; tx: number };
  /** Samples read (0: nothing reported yet). */
  samples: number;
};

/** The longest interval between two samples still read as continuous traffic. */
export function gapMs(slotMs: number): number {
  return 2 * slotMs + 2 * 60_000;
}

/** Bytes sent between two readings of a counter: a counter that went down restarted from zero. */
export function counterDelta(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** A host's counters of a key as last stored, with the bytes it counted up to them. */
export type StoredCounters = { rx: number; tx: number; rx_total: number; tx_total: number };

/**
 * The running totals of a host's new sample: those of its previous one (in the order the host took
 * them) plus the bytes between the two; a host's first sample counts from zero. A duplicate adds nothing.
 */
export function runningTotals(
  previous: StoredCounters | null | undefined,
  next: { rx: number; tx: number },
): { rx_total: number; tx_total: number } {
  if (!previous) return { rx_total: next.rx, tx_total: next.tx };
  return {
    rx_total: previous.rx_total + counterDelta(previous.rx, next.rx),
    tx_total: previous.tx_total + counterDelta(previous.tx, next.tx),
  };
}

/**
 * Rates per slot of [from, to), summed over peers. `samples` (running totals) must be ordered by key,
 * then time. Each interval's bytes are spread evenly over its duration; a slot's rate for one peer is its
 * bytes over the part of the slot that peer's intervals cover, so a half-finished last slot is not
 * diluted. A total below an earlier one (a sample dated before one that arrived earlier) adds nothing
 * until the totals pass the highest seen: each byte counts once.
 */
export function slotRates(
  samples: CounterSample[],
  window: { from: number; to: number; slotMs: number },
): TrafficSeries {
  const { from, to, slotMs } = window;
  const n = Math.max(0, Math.ceil((to - from) / slotMs));
  const rate = { rx: new Array<number | null>(n).fill(null), tx: new Array<number | null>(n).fill(null) };
  const totals = { rx: 0, tx: 0 };
  const maxGap = gapMs(slotMs);

  // One peer's bytes and covered milliseconds per slot, flushed into `rate` when the peer ends.
  let bytes = new Map<number, { rx: number; tx: number; ms: number }>();
  const flush = () => {
    for (const [slot, b] of bytes) {
      if (b.ms <= 0) continue;
      rate.rx[slot] = (rate.rx[slot] ?? 0) + (b.rx / b.ms) * 1000;
      rate.tx[slot] = (rate.tx[slot] ?? 0) + (b.tx / b.ms) * 1000;
    }
    bytes = new Map();
  };

  let prev: CounterSample | null = null;
  for (const s of samples) {
    if (!prev || prev.key !== s.key) {
      flush();
      prev = s;
      continue;
    }
    const dt = s.at - prev.at;
    if (dt <= 0) continue; // the same instant twice: keep the first
    if (dt <= maxGap) {
      const drx = Math.max(0, s.rx - prev.rx);
      const dtx = Math.max(0, s.tx - prev.tx);
      const start = Math.max(prev.at, from);
      const end = Math.min(s.at, to);
      for (let slot = Math.floor((start - from) / slotMs); slot < n && from + slot * slotMs < end; slot++) {
        const lo = Math.max(start, from + slot * slotMs);
        const hi = Math.min(end, from + (slot + 1) * slotMs);
        if (hi <= lo) continue;
        const share = (hi - lo) / dt;
        const b = bytes.get(slot) ?? { rx: 0, tx: 0, ms: 0 };
        b.rx += drx * share;
        b.tx += dtx * share;
        b.ms += hi - lo;
        bytes.set(slot, b);
        totals.rx += drx * share;
        totals.tx += dtx * share;
      }
    }
    prev = { ...s, rx: Math.max(prev.rx, s.rx), tx: Math.max(prev.tx, s.tx) };
  }
  flush();

  return {
    from,
    to,
    slotMs,
    points: rate.rx.map((rx, i) => ({ at: from + i * slotMs, rx, tx: rate.tx[i] ?? null })),
    totals: { rx: Math.round(totals.rx), tx: Math.round(totals.tx) },
    samples: samples.length,
  };
}

export type LatestSample = { at: number; handshakeAt: number | null; endpoint: string | null };

export class TrafficService {
  constructor(private readonly db: Db, private readonly clock: Clock) {}

  #series(scope: TrafficScope, range: TrafficRange): TrafficSeries {
    const { spanMs, slotMs } = TRAFFIC_RANGES[range];
    // Slots end at the next slot boundary after now; one slot before `from` gives the first rate a start.
    const to = (Math.floor(this.clock.now() / slotMs) + 1) * slotMs;
    const from = to - spanMs;
    const rows = trafficRepo.lastPerSlot(this.db, scope, {
      from: from - slotMs,
      to,
      slotMs,
      res1Ms: RESOLUTION_MS[1],
      res2Ms: RESOLUTION_MS[2],
    });
    // One series per key and reporting host: two hosts' totals never take deltas from each other.
    const samples = rows.map((r) => ({
      key: `${r.public_key} ${r.node_id ?? 0}`,
      at: r.at,
      rx: r.rx,
      tx: r.tx,
    }));
    return slotRates(samples, { from, to, slotMs });
  }

  /** All WireGuard peers together (node tunnels excluded). */
  total(range: TrafficRange = "24h"): TrafficSeries {
    return this.#series({ kind: "peers" }, range);
  }

  /** The peers one host served (null: the master itself), as that host reported them. */
  forHost(nodeId: number | null, range: TrafficRange = "24h"): TrafficSeries {
    return this.#series({ kind: "host", nodeId }, range);
  }

  forPeer(publicKey: string, range: TrafficRange = "24h"): TrafficSeries {
    return this.#series({ kind: "key", publicKey }, range);
  }

  /** The newest sample of a peer: its latest handshake (0 in WireGuard means never) and endpoint. */
  latest(publicKey: string): LatestSample | null {
    const l = this.latestMany([publicKey]).get(publicKey);
    return l ? { at: l.at, handshakeAt: l.handshakeAt, endpoint: l.endpoint } : null;
  }

  /**
   * The newest sample of each of these peers, with its counters (what the peers list shows live). A
   * failover pool's client is reported by every member, each with its own counters: its counters are the
   * sum of each member's newest, its handshake and endpoint those of the newest handshake (the member
   * serving it), so they do not flip between members from one heartbeat to the next.
   */
  latestMany(publicKeys: string[]): Map<string, LatestSample & { rx: number; tx: number }> {
    const out = new Map<string, LatestSample & { rx: number; tx: number }>();
    const keys = [...new Set(publicKeys)];
    const pool = new Set(poolsRepo.poolPeersByKey(this.db, keys).map((p) => p.public_key));
    for (const r of pool.size > 0 ? poolsRepo.latestPerHost(this.db, [...pool]) : []) {
      const cur = out.get(r.public_key);
      const handshakeAt = r.handshake > 0 ? r.handshake * 1000 : null;
      const newer = !cur || (handshakeAt ?? 0) > (cur.handshakeAt ?? 0);
      out.set(r.public_key, {
        at: Math.max(r.at, cur?.at ?? 0),
        handshakeAt: newer ? handshakeAt : cur!.handshakeAt,
        endpoint: newer ? r.endpoint : cur!.endpoint,
        rx: r.rx + (cur?.rx ?? 0),
        tx: r.tx + (cur?.tx ?? 0),
      });
    }
    for (const key of keys) {
      if (pool.has(key)) continue;
      const r = trafficRepo.newest(this.db, key);
      if (!r) continue;
      out.set(key, {
        at: r.at,
        handshakeAt: r.handshake > 0 ? r.handshake * 1000 : null,
        endpoint: r.endpoint,
        rx: r.rx,
        tx: r.tx,
      });
    }
    return out;
  }

  /** Peers with the most recent handshakes in samples since `since` (ms), newest first, with their names. */
  recentHandshakes(since: number, limit: number) {
    return metricsRepo.latestHandshakes(this.db, since, limit);
  }
}
