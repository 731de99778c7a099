// The DNS screen's query log: totals, top domains, top blocked, queries over time (an SVG of bars, no
// inline style), search, and a Block/Allow form on every row.
import type { FC } from "hono/jsx";
import { formatTime } from "./layout.tsx";

export type DnsQueryItem = {
  id: number;
  at: number;
  peerName: string;
  client: string;
  via: string;
  qname: string;
  qtype: string;
  rcode: string;
  answer: string;
  blocked: boolean;
};
export type DnsStatsItem = {
  total: number;
  blocked: number;
  topDomains: { qname: string; count: number }[];
  topBlocked: { qname: string; count: number }[];
  overTime: { at: number; total: number; blocked: number }[];
};

const QueryChart: FC<{ points: DnsStatsItem["overTime"] }> = ({ points }) => {
  const max = Math.max(1, ...points.map((p) => p.total));
  const w = 600, h = 80, bw = points.length > 0 ? w / points.length : w;
  return (
    <svg class="dns-chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label="Queries over time" id="dns-chart">
      {points.map((p, i) => (
        <g>
          <rect
            x={i * bw}
            y={h - (p.total / max) * h}
            width={Math.max(bw - 1, 1)}
            height={(p.total / max) * h}
            class="bar"
          >
            <title>{`${formatTime(p.at)}: ${p.total} queries, ${p.blocked} blocked`}</title>
          </rect>
          <rect
            x={i * bw}
            y={h - (p.blocked / max) * h}
            width={Math.max(bw - 1, 1)}
            height={(p.blocked / max) * h}
            class="bar blocked"
          />
        </g>
      ))}
    </svg>
  );
};

export const DnsQueryLog: FC<{
  queries: DnsQueryItem[];
  stats: DnsStatsItem;
  search: { q: string; blocked: string };
  canEdit: boolean;
}> = (p) => (
  <section class="card" id="dns-log">
    <h2>Query log</h2>
    <p>
      Last 24 h: <strong id="dns-total">{p.stats.total}</strong> queries,{" "}
      <strong id="dns-blocked">{p.stats.blocked}</strong> blocked.
    </p>
    <QueryChart points={p.stats.overTime} />
    <div class="grid-2">
      <div>
        <h3>Top domains</h3>
        <ol id="dns-top">{p.stats.topDomains.map((t) => <li>{t.qname} ({t.count})</li>)}</ol>
      </div>
      <div>
        <h3>Top blocked</h3>
        <ol id="dns-top-blocked">{p.stats.topBlocked.map((t) => <li>{t.qname} ({t.count})</li>)}</ol>
      </div>
    </div>
    <form method="get" action="/ui/dns" class="inline-form">
      <input
        type="search"
        name="q"
        value={p.search.q}
        placeholder="name, peer, client or node"
        aria-label="Search"
      />
      <select name="blocked" aria-label="Blocked">
        <option value="" selected={p.search.blocked === ""}>all</option>
        <option value="true" selected={p.search.blocked === "true"}>blocked</option>
        <option value="false" selected={p.search.blocked === "false"}>allowed</option>
      </select>
      <button type="submit">Search</button>
    </form>
    <table class="table" id="dns-queries">
      <thead>
        <tr>
          <th>Time</th>
          <th>Peer</th>
          <th>Node</th>
          <th>Name</th>
          <th>Answer</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {p.queries.length === 0 && (
          <tr>
            <td colspan={6} class="muted">No queries logged.</td>
          </tr>
        )}
        {p.queries.map((q) => (
          <tr id={`q-${q.id}`} class={q.blocked ? "blocked" : ""}>
            <td data-label="Time">{formatTime(q.at)}</td>
            <td data-label="Peer">{q.peerName || q.client}</td>
            <td data-label="Node">{q.via}</td>
            <td data-label="Name" class="primary">
              {q.qname} <small class="muted">{q.qtype}</small>
            </td>
            <td data-label="Answer">
              {q.blocked ? <span class="badge status-error">blocked</span> : null} {q.rcode} {q.answer}
            </td>
            <td class="actions">
              {p.canEdit && (
                <form method="post" action="/ui/dns/rules" class="inline">
                  <input type="hidden" name="domain" value={q.qname} />
                  <input type="hidden" name="kind" value={q.blocked ? "allow" : "block"} />
                  <button type="submit" class={q.blocked ? "" : "danger"}>
                    {q.blocked ? "Allow" : "Block"}
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </section>
);
