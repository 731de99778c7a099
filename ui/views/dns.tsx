// DNS: whether the master's Unbound runs (and why not), its settings and the pause switch, blocklists,
// block/allow rules, custom records, each peer's choices, and the query log with its statistics.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { Field, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";
import { type DnsQueryItem, DnsQueryLog, type DnsStatsItem } from "./dns_log.tsx";

export type { DnsQueryItem, DnsStatsItem };

export type DnsStatusItem = {
  enabled: boolean;
  running: boolean | null;
  detail: string;
  error: string | null;
  reportedAt: number | null;
  listen: string[];
};
export type DnsSettingsItem = {
  enabled: boolean;
  zone: string;
  upstreams: string[];
  dnssec: boolean;
  insecureDomains: string[];
  blockMode: string;
  logQueries: boolean;
  logRetentionDays: number;
  refreshHours: number;
  pausedUntil: number | null;
};
export type DnsListItem = {
  id: number;
  name: string;
  url: string | null;
  enabled: boolean;
  domainCount: number;
  lastRefreshAt: number | null;
  lastStatus: string;
  lastMessage: string;
};
export type DnsRuleItem = { id: number; kind: string; domain: string };
export type DnsRecordItem = { id: number; name: string; type: string; value: string };
export type DnsPeerItem = {
  id: number;
  name: string;
  dnsName: string | null;
  addresses: string[];
  node: string;
  blocking: boolean;
  lists: number[] | null;
  log: boolean;
};
export type DnsPageProps = PageModel & {
  canEdit: boolean;
  status: DnsStatusItem;
  settings: DnsSettingsItem;
  lists: DnsListItem[];
  rules: DnsRuleItem[];
  records: DnsRecordItem[];
  peers: DnsPeerItem[];
  stats: DnsStatsItem;
  queries: DnsQueryItem[];
  search: { q: string; blocked: string };
  forms: { settings: FormState; list: FormState; rule: FormState; record: FormState };
};

const Check: FC<{ name: string; label: string; checked: boolean }> = (p) => (
  <label class="field check">
    <input type="checkbox" name={p.name} checked={p.checked} /> <span>{p.label}</span>
  </label>
);

export const DnsStatusCard: FC<{ status: DnsStatusItem; settings: DnsSettingsItem }> = (
  { status, settings },
) => (
  <section class="card" id="dns-status">
    <h2>
      Resolver{" "}
      <span class={`badge status-${status.running ? "online" : status.enabled ? "error" : "pending"}`}>
        {status.running ? "running" : status.enabled ? "not running" : "off"}
      </span>
    </h2>
    <p id="dns-detail">{status.detail}</p>
    {status.error && <p class="error" id="dns-error">{status.error}</p>}
    <p class="muted">
      Listens on {status.listen.length > 0 ? status.listen.join(", ") : "no tunnel address yet"}{" "}
      (port 53). Last report: {formatTime(status.reportedAt)}.
      {settings.pausedUntil && <strong>Blocking paused until {formatTime(settings.pausedUntil)}.</strong>}
    </p>
  </section>
);

