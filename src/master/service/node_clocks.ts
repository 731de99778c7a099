// What the master knows of each node's clock: the skew of its latest proven request (the timestamp the
// node signed against the master's own clock when it arrived; positive = the node is ahead). Kept in
// memory: after a restart the next request tells it again. Shown on the node's page and in the API,
// named in the refusal of a request outside the clock window, and used to date the node's samples.

/** Below this a skew is network delay and rounding, not a wrong clock. */
export const NOTABLE_SKEW_MS = 2_000;

export class NodeClocks {
  #skews = new Map<number, number>();
  #future = new Map<number, { loggedAt: number; count: number }>();

  record(nodeId: number, skewMs: number): void {
    this.#skews.set(nodeId, skewMs);
  }

  /** The node's clock minus the master's, from its latest request (null: not heard from since the start). */
  skew(nodeId: number): number | null {
    return this.#skews.get(nodeId) ?? null;
  }

  /**
   * Counts samples a node dated in the future; returns how many to report when a line is due (at most
   * one a minute per node), else null.
   */
  futureSamples(nodeId: number, count: number, now: number): number | null {
    const f = this.#future.get(nodeId) ?? { loggedAt: -Infinity, count: 0 };
    f.count += count;
    this.#future.set(nodeId, f);
    if (now - f.loggedAt < 60_000) return null;
    const n = f.count;
    f.loggedAt = now;
    f.count = 0;
    return n;
  }
}

/** "10m ahead of", "3m12s behind", "1s ahead of": how a skew reads in a sentence about the master's clock. */
export function describeSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 60 ? `${s}s` : s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
  return `${text} ${ms >= 0 ? "ahead of" : "behind"}`;
}

/**
 * A sample's time by the master's clock: the node's own time less the node's skew (when notable); one
 * still ahead of `now` by more than network noise is stored at `now`. Samples queued during an outage
 * keep their (corrected) past times.
 */
export function masterTime(at: number, skewMs: number | null, now: number): number {
  const corrected = skewMs !== null && Math.abs(skewMs) >= NOTABLE_SKEW_MS ? at - skewMs : at;
  return corrected > now + NOTABLE_SKEW_MS ? now : corrected;
}

/**
 * The master's times of one heartbeat's samples, in their order (masterTime each). Samples of one key
 * clamped to `now` would share a time (with each other, or with one the node dated `now`): each is
 * stored a millisecond before the next of its key, so every sample keeps a time of its own and the
 * counters stay in order.
 */
export function masterTimes(
  samples: readonly { peer: string; at: number }[],
  skewMs: number | null,
  now: number,
): number[] {
  const times = samples.map((s) => masterTime(s.at, skewMs, now));
  const next = new Map<string, { at: number; moved: boolean }>();
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    let moved = times[i] !== masterTime(s.at, skewMs, Infinity); // clamped
    const later = next.get(s.peer);
    if (later?.moved && times[i]! >= later.at) {
      times[i] = later.at - 1;
      moved = true;
    }
    next.set(s.peer, { at: times[i]!, moved });
  }
  return times;
}
