// DNS for the whole fleet: the settings of the master's Unbound, operator rules and records, each peer's
// choices, the pause switch, and the desired state the master's `local` node applies (Unbound include
// files, rendered by dns_render.ts). The master never touches Unbound itself: every change bumps the
// local node's config version, and that node writes the files and reloads Unbound.
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { NodeDnsConfig } from "../../core/sync.ts";
import type { Db } from "../db/db.ts";
import {
  dnsNodeStateRepo,
  dnsPeersRepo,
  dnsRecordsRepo,
  dnsRulesRepo,
  dnsSettingsRepo,
  type DnsSettingsRow,
} from "../db/dns_repo.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { HostChanges } from "./config_versions.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { dnsDesiredInput, hostOf, peerLabels, prefsOf, renderDnsConfig } from "./dns_desired.ts";
import { blockedSet, type DnsDesiredInput } from "./dns_render.ts";
import {
  DnsPauseSchema,
  DnsPeerPrefsSchema,
  DnsRecordInputSchema,
  DnsRuleInputSchema,
  DnsSettingsSchema,
} from "./dns_schemas.ts";
import { type DnsPeerView, type DnsSettings, type DnsStatus, settingsView } from "./dns_views.ts";
import { parseInput } from "./validate.ts";

export type { DnsPeerView, DnsSettings, DnsStatus } from "./dns_views.ts";

