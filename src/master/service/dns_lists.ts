// Blocklists as the operator manages them: added by URL (fetched by the master, with a size cap and a
// deadline) or from a file's text, refreshed on a schedule, enabled or disabled, deleted. A list that
// cannot be fetched or read keeps its previous domains (the running resolver is untouched) and shows
// the outcome; only a change of content changes the resolver's configuration.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { type DnsListRow, dnsListsRepo, dnsSettingsRepo } from "../db/dns_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import {
  type FetchLimits,
  fetchList,
  parseBlocklist,
  requireDomains,
  skippedText,
} from "./dns_blocklists.ts";
import { DnsListInputSchema, DnsListPatchSchema } from "./dns_schemas.ts";
import { parseInput } from "./validate.ts";

export type DnsListView = {
  id: number;
  name: string;
  url: string | null;
  enabled: boolean;
  domainCount: number;
  lastRefreshAt: number | null;
  lastStatus: DnsListRow["last_status"];
  lastMessage: string;
  createdAt: number;
};

export type DnsListOptions = { fetch: typeof fetch; fetchLimits: FetchLimits };

const view = (r: DnsListRow): DnsListView => ({
  id: r.id,
  name: r.name,
  url: r.url,
  enabled: r.enabled === 1,
  domainCount: r.domain_count,
  lastRefreshAt: r.last_refresh_at,
  lastStatus: r.last_status,
  lastMessage: r.last_message,
  createdAt: r.created_at,
});

export class DnsListService {
  #refreshing = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly opts: DnsListOptions,
    /** Called after a change that alters the resolver's configuration. */
    private readonly changed: () => void,
  ) {}

  list(): DnsListView[] {
    return dnsListsRepo.list(this.db).map(view);
  }

  get(id: number): DnsListView {
    const r = dnsListsRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `Blocklist ${id} not found`);
    return view(r);
  }

  /** Adds a list: its content is fetched (or taken) and parsed first; nothing is stored if that fails. */
  async add(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<DnsListView> {
    requireAdmin(actor);
    const data = parseInput(DnsListInputSchema, input, "blocklist");
    if (dnsListsRepo.byName(this.db, data.name)) {
      throw new AppError("conflict", `A blocklist named "${data.name}" exists`, {
        fields: [{ field: "name", message: "is taken" }],
      });
    }
    const text = data.url !== undefined
      ? await fetchList(this.opts.fetch, data.url, this.opts.fetchLimits)
      : data.content!;
    const parsed = parseBlocklist(text);
    requireDomains(parsed, data.url ?? "the file");
    const skipped = skippedText(parsed);
    const id = this.db.tx(() => {
      const id = dnsListsRepo.insert(this.db, {
        name: data.name,
        url: data.url ?? null,
        enabled: data.enabled ? 1 : 0,
        created_at: this.clock.now(),
      });
      dnsListsRepo.setContent(this.db, id, {
        domains: parsed.domains,
        allow: parsed.allow,
        at: this.clock.now(),
        status: skipped ? "warning" : "ok",
        message: skipped,
      });
      this.audit.record(actor, meta, {
        action: "dns.list.add",
        target: data.name,
        detail: `${data.url ?? "file"}: ${parsed.domains.length} domains${skipped ? `; ${skipped}` : ""}`,
      });
      return id;
    });
    if (data.enabled) this.changed();
    return this.get(id);
  }

  /** Fetches a URL list again. A failure is recorded on the list and thrown; its domains stay. */
  async refresh(actor: Actor | null, meta: RequestMeta | null, id: number): Promise<DnsListView> {
    if (actor) requireAdmin(actor);
    const cur = dnsListsRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Blocklist ${id} not found`);
    if (!cur.url) {
      throw new AppError("conflict", `Blocklist "${cur.name}" came from a file: upload it again instead`);
    }
    if (this.#refreshing.has(id)) {
      throw new AppError("conflict", `Blocklist "${cur.name}" is being refreshed`);
    }
    this.#refreshing.add(id);
    try {
      const text = await fetchList(this.opts.fetch, cur.url, this.opts.fetchLimits);
      const parsed = parseBlocklist(text);
      requireDomains(parsed, cur.url);
      const skipped = skippedText(parsed);
      const before = dnsListsRepo.content(this.db, id);
      const same = before?.domains === parsed.domains.join("\n") && before?.allow === parsed.allow.join("\n");
      this.db.tx(() => {
        dnsListsRepo.setContent(this.db, id, {
          domains: parsed.domains,
          allow: parsed.allow,
          at: this.clock.now(),
          status: skipped ? "warning" : "ok",
          message: skipped,
        });
        if (actor) {
          this.audit.record(actor, meta, {
            action: "dns.list.refresh",
            target: cur.name,
            detail: `${parsed.domains.length} domains${same ? " (unchanged)" : ""}`,
          });
        }
      });
      if (!same && cur.enabled) this.changed();
      this.log.info("blocklist refreshed", {
        list: cur.name,
        domains: parsed.domains.length,
        changed: !same,
      });
      return this.get(id);
    } catch (err) {
      const message = err instanceof AppError ? err.publicMessage : String(err);
      dnsListsRepo.setOutcome(this.db, id, this.clock.now(), "error", message.slice(0, 500));
      this.log.warn("blocklist refresh failed; keeping its previous domains", {
        list: cur.name,
        error: message,
      });
      throw err;
    } finally {
      this.#refreshing.delete(id);
    }
  }

  /** The scheduled refresh: every URL list older than the refresh interval (failures are recorded). */
  async refreshDue(): Promise<number> {
    const hours = dnsSettingsRepo.get(this.db).refresh_hours;
    const due = dnsListsRepo.dueForRefresh(this.db, this.clock.now() - hours * 3_600_000);
    let ok = 0;
    for (const id of due) {
      try {
        await this.refresh(null, null, id);
        ok++;
      } catch {
        // recorded on the list and logged
      }
    }
    return ok;
  }

  update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): DnsListView {
    requireAdmin(actor);
    const cur = this.get(id);
    const data = parseInput(DnsListPatchSchema, input, "blocklist");
    if (data.enabled === cur.enabled) return cur;
    this.db.tx(() => {
      dnsListsRepo.setEnabled(this.db, id, data.enabled);
      this.audit.record(actor, meta, {
        action: data.enabled ? "dns.list.enable" : "dns.list.disable",
        target: cur.name,
      });
    });
    this.changed();
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const cur = this.get(id);
    this.db.tx(() => {
      dnsListsRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "dns.list.delete", target: cur.name });
    });
    if (cur.enabled) this.changed();
  }
}
