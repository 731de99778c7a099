// GET /metrics: the whole fleet in Prometheus' text format (version 0.0.4). Per node: status, last seen
// age, consecutive check failures, check latency, current and applied config version, last apply
// duration, sync latency, queue depth and dropped samples; per peer: rx/tx bytes (the newest stored
// sample, the node's own counters; a failover pool's client: the sum of every member's latest counters,
// node="pool <name>") and handshake age; the master's process and outbox.
import { timingSafeEqual } from "node:crypto";
import type { Clock } from "../../core/ports/types.ts";
import type { Secret } from "../../core/secret.ts";
import type { Db } from "../db/db.ts";
import { nodeHealthRepo, promRepo, reportsRepo } from "../db/node_health_repo.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { deliveriesRepo } from "../db/webhooks_repo.ts";

export type ProcessStats = () => { rssBytes: number; heapUsedBytes: number };

type Sample = { labels: Record<string, string>; value: number };
export type Family = { name: string; help: string; type: "gauge" | "counter"; samples: Sample[] };

const STATUSES = ["pending", "online", "error", "offline", "unreachable"] as const;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      out.push(`${f.name}${labels ? `{${labels}}` : ""} ${num(s.value)}`);
    }
  }
  return out.join("\n") + "\n";
}

export class PromService {
  readonly #startedAt: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly opts: {
      processStats: ProcessStats;
      version: string;
      scrapeToken: Secret | null;
      /** More families from other services (DNS). */
      extra?: () => Family[];
    },
  ) {
    this.#startedAt = clock.now();
  }

  /** Whether `token` is the scrape token (constant time); false when none is configured. */
  isScrapeToken(token: string): boolean {
    const want = this.opts.scrapeToken?.reveal();
    if (!want) return false;
    const a = new TextEncoder().encode(token);
    const b = new TextEncoder().encode(want);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  render(): string {
    const now = this.clock.now();
    const nodes = nodesFullRepo.list(this.db);
    const health = new Map(nodeHealthRepo.all(this.db).map((h) => [h.node_id, h]));
    const reports = new Map(reportsRepo.all(this.db).map((r) => [r.node_id, r]));
    const fam = (name: string, help: string, type: Family["type"] = "gauge"): Family => ({
      name,
      help,
      type,
      samples: [],
    });
    const status = fam(
      "wirebuddy_node_status",
      "1 for the node's current status (pending, online, error, offline, unreachable)",
    );
    const up = fam(
      "wirebuddy_node_up",
      "1 when the node is online (recent heartbeat and passing tunnel check)",
    );
    const seen = fam("wirebuddy_node_last_seen_age_seconds", "Seconds since the node's last heartbeat");
    const failures = fam("wirebuddy_node_health_failures", "Consecutive failed tunnel health checks");
    const checkLatency = fam(
      "wirebuddy_node_health_check_latency_seconds",
      "Latency of the last tunnel health check",
    );
    const current = fam("wirebuddy_node_config_version", "The node's current config version on the master");
    const applied = fam(
      "wirebuddy_node_applied_config_version",
      "The config version the node last applied cleanly",
    );
    const applyDur = fam("wirebuddy_node_apply_duration_seconds", "Duration of the node's last apply");
    const syncLat = fam(
      "wirebuddy_node_sync_latency_seconds",
      "Round trip of the node's last sync request, as it reports",
    );
    const queue = fam("wirebuddy_node_queue_depth", "Samples waiting in the node's at-least-once queue");
    const dropped = fam(
      "wirebuddy_node_metrics_dropped_total",
      "Samples the node dropped because its queue was full",
      "counter",
    );
    for (const n of nodes) {
      const node = { node: n.name };
      for (const s of STATUSES) {
        status.samples.push({ labels: { ...node, status: s }, value: n.status === s ? 1 : 0 });
      }
      up.samples.push({ labels: node, value: n.status === "online" ? 1 : 0 });
      if (n.last_seen_at !== null) {
        seen.samples.push({ labels: node, value: Math.max(0, (now - n.last_seen_at) / 1000) });
      }
      const h = health.get(n.id);
      if (!n.is_local) failures.samples.push({ labels: node, value: h?.failures ?? 0 });
      const opt = (f: Family, v: number | null | undefined, scale = 1) => {
        if (v !== null && v !== undefined) f.samples.push({ labels: node, value: v / scale });
      };
      opt(checkLatency, h?.last_latency_ms, 1000);
      current.samples.push({ labels: node, value: n.config_version });
      applied.samples.push({ labels: node, value: n.applied_version });
      const r = reports.get(n.id);
      opt(applyDur, r?.apply_ms, 1000);
      opt(syncLat, r?.sync_latency_ms, 1000);
      opt(queue, r?.queue_depth);
      dropped.samples.push({ labels: node, value: n.dropped_metrics });
    }
    const rx = fam(
      "wirebuddy_peer_rx_bytes_total",
      "Bytes received from the peer (WireGuard counter, newest sample; a pool client: summed over members)",
      "counter",
    );
    const tx = fam(
      "wirebuddy_peer_tx_bytes_total",
      "Bytes sent to the peer (WireGuard counter, newest sample; a pool client: summed over members)",
      "counter",
    );
    const hs = fam(
      "wirebuddy_peer_latest_handshake_age_seconds",
      "Seconds since the peer's latest handshake (newest sample)",
    );
    for (const p of promRepo.peerCounters(this.db)) {
      const labels = { peer: p.peer, interface: p.iface, node: p.node, public_key: p.public_key };
      rx.samples.push({ labels, value: p.rx });
      tx.samples.push({ labels, value: p.tx });
      if (p.handshake > 0) hs.samples.push({ labels, value: Math.max(0, now / 1000 - p.handshake) });
    }
    const counts = new Map(deliveriesRepo.counts(this.db).map((c) => [c.state, c.n]));
    const outbox = fam("wirebuddy_webhook_deliveries", "Webhook deliveries in the outbox, by state");
    for (const s of ["pending", "delivered", "failed"] as const) {
      outbox.samples.push({ labels: { state: s }, value: counts.get(s) ?? 0 });
    }
    const p = this.opts.processStats();
    const proc = [
      {
        ...fam("wirebuddy_build_info", "The master's version"),
        samples: [{ labels: { version: this.opts.version }, value: 1 }],
      },
      {
        ...fam("wirebuddy_master_start_time_seconds", "When the master process started (unix seconds)"),
        samples: [{ labels: {}, value: Math.floor(this.#startedAt / 1000) }],
      },
      {
        ...fam("wirebuddy_master_resident_memory_bytes", "Resident memory of the master process"),
        samples: [{ labels: {}, value: p.rssBytes }],
      },
      {
        ...fam("wirebuddy_master_heap_used_bytes", "JavaScript heap in use by the master process"),
        samples: [{ labels: {}, value: p.heapUsedBytes }],
      },
    ];
    return renderFamilies([
      status,
      up,
      seen,
      failures,
      checkLatency,
      current,
      applied,
      applyDur,
      syncLat,
      queue,
      dropped,
      rx,
      tx,
      hs,
      outbox,
      ...proc,
      ...(this.opts.extra?.() ?? []),
    ]);
  }
}
