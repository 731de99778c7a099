// What a node that runs the fleet's resolver adds to its heartbeat: the resolver's report (when it
// changes, and every 20th beat) and up to 500 query-log entries, deleted once the master acknowledged
// their sequence. A full batch asks for the next heartbeat at once, so a busy resolver's log drains at
// the speed of the link, not one batch per interval.
import type { Logger } from "../../core/logger.ts";
import type { DnsReport, HeartbeatRequest } from "../../core/sync.ts";
import type { DnsLogQueue } from "./log_queue.ts";

export const DNS_BATCH = 500;

export class DnsBeat {
  #sentReport = "";
  #beats = 0;

  constructor(
    private readonly queue: Pick<DnsLogQueue, "batch" | "ack" | "stats">,
    /** The resolver's last report (null while the node's config has no `dns` section). */
    private readonly report: () => DnsReport | null,
    private readonly log: Logger,
  ) {}

  /** The heartbeat's DNS fields, and how many log entries they carry. */
  body(): { fields: Partial<HeartbeatRequest>; batch: number; reportKey: string } {
    let entries: HeartbeatRequest["dns_log"] = [];
    let dropped = 0;
    try {
      entries = this.queue.batch(DNS_BATCH);
      dropped = this.queue.stats().dropped;
    } catch (err) {
      this.log.warn("cannot read the query log queue", { error: (err as Error).message });
    }
    const report = this.report();
    const reportKey = JSON.stringify(report);
    const sendReport = report !== null && (reportKey !== this.#sentReport || this.#beats % 20 === 0);
    return {
      fields: {
        ...(sendReport ? { dns: report } : {}),
        ...(entries.length > 0 ? { dns_log: entries } : {}),
        ...(dropped > 0 ? { dns_dropped: dropped } : {}),
      },
      batch: entries.length,
      reportKey: sendReport ? reportKey : this.#sentReport,
    };
  }

  /** After a delivered heartbeat: deletes what the master stored; true when more entries wait. */
  delivered(sent: { batch: number; reportKey: string }, ackedSeq: number | undefined): boolean {
    this.#beats++;
    this.#sentReport = sent.reportKey;
    if (sent.batch === 0 || ackedSeq === undefined) return false;
    try {
      const deleted = this.queue.ack(ackedSeq);
      this.log.debug(`DNS log ACK: deleted ${deleted} entries (up to seq ${ackedSeq})`);
    } catch (err) {
      this.log.warn("cannot delete acknowledged query-log entries (they are sent again, and skipped)", {
        error: (err as Error).message,
      });
      return false;
    }
    return sent.batch >= DNS_BATCH;
  }
}
