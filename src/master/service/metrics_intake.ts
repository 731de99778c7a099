// A heartbeat's traffic samples, stored exactly once (by sequence number) inside the heartbeat's
// transaction: only the node's own peers and tunnel, dated by the master's clock (shifted by the node's
// measured skew, never in the future), one row per key, reporting host and millisecond, each with the
// running totals of its host (the bytes since the host's previous sample of the key, resets from zero).
import type { Logger } from "../../core/logger.ts";
import type { HeartbeatRequest } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import { metricsRepo, type NodeFullRow } from "../db/nodes_repo.ts";
import { masterTimes, type NodeClocks } from "./node_clocks.ts";
import { runningTotals } from "./traffic.ts";

/** How far back a re-dated sample looks for a free millisecond of its key. */
const REDATED_SEARCH_MS = 1_000;

export class MetricsIntake {
  #foreign = new Map<number, { loggedAt: number; dropped: number }>();

  constructor(private readonly db: Db, private readonly log: Logger, private readonly clocks: NodeClocks) {}

  /** Stores the samples the node has not sent before; call inside the heartbeat's transaction. */
  storeInTx(
    node: NodeFullRow,
    hb: HeartbeatRequest,
    firstInterface: number | null,
    now: number,
    poolKeys: string[] = [],
  ): void {
    const host = node.is_local ? null : node.id;
    // Its own peers and tunnel, and the clients of the failover pools it is a member of (pool_intake.ts).
    const own = hb.metrics.length > 0 && firstInterface !== null
      ? new Set([...metricsRepo.reportableKeys(this.db, host, firstInterface), ...poolKeys])
      : new Set<string>();
    // Seen before: at-least-once delivery, exactly-once storage (by sequence number).
    let last = node.last_metric_seq;
    const fresh: typeof hb.metrics = [];
    for (const m of hb.metrics) {
      if (m.seq <= last) continue;
      fresh.push(m);
      last = m.seq;
    }
    // Another host's peer (or no peer at all): dropped, but acked below so the node does not resend it.
    const mine = fresh.filter((m) => own.has(m.peer));
    const foreign = fresh.length - mine.length;
    let future = 0;
    const skew = this.clocks.skew(node.id);
    // Dated by the master's clock: shifted by the node's skew, never in the future.
    const times = masterTimes(mine, skew, now);
    mine.forEach((m, i) => {
      if (times[i]! < m.at) future++;
      // Its totals continue the host's previous sample of the key (in the node's order, not by time).
      const totals = runningTotals(metricsRepo.previous(this.db, m.peer, host), m);
      const sample = {
        public_key: m.peer,
        node_id: host,
        rx: m.rx,
        tx: m.tx,
        handshake: m.handshake,
        ...totals,
      };
      // A time this host's key already holds can only be an earlier heartbeat's re-dated sample:
      // this one takes the free millisecond before it (a node's own times never repeat per key).
      for (let at = times[i]!; at > times[i]! - REDATED_SEARCH_MS; at--) {
        if (metricsRepo.insertRaw(this.db, { ...sample, at, endpoint: m.endpoint }) === 1) break;
      }
    });
    if (foreign > 0) this.#foreignSamples(node, foreign, now);
    const redated = future > 0 ? this.clocks.futureSamples(node.id, future, now) : null;
    if (redated !== null) {
      this.log.warn("future-dated traffic samples stored at the master's time", {
        node: node.name,
        samples: redated,
        skew_ms: skew ?? 0,
      });
    }
  }

  /** Logs dropped foreign samples at most once a minute per node, with the count since the last line. */
  #foreignSamples(node: NodeFullRow, n: number, now: number): void {
    const seen = this.#foreign.get(node.id) ?? { loggedAt: -Infinity, dropped: 0 };
    seen.dropped += n;
    if (now - seen.loggedAt >= 60_000) {
      this.log.warn("dropped foreign traffic samples: a node reports only its own peers and tunnel", {
        node: node.name,
        node_id: node.id,
        dropped: seen.dropped,
      });
      seen.loggedAt = now;
      seen.dropped = 0;
    }
    this.#foreign.set(node.id, seen);
  }
}
