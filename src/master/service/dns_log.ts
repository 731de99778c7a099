// The DNS query log: replies of the master's Unbound, delivered by the `local` node in its
// at-least-once queue with sequence numbers, stored exactly once (a node's last stored sequence moves in
// the same transaction as the rows), named by the peer whose tunnel address asked, with the node that
// peer is on, the answer, and whether the name was blocked. Search, top lists, a time series, retention.
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { DnsLogEntry, DnsReport } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import {
  dnsListsRepo,
  dnsNodeStateRepo,
  dnsPeersRepo,
  dnsQueriesRepo,
  type DnsQueryRow,
  dnsSettingsRepo,
} from "../db/dns_repo.ts";
import type { DnsService } from "./dns.ts";
import type { Family } from "./prom.ts";

export type DnsQueryView = {
  id: number;
  at: number;
  via: string;
  client: string;
  peerId: number | null;
  peerName: string;
  qname: string;
  qtype: string;
  rcode: string;
  answer: string;
  blocked: boolean;
};

export type DnsStats = {
  total: number;
  blocked: number;
  topDomains: { qname: string; count: number }[];
  topBlocked: { qname: string; count: number }[];
  overTime: { at: number; total: number; blocked: number }[];
};

export type DnsQuerySearch = {
  q?: string;
  blocked?: boolean | null;
  peerId?: number | null;
  before?: number;
  limit?: number;
  sinceMs?: number;
};

const hostOf = (cidr: string) => cidr.slice(0, cidr.indexOf("/"));
const view = (r: DnsQueryRow): DnsQueryView => ({
  id: r.id,
  at: r.at,
  via: r.via,
  client: r.client,
  peerId: r.peer_id,
  peerName: r.peer_name,
  qname: r.qname,
  qtype: r.qtype,
  rcode: r.rcode,
  answer: r.answer,
  blocked: r.blocked === 1,
});