export const DnsPage: FC<DnsPageProps> = (p) => {
  const f = p.forms;
  const sv = f.settings.values;
  return (
    <Layout title="DNS" user={p.user} active="dns" flash={p.flash ?? null}>
      <h1>DNS</h1>
      <DnsStatusCard status={p.status} settings={p.settings} />
      {p.canEdit && (
        <section class="card">
          <h2>Settings</h2>
          <form method="post" action="/ui/dns/settings" class="grid-form" id="dns-settings">
            <FormErrors errors={f.settings.errors} message={f.settings.message} />
            <Check
              name="enabled"
              label="DNS for the fleet (Unbound on this host)"
              checked={sv.enabled ? sv.enabled === "on" : p.settings.enabled}
            />
            <Field
              name="zone"
              label="Peer zone"
              value={sv.zone ?? p.settings.zone}
              error={f.settings.errors.zone}
            />
            <label class={f.settings.errors.upstreams ? "field invalid" : "field"}>
              <span>Upstreams (one per line: IP, IP@port or IP@853#tls-name; empty: full recursion)</span>
              <textarea name="upstreams" rows={3}>{sv.upstreams ?? p.settings.upstreams.join("\n")}</textarea>
              {f.settings.errors.upstreams && <small class="error">{f.settings.errors.upstreams}</small>}
            </label>
            <Check
              name="dnssec"
              label="DNSSEC validation"
              checked={sv.dnssec ? sv.dnssec === "on" : p.settings.dnssec}
            />
            <Field
              name="insecure_domains"
              label="Domains without DNSSEC (comma-separated)"
              value={sv.insecure_domains ?? p.settings.insecureDomains.join(", ")}
              error={f.settings.errors.insecure_domains}
            />
            <label class="field">
              <span>Blocked names get</span>
              <select name="block_mode">
                {[["nxdomain", "NXDOMAIN"], ["refuse", "REFUSED"], ["null", "0.0.0.0 / ::"]].map(([v, l]) => (
                  <option value={v} selected={(sv.block_mode ?? p.settings.blockMode) === v}>{l}</option>
                ))}
              </select>
            </label>
            <Check
              name="log_queries"
              label="Query log"
              checked={sv.log_queries ? sv.log_queries === "on" : p.settings.logQueries}
            />
            <Field
              name="log_retention_days"
              label="Keep the log (days)"
              type="number"
              value={sv.log_retention_days ?? String(p.settings.logRetentionDays)}
              error={f.settings.errors.log_retention_days}
            />
            <Field
              name="refresh_hours"
              label="Refresh lists every (hours)"
              type="number"
              value={sv.refresh_hours ?? String(p.settings.refreshHours)}
              error={f.settings.errors.refresh_hours}
            />
            <button type="submit" class="primary">Save</button>
          </form>
          <form
            method="post"
            action={p.settings.pausedUntil ? "/ui/dns/resume" : "/ui/dns/pause"}
            class="inline"
          >
            <button type="submit" id="dns-pause">
              {p.settings.pausedUntil ? "Resume blocking" : "Pause blocking for an hour"}
            </button>
          </form>
        </section>
      )}
      <section class="card">
        <h2>Blocklists</h2>
        <table class="table" id="dns-lists">
          <thead>
            <tr>
              <th>Name</th>
              <th>Source</th>
              <th>Domains</th>
              <th>Last refresh</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {p.lists.length === 0 && (
              <tr>
                <td colspan={5} class="muted">No blocklists yet.</td>
              </tr>
            )}
            {p.lists.map((l) => (
              <tr id={`list-${l.id}`}>
                <td class="primary">{l.name} {!l.enabled && <span class="badge">disabled</span>}</td>
                <td data-label="Source">{l.url ?? "file"}</td>
                <td data-label="Domains" class="count">{l.domainCount}</td>
                <td data-label="Last refresh">
                  <span
                    class={`badge status-${
                      l.lastStatus === "error" ? "error" : l.lastStatus === "ok" ? "online" : "pending"
                    }`}
                  >
                    {l.lastStatus}
                  </span>{" "}
                  {formatTime(l.lastRefreshAt)} <small>{l.lastMessage}</small>
                </td>
                <td class="actions">
                  {p.canEdit && (
                    <>
                      {l.url && (
                        <form method="post" action={`/ui/dns/lists/${l.id}/refresh`} class="inline">
                          <button type="submit">Refresh</button>
                        </form>
                      )}
                      <form method="post" action={`/ui/dns/lists/${l.id}/toggle`} class="inline">
                        <button type="submit">{l.enabled ? "Disable" : "Enable"}</button>
                      </form>
                      <form method="post" action={`/ui/dns/lists/${l.id}/delete`} class="inline">
                        <button type="submit" class="danger">Delete</button>
                      </form>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {p.canEdit && (
          <form
            method="post"
            action="/ui/dns/lists"
            enctype="multipart/form-data"
            class="grid-form"
            id="dns-add-list"
          >
            <h3>Add a list</h3>
            <FormErrors errors={f.list.errors} message={f.list.message} />
            <Field name="name" label="Name" value={f.list.values.name} error={f.list.errors.name} required />
            <Field
              name="url"
              label="URL (hosts, domains or AdGuard rules)"
              value={f.list.values.url}
              error={f.list.errors.url}
            />
            <label class="field">
              <span>…or a file (up to 64 KiB here; larger lists by URL)</span>
              <input type="file" name="file" accept=".txt,text/plain" />
            </label>
            <label class={f.list.errors.content ? "field invalid" : "field"}>
              <span>…or paste the list</span>
              <textarea name="content" rows={3}>{f.list.values.content ?? ""}</textarea>
              {f.list.errors.content && <small class="error">{f.list.errors.content}</small>}
            </label>
            <button type="submit" class="primary">Add list</button>
          </form>
        )}
      </section>
      <section class="card">
        <h2>Rules</h2>
        <p class="muted">An allowed domain (and its subdomains) is never blocked, whatever the lists say.</p>
        <ul id="dns-rules">
          {p.rules.map((r) => (
            <li id={`rule-${r.id}`}>
              <span class={`badge ${r.kind === "block" ? "status-error" : "status-online"}`}>{r.kind}</span>
              {" "}
              {r.domain}
              {p.canEdit && (
                <form method="post" action={`/ui/dns/rules/${r.id}/delete`} class="inline">
                  <button type="submit" class="link">remove</button>
                </form>
              )}
            </li>
          ))}
        </ul>
        {p.canEdit && (
          <form method="post" action="/ui/dns/rules" class="inline-form">
            <FormErrors errors={f.rule.errors} message={f.rule.message} />
            <select name="kind" aria-label="Kind">
              <option value="block">block</option>
              <option value="allow">allow</option>
            </select>
            <input
              name="domain"
              placeholder="ads.example.com"
              aria-label="Domain"
              value={f.rule.values.domain ?? ""}
            />
            <button type="submit">Add rule</button>
          </form>
        )}
      </section>
      <section class="card">
        <h2>Records</h2>
        <p class="muted">Peers answer as name.{p.settings.zone}; custom A, AAAA and CNAME records below.</p>
        <ul id="dns-records">
          {p.records.map((r) => (
            <li>
              {r.name} {r.type} {r.value}
              {p.canEdit && (
                <form method="post" action={`/ui/dns/records/${r.id}/delete`} class="inline">
                  <button type="submit" class="link">remove</button>
                </form>
              )}
            </li>
          ))}
        </ul>
        {p.canEdit && (
          <form method="post" action="/ui/dns/records" class="inline-form">
            <FormErrors errors={f.record.errors} message={f.record.message} />
            <input
              name="name"
              placeholder="nas.home.example"
              aria-label="Name"
              value={f.record.values.name ?? ""}
            />
            <select name="type" aria-label="Type">
              {["A", "AAAA", "CNAME"].map((t) => <option selected={f.record.values.type === t}>{t}</option>)}
            </select>
            <input
              name="value"
              placeholder="10.13.13.50"
              aria-label="Value"
              value={f.record.values.value ?? ""}
            />
            <button type="submit">Add record</button>
          </form>
        )}
      </section>
      <section class="card">
        <h2>Peers</h2>
        <table class="table" id="dns-peers">
          <thead>
            <tr>
              <th>Peer</th>
              <th>Name</th>
              <th>Node</th>
              <th>Blocking and logging</th>
            </tr>
          </thead>
          <tbody>
            {p.peers.map((peer) => (
              <tr id={`dns-peer-${peer.id}`}>
                <td class="primary">
                  {peer.name} <small class="muted">{peer.addresses.join(", ")}</small>
                </td>
                <td data-label="Name">{peer.dnsName ?? "—"}</td>
                <td data-label="Node">{peer.node}</td>
                <td>
                  <form method="post" action={`/ui/dns/peers/${peer.id}`} class="inline-form">
                    <Check name="blocking" label="block" checked={peer.blocking} />
                    {p.lists.map((l) => (
                      <Check
                        name={`list_${l.id}`}
                        label={l.name}
                        checked={peer.lists === null || peer.lists.includes(l.id)}
                      />
                    ))}
                    <Check name="log" label="log" checked={peer.log} />
                    {p.canEdit && <button type="submit">Save</button>}
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <DnsQueryLog queries={p.queries} stats={p.stats} search={p.search} canEdit={p.canEdit} />
    </Layout>
  );
};