export class DnsService {
  #blocked: { key: string; set: Map<string, Set<string>> } | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly hosts: HostChanges,
  ) {}

  /** The resolver's configuration changed: the master's host gets a new config version. */
  changed(): void {
    this.#blocked = null;
    this.hosts.hostsChanged([null]);
  }

  settings(): DnsSettings {
    return settingsView(dnsSettingsRepo.get(this.db), this.clock.now());
  }

  updateSettings(actor: Actor, meta: RequestMeta | null, input: unknown): DnsSettings {
    requireAdmin(actor);
    const d = parseInput(DnsSettingsSchema, input, "DNS settings");
    const cur = dnsSettingsRepo.get(this.db);
    const next: DnsSettingsRow = {
      ...cur,
      ...(d.enabled !== undefined ? { enabled: d.enabled ? 1 : 0 } : {}),
      ...(d.zone !== undefined ? { zone: d.zone } : {}),
      ...(d.upstreams !== undefined ? { upstreams: d.upstreams.map((u) => u.trim()).join("\n") } : {}),
      ...(d.dnssec !== undefined ? { dnssec: d.dnssec ? 1 : 0 } : {}),
      ...(d.insecure_domains !== undefined ? { insecure_domains: d.insecure_domains.join("\n") } : {}),
      ...(d.block_mode !== undefined ? { block_mode: d.block_mode } : {}),
      ...(d.log_queries !== undefined ? { log_queries: d.log_queries ? 1 : 0 } : {}),
      ...(d.log_retention_days !== undefined ? { log_retention_days: d.log_retention_days } : {}),
      ...(d.refresh_hours !== undefined ? { refresh_hours: d.refresh_hours } : {}),
      updated_at: this.clock.now(),
    };
    const changed = (Object.keys(next) as (keyof DnsSettingsRow)[])
      .filter((k) => k !== "updated_at" && next[k] !== cur[k]);
    if (changed.length === 0) return this.settings();
    this.db.tx(() => {
      dnsSettingsRepo.update(this.db, next);
      this.audit.record(actor, meta, { action: "dns.settings", detail: changed.join(", ") });
    });
    this.changed();
    return this.settings();
  }

  /** Pauses blocking for everyone (default one hour); the scheduled tick resumes it. */
  pause(actor: Actor, meta: RequestMeta | null, input: unknown): DnsSettings {
    requireAdmin(actor);
    const { minutes } = parseInput(DnsPauseSchema, input, "pause");
    const until = this.clock.now() + minutes * 60_000;
    this.db.tx(() => {
      dnsSettingsRepo.update(this.db, { ...dnsSettingsRepo.get(this.db), paused_until: until });
      this.audit.record(actor, meta, { action: "dns.pause", detail: `${minutes} min` });
    });
    this.changed();
    return this.settings();
  }

  resume(actor: Actor | null, meta: RequestMeta | null): DnsSettings {
    if (actor) requireAdmin(actor);
    const cur = dnsSettingsRepo.get(this.db);
    if (cur.paused_until === 0) return this.settings();
    this.db.tx(() => {
      dnsSettingsRepo.update(this.db, { ...cur, paused_until: 0 });
      this.audit.record(actor ?? "system", meta, {
        action: "dns.resume",
        detail: actor ? "" : "pause ended",
      });
    });
    this.changed();
    return this.settings();
  }

  /** Scheduled: ends a pause whose time is up. */
  tick(): void {
    const cur = dnsSettingsRepo.get(this.db);
    if (cur.paused_until !== 0 && cur.paused_until <= this.clock.now()) this.resume(null, null);
  }

  rules() {
    return dnsRulesRepo.list(this.db);
  }

  /** Blocks or allows a domain; the opposite rule for the same domain goes (the newest choice wins). */
  addRule(actor: Actor, meta: RequestMeta | null, input: unknown) {
    requireAdmin(actor);
    const r = parseInput(DnsRuleInputSchema, input, "rule");
    const existing = dnsRulesRepo.find(this.db, r.kind, r.domain);
    if (existing) return existing;
    const id = this.db.tx(() => {
      const opposite = dnsRulesRepo.find(this.db, r.kind === "block" ? "allow" : "block", r.domain);
      if (opposite) dnsRulesRepo.delete(this.db, opposite.id);
      const id = dnsRulesRepo.insert(this.db, { ...r, created_at: this.clock.now() });
      this.audit.record(actor, meta, {
        action: `dns.rule.${r.kind}`,
        target: r.domain,
        ...(opposite ? { detail: `replaces the ${opposite.kind} rule` } : {}),
      });
      return id;
    });
    this.changed();
    return dnsRulesRepo.byId(this.db, id)!;
  }

  deleteRule(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const r = dnsRulesRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `DNS rule ${id} not found`);
    this.db.tx(() => {
      dnsRulesRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "dns.rule.delete", target: r.domain, detail: r.kind });
    });
    this.changed();
  }

  records() {
    return dnsRecordsRepo.list(this.db);
  }

  addRecord(actor: Actor, meta: RequestMeta | null, input: unknown) {
    requireAdmin(actor);
    const r = parseInput(DnsRecordInputSchema, input, "record");
    const value = r.type === "CNAME" ? r.value.toLowerCase().replace(/\.$/, "") : r.value;
    if (dnsRecordsRepo.find(this.db, { ...r, value })) {
      throw new AppError("conflict", `${r.name} ${r.type} ${value} exists`, {
        fields: [{ field: "name", message: "this record exists" }],
      });
    }
    const id = this.db.tx(() => {
      const id = dnsRecordsRepo.insert(this.db, {
        name: r.name,
        type: r.type,
        value,
        created_at: this.clock.now(),
      });
      this.audit.record(actor, meta, {
        action: "dns.record.add",
        target: r.name,
        detail: `${r.type} ${value}`,
      });
      return id;
    });
    this.changed();
    return dnsRecordsRepo.byId(this.db, id)!;
  }

  deleteRecord(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const r = dnsRecordsRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `DNS record ${id} not found`);
    this.db.tx(() => {
      dnsRecordsRepo.delete(this.db, id);
      this.audit.record(actor, meta, {
        action: "dns.record.delete",
        target: r.name,
        detail: `${r.type} ${r.value}`,
      });
    });
    this.changed();
  }

  peers(): DnsPeerView[] {
    const labels = peerLabels(dnsPeersRepo.active(this.db, this.clock.now()));
    const zone = dnsSettingsRepo.get(this.db).zone;
    return dnsPeersRepo.all(this.db).map((p) => ({
      id: p.id,
      name: p.name,
      dnsName: labels.has(p.id) ? `${labels.get(p.id)}.${zone}` : null,
      addresses: [hostOf(p.ipv4), ...(p.ipv6 ? [hostOf(p.ipv6)] : [])],
      node: p.node_name ?? "master",
      ...prefsOf(p),
    }));
  }

  peer(id: number): DnsPeerView {
    const p = this.peers().find((x) => x.id === id);
    if (!p) throw new AppError("not_found", `Peer ${id} not found`);
    return p;
  }

  setPeerPrefs(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): DnsPeerView {
    requireAdmin(actor);
    const cur = this.peer(id);
    const d = parseInput(DnsPeerPrefsSchema, input, "peer DNS choices");
    if (Object.keys(d).length === 0) return cur; // nothing to change: no audit row, no config bump
    const next = {
      blocking: d.blocking ?? cur.blocking,
      lists: d.lists !== undefined ? d.lists : cur.lists,
      log: d.log ?? cur.log,
    };
    this.db.tx(() => {
      dnsPeersRepo.setPrefs(this.db, {
        peer_id: id,
        blocking: next.blocking ? 1 : 0,
        lists: next.lists === null ? null : JSON.stringify([...new Set(next.lists)].sort((a, b) => a - b)),
        log: next.log ? 1 : 0,
      });
      this.audit.record(actor, meta, {
        action: "dns.peer",
        target: cur.name,
        detail: `blocking=${next.blocking ? "on" : "off"} lists=${next.lists?.join(",") ?? "all"} log=${
          next.log ? "on" : "off"
        }`,
      });
    });
    this.changed();
    return this.peer(id);
  }

  desiredInput(): DnsDesiredInput {
    return dnsDesiredInput(this.db, this.clock.now());
  }

  desired(): NodeDnsConfig | null {
    return renderDnsConfig(this.db, this.clock.now());
  }

  /** True when `qname` is blocked for a client with these choices right now (for the query log). */
  isBlocked(qname: string, prefs: { blocking: boolean; lists: number[] | null } | null): boolean {
    const s = dnsSettingsRepo.get(this.db);
    if (s.paused_until > this.clock.now() || (prefs && !prefs.blocking)) return false;
    const key = `${s.updated_at}`;
    if (!this.#blocked || this.#blocked.key !== key) {
      const input = this.desiredInput();
      this.#blocked = { key, set: blockedSet(input) };
    }
    // The name and each parent: a blocked zone covers its subdomains.
    for (let d = qname.replace(/\.$/, "").toLowerCase(); d.includes("."); d = d.slice(d.indexOf(".") + 1)) {
      const tags = this.#blocked.set.get(d);
      if (!tags) continue;
      if (!prefs || prefs.lists === null) return true;
      if (tags.has("wb_custom") || prefs.lists.some((id) => tags.has(`wb_l${id}`))) return true;
    }
    return false;
  }

  /** Whether the master's Unbound runs, as its `local` node last reported, and why not. */
  status(): DnsStatus {
    const s = this.settings();
    const listen = this.desiredInput().listen;
    const local = nodesFullRepo.local(this.db);
    const st = local ? dnsNodeStateRepo.get(this.db, local.id) : undefined;
    if (!s.enabled) {
      return {
        enabled: false,
        running: st?.running === null || st === undefined ? null : st.running === 1,
        detail:
          "DNS is off. Turn it on below; the master's local node then configures Unbound (install.sh --dns installs it).",
        error: null,
        reportedAt: st?.reported_at ?? null,
        listen,
      };
    }
    if (!st || st.reported_at === null) {
      return {
        enabled: true,
        running: null,
        detail:
          "The master's local node has not reported on Unbound yet: is wirebuddy-node running beside the master?",
        error: null,
        reportedAt: null,
        listen,
      };
    }
    return {
      enabled: true,
      running: st.running === 1,
      detail: st.detail,
      error: st.error,
      reportedAt: st.reported_at,
      listen,
    };
  }
}