export class DnsLogService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly dns: DnsService,
    private readonly log: Logger,
  ) {}

  /**
   * Stores a heartbeat's query-log entries and the resolver's report. Entries at or below the node's
   * last stored sequence were stored before (a resent batch) and are skipped. Returns the sequence to ack.
   */
  intake(
    node: { id: number; name: string },
    entries: DnsLogEntry[],
    dropped: number,
    report?: DnsReport,
  ): number {
    return this.db.tx(() => {
      dnsNodeStateRepo.ensure(this.db, node.id);
      const state = dnsNodeStateRepo.get(this.db, node.id)!;
      if (report) {
        dnsNodeStateRepo.setStatus(this.db, node.id, { ...report, at: this.clock.now() });
        if ((state.running === 1) !== report.running || state.error !== report.error) {
          this.log.info("DNS resolver status", {
            node: node.name,
            running: report.running,
            detail: report.detail,
          });
        }
      }
      const fresh = entries.filter((e) => e.seq > state.last_seq);
      if (fresh.length === 0) return state.last_seq;
      const settings = dnsSettingsRepo.get(this.db);
      const byAddress = new Map<string, ReturnType<typeof dnsPeersRepo.all>[number]>();
      for (const p of dnsPeersRepo.all(this.db)) {
        byAddress.set(hostOf(p.ipv4), p);
        if (p.ipv6) byAddress.set(hostOf(p.ipv6), p);
      }
      let last = state.last_seq;
      for (const e of fresh.sort((a, b) => a.seq - b.seq)) {
        last = e.seq;
        const peer = byAddress.get(e.client) ?? null;
        if (settings.log_queries !== 1 || peer?.log === 0) continue; // opted out: acked, not stored
        const prefs = peer
          ? {
            blocking: peer.blocking !== 0,
            lists: peer.lists === null ? null : JSON.parse(peer.lists) as number[],
          }
          : null;
        const blocked = this.dns.isBlocked(e.qname, prefs) && blockedReply(settings.block_mode, e);
        dnsQueriesRepo.insert(this.db, {
          at: e.at,
          src_node: node.id,
          seq: e.seq,
          via: peer ? peer.node_name ?? "master" : "",
          client: e.client,
          peer_id: peer?.id ?? null,
          peer_name: peer?.name ?? "",
          qname: e.qname.replace(/\.$/, ""),
          qtype: e.qtype,
          rcode: e.rcode,
          answer: e.answer,
          blocked: blocked ? 1 : 0,
        });
      }
      dnsNodeStateRepo.setSeq(this.db, node.id, last, Math.max(state.dropped, dropped));
      return last;
    });
  }

  search(s: DnsQuerySearch = {}): DnsQueryView[] {
    return dnsQueriesRepo.search(this.db, {
      q: (s.q ?? "").trim().slice(0, 200),
      blocked: s.blocked ?? null,
      peerId: s.peerId ?? null,
      since: s.sinceMs ? this.clock.now() - s.sinceMs : 0,
      before: s.before ?? 0,
      limit: Math.min(Math.max(s.limit ?? 100, 1), 500),
    }).map(view);
  }

  /** Totals, top domains, top blocked and queries over time for the last `windowMs` (default 24 h). */
  stats(windowMs = 24 * 3_600_000, top = 10): DnsStats {
    const since = this.clock.now() - windowMs;
    const bucket = windowMs <= 3_600_000 ? 60_000 : windowMs <= 24 * 3_600_000 ? 3_600_000 / 4 : 3_600_000;
    const totals = dnsQueriesRepo.totals(this.db, since);
    const tops = (blocked: boolean | null) =>
      dnsQueriesRepo.top(this.db, since, blocked, top).map((r) => ({ qname: r.qname, count: r.n }));
    return {
      total: totals.total,
      blocked: totals.blocked,
      topDomains: tops(null),
      topBlocked: tops(true),
      overTime: dnsQueriesRepo.overTime(this.db, since, bucket).map((r) => ({
        at: r.bucket,
        total: r.total,
        blocked: r.blocked,
      })),
    };
  }

  /** Scheduled: deletes entries older than the retention setting. */
  purge(): number {
    const days = dnsSettingsRepo.get(this.db).log_retention_days;
    const n = dnsQueriesRepo.deleteBefore(this.db, this.clock.now() - days * 86_400_000);
    if (n > 0) this.log.info("DNS query log: deleted old entries", { deleted: n, retention_days: days });
    return n;
  }

  count(): number {
    return dnsQueriesRepo.count(this.db);
  }

  /** DNS families for GET /metrics: the resolver's state, stored queries, blocked queries, list sizes. */
  metrics(): Family[] {
    const st = this.dns.status();
    const totals = dnsQueriesRepo.totals(this.db, 0);
    const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({
      name,
      help,
      type: "gauge",
      samples,
    });
    return [
      gauge("wirebuddy_dns_enabled", "1 when the fleet's DNS service is on", [{
        labels: {},
        value: st.enabled ? 1 : 0,
      }]),
      gauge("wirebuddy_dns_up", "1 when the master's Unbound runs (as its local node last reported)", [
        { labels: {}, value: st.running ? 1 : 0 },
      ]),
      gauge("wirebuddy_dns_log_queries", "Queries in the DNS query log (within retention)", [
        { labels: {}, value: totals.total },
      ]),
      gauge("wirebuddy_dns_log_blocked", "Blocked queries in the DNS query log (within retention)", [
        { labels: {}, value: totals.blocked },
      ]),
      gauge(
        "wirebuddy_dns_blocklist_domains",
        "Domains in each blocklist",
        dnsListsRepo.list(this.db).map((l) => ({ labels: { list: l.name }, value: l.domain_count })),
      ),
    ];
  }
}

/** The reply Unbound gives a blocked name in this mode. */
function blockedReply(mode: string, e: DnsLogEntry): boolean {
  if (mode === "refuse") return e.rcode === "REFUSED";
  if (mode === "nxdomain") return e.rcode === "NXDOMAIN";
  return e.rcode === "NOERROR" && /^(0\.0\.0\.0|::)?$/.test(e.answer);
}
