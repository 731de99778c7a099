// Spreads a fleet's periodic requests over time. Nodes that applied one fleet-wide change at the same
// moment would otherwise heartbeat in step forever after (a herd every interval); a random share of
// each interval drifts them apart. Never longer than the interval, so the master's liveness window
// (3 intervals) holds as before.

/** The wait before the next heartbeat: between 80 % and 100 % of `ms`, at random. */
export function heartbeatWait(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.8 + 0.2 * random()));
}
