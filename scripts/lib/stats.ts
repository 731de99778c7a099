// Small measuring helpers shared by scripts/bench-fleet and the master it runs (scripts/lib/fleet_master.ts).

/** The p-th percentile of `xs` (p = 100: the largest); NaN when there is none. */
export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * This process's event-loop lag: how late a 50 ms timer fires, pushed onto what `lags()` gives (nothing
 * while it gives null).
 * Returns the timer, for clearInterval.
 */
export function lagMeter(lags: () => number[] | null): ReturnType<typeof setInterval> {
  let at = performance.now();
  return setInterval(() => {
    const t = performance.now();
    lags()?.push(Math.max(0, t - at - 50));
    at = t;
  }, 50);
}
