// The audit log, filterable by action, actor and free text.
import type { FC } from "hono/jsx";
import { formatTime, Layout, type PageModel } from "./layout.tsx";

export type AuditItem = {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: string;
  ip: string;
};
export type AuditFilterModel = { action: string; actor: string; q: string };

export const AuditTable: FC<{ entries: AuditItem[] }> = ({ entries }) => (
  <table class="table" id="audit-table">
    <thead>
      <tr>
        <th>Time</th>
        <th>Actor</th>
        <th>Action</th>
        <th>Target</th>
        <th>Detail</th>
        <th>Source</th>
      </tr>
    </thead>
    <tbody>
      {entries.length === 0 && (
        <tr>
          <td colspan={6} class="muted">No matching entries.</td>
        </tr>
      )}
      {entries.map((e) => (
        <tr>
          <td class="primary">{formatTime(e.at)}</td>
          <td data-label="Actor">{e.actor}</td>
          <td data-label="Action">
            <code>{e.action}</code>
          </td>
          <td data-label="Target">{e.target}</td>
          <td data-label="Detail">{e.detail}</td>
          <td data-label="Source">{e.ip}</td>
        </tr>
      ))}
    </tbody>
  </table>
);

export const AuditPage: FC<
  PageModel & { entries: AuditItem[]; actions: string[]; filter: AuditFilterModel }
> = (p) => (
  <Layout title="Audit" user={p.user} active="audit">
    <h1>Audit log</h1>
    <form
      method="get"
      action="/ui/audit"
      class="filters"
      hx-get="/ui/audit"
      hx-target="#audit-table"
      hx-select="#audit-table"
      hx-swap="outerHTML"
      hx-trigger="change, submit"
    >
      <label>
        <span>Action</span>
        <select name="action">
          <option value="">all</option>
          {p.actions.map((a) => <option value={a} selected={a === p.filter.action}>{a}</option>)}
        </select>
      </label>
      <label>
        <span>Actor</span>
        <input name="actor" value={p.filter.actor} />
      </label>
      <label>
        <span>Search</span>
        <input name="q" value={p.filter.q} type="search" />
      </label>
      <button type="submit">Filter</button>
    </form>
    <AuditTable entries={p.entries} />
  </Layout>
);
