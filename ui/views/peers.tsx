// Peers: the page with its search and filter bar, the table fragment (rows and page links, returned
// alone to htmx), the add/edit form and the QR code. The form and the QR code are pages of their own
// without JavaScript; htmx loads the same fragments into the page's <dialog>.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { intoDialog } from "./confirm.tsx";
import {
  choiceLabel,
  isRunning,
  type LocalHelpModel,
  type NodeBrief,
  NodesDownNotice,
} from "./node_status.tsx";
import { formatBytes, relativeTime } from "./format.ts";
import { DialogHead, Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type PeerItem = {
  id: number;
  name: string;
  interfaceId: number;
  interfaceName: string;
  nodeName: string | null;
  /** A failover pool's client: its pool (the list shows it instead of a node). */
  pool?: PeerPoolBadge | null;
  ipv4: string;
  ipv6: string | null;
  enabled: boolean;
  expired: boolean;
  expiresAt: number | null;
  /** The newest sample its host reported; null before the first. */
  live: PeerLive | null;
};

/** What the host last saw of a peer: its handshake, counters (since its interface came up) and address. */
export type PeerLive = { handshakeAt: number | null; rx: number; tx: number; endpoint: string | null };

/** A peer is online while its latest handshake is this recent (WireGuard re-handshakes every 2 minutes). */
export const ONLINE_MS = 3 * 60_000;

export const isOnline = (live: PeerLive | null, now: number) =>
  typeof live?.handshakeAt === "number" && now - live.handshakeAt < ONLINE_MS;

export type Choice = { id: number; name: string };

/** The search, filters and order as the user chose them (strings, "" = not set). */
export type PeerFilter = { q: string; interfaceId: string; node: string; sort: string };

export type PeerListModel = {
  items: PeerItem[];
  total: number;
  page: number;
  perPage: number;
  filter: PeerFilter;
  canEdit: boolean;
  /** Bulk actions (not for admins limited to a scope: every peer they tick would need checking). */
  canBulk: boolean;
  now: number;
};

export function peersUrl(filter: PeerFilter, page = 1, path = "/ui/peers"): string {
  const params = new URLSearchParams();
  if (filter.q) params.set("q", filter.q);
  if (filter.interfaceId) params.set("interface_id", filter.interfaceId);
  if (filter.node) params.set("node", filter.node);
  if (filter.sort && filter.sort !== "id") params.set("sort", filter.sort);
  if (page > 1) params.set("page", String(page));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

const StateBadge: FC<{ p: PeerItem }> = ({ p }) =>
  p.expired
    ? <span class="badge status-expired" title={formatTime(p.expiresAt)}>expired</span>
    : p.enabled
    ? <span class="badge status-active">enabled</span>
    : <span class="badge status-disabled">disabled</span>;

/** A failover pool's client: the pool, and the member holding its latest handshake (if any yet). */
export type PeerPoolBadge = { name: string; servedBy: { nodeName: string } | null };

/** Who serves a peer: its node, the master, or a failover pool (with the member that holds it now). */
export const NodeBadge: FC<{ nodeName: string | null; pool?: PeerPoolBadge | null }> = (
  { nodeName, pool },
) =>
  pool
    ? (
      <>
        <span class="badge node pool">pool {pool.name}</span>
        {pool.servedBy && <small class="muted served-by">via {pool.servedBy.nodeName}</small>}
      </>
    )
    : nodeName
    ? <span class="badge node">{nodeName}</span>
    : <span class="badge local">Master</span>;

const deleteHref = (id: number, back: string) =>
  `/ui/peers/${id}/delete${back === "/ui/peers" ? "" : `?back=${encodeURIComponent(back)}`}`;

/** The dot before a peer's name: green while it is connected. */
export const PeerDot: FC<{ p: PeerItem; now: number; oob?: boolean }> = ({ p, now, oob }) => {
  const online = isOnline(p.live, now);
  return (
    <span
      id={`dot-${p.id}`}
      class={online ? "dot online" : "dot"}
      role="img"
      aria-label={online ? "online" : "offline"}
      title={online ? "online" : "offline"}
      hx-swap-oob={oob ? "true" : undefined}
    >
    </span>
  );
};

/** Online or not, the latest handshake, the counters and the endpoint: refreshed in place every 10 s. */
export const PeerLiveStatus: FC<{ p: PeerItem; now: number; oob?: boolean }> = ({ p, now, oob }) => {
  const l = p.live;
  const online = isOnline(l, now);
  return (
    <div class="live" id={`live-${p.id}`} hx-swap-oob={oob ? "true" : undefined}>
      <strong class={online ? "online" : undefined}>
        {!p.enabled || p.expired ? "off" : online ? "online" : l?.handshakeAt ? "offline" : "never connected"}
      </strong>
      {l?.handshakeAt && <small>last handshake {relativeTime(l.handshakeAt, now)}</small>}
      {l && (
        <small title="received from the peer · sent to the peer">
          rx {formatBytes(l.rx)} · tx {formatBytes(l.tx)}
        </small>
      )}
      {l?.endpoint && (
        <small>
          from <code>{l.endpoint}</code>
        </small>
      )}
    </div>
  );
};

export const PeerRow: FC<{ p: PeerItem; canEdit: boolean; canBulk: boolean; back: string; now: number }> = (
  { p, canEdit, canBulk, back, now },
) => (
  <tr id={`peer-${p.id}`}>
    {canBulk && (
      <td class="select">
        <input
          type="checkbox"
          name="ids"
          value={String(p.id)}
          form="peer-bulk"
          aria-label={`Select ${p.name}`}
        />
      </td>
    )}
    <td class="primary">
      <PeerDot p={p} now={now} />
      <a href={`/ui/peers/${p.id}/traffic`} title={`Traffic of ${p.name}`}>
        <strong>{p.name}</strong>
      </a>
    </td>
    <td data-label="Status" class="status">
      <PeerLiveStatus p={p} now={now} />
    </td>
    <td data-label="Interface">{p.interfaceName}</td>
    <td data-label="Node">
      <NodeBadge nodeName={p.nodeName} pool={p.pool} />
    </td>
    <td data-label="Addresses">
      <code>{p.ipv4}</code>
      {p.ipv6 && (
        <>
          <br />
          <code>{p.ipv6}</code>
        </>
      )}
    </td>
    <td data-label="State">
      <StateBadge p={p} />
      {p.expiresAt && !p.expired && <small class="muted expiry">until {formatTime(p.expiresAt)}</small>}
    </td>
    <td class="actions">
      {canEdit && (
        <>
          {/* Configs hold private keys: admins only. */}
          <a class="button qr-button" href={`/ui/peers/${p.id}/qr`} {...intoDialog(`/ui/peers/${p.id}/qr`)}>
            QR
          </a>
          <a class="button" href={`/ui/peers/${p.id}/config`} hx-boost="false" download>.conf</a>
          <a class="button" href={`/ui/peers/${p.id}/edit`} {...intoDialog(`/ui/peers/${p.id}/edit`)}>Edit</a>
          <form method="post" action={`/ui/peers/${p.id}/toggle`} class="inline">
            <input type="hidden" name="back" value={back} />
            <button type="submit">{p.enabled ? "Disable" : "Enable"}</button>
          </form>
          <a class="button danger" href={deleteHref(p.id, back)} {...intoDialog(deleteHref(p.id, back))}>
            Delete
          </a>
        </>
      )}
    </td>
  </tr>
);

/** Page numbers around the current one, with the first and the last: 1 … 4 5 [6] 7 8 … 2000. */
export function pageWindow(page: number, pages: number): (number | "…")[] {
  const out: (number | "…")[] = [];
  const from = Math.max(1, page - 2);
  const to = Math.min(pages, page + 2);
  if (from > 1) out.push(1);
  if (from > 2) out.push("…");
  for (let n = from; n <= to; n++) out.push(n);
  if (to < pages - 1) out.push("…");
  if (to < pages) out.push(pages);
  return out;
}

/** hx attributes that load a list address into the table (and the address bar). */
const tableLink = (href: string) => ({
  href,
  "hx-get": href,
  "hx-target": "#peer-table",
  "hx-swap": "outerHTML",
  "hx-push-url": "true",
});

/** A column heading that sorts by it (ascending, then descending on a second click). */
const SortHeading: FC<{ m: PeerListModel; col: string; label: string }> = ({ m, col, label }) => {
  const cur = m.filter.sort;
  const dir = cur === col ? "ascending" : cur === `-${col}` ? "descending" : undefined;
  const next = cur === col ? `-${col}` : col;
  return (
    <th aria-sort={dir}>
      <a {...tableLink(peersUrl({ ...m.filter, sort: next }))}>
        {label}
        {dir === "ascending" ? " ▲" : dir === "descending" ? " ▼" : ""}
      </a>
    </th>
  );
};

/** The table and its page links: the fragment that search, filters, sorting and paging replace. */
export const PeerTable: FC<{ m: PeerListModel }> = ({ m }) => {
  const pages = Math.max(1, Math.ceil(m.total / m.perPage));
  const back = peersUrl(m.filter, m.page);
  const first = m.total === 0 ? 0 : (m.page - 1) * m.perPage + 1;
  const last = Math.min(m.total, m.page * m.perPage);
  const ids = m.items.map((p) => p.id).join(",");
  return (
    <div id="peer-table">
      {m.items.length > 0 && (
        <div
          id="peer-live-poll"
          hx-get={`/ui/peers/live?ids=${ids}`}
          hx-trigger="every 10s"
          hx-swap="none"
          data-quiet
        >
        </div>
      )}
      <table class="table peers">
        <thead>
          <tr>
            {m.canBulk && (
              <th class="select">
                <input
                  type="checkbox"
                  class="select-all"
                  form="peer-bulk"
                  aria-label="Select every peer on this page"
                />
              </th>
            )}
            <SortHeading m={m} col="name" label="Name" />
            <th>Status</th>
            <SortHeading m={m} col="interface" label="Interface" />
            <SortHeading m={m} col="node" label="Node" />
            <SortHeading m={m} col="address" label="Addresses" />
            <th>State</th>
            <th>
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {m.items.length === 0 && (
            <tr>
              <td colspan={8} class="muted">
                {m.filter.q || m.filter.interfaceId || m.filter.node ? "No peers match." : "No peers yet."}
              </td>
            </tr>
          )}
          {m.items.map((p) => (
            <PeerRow p={p} canEdit={m.canEdit} canBulk={m.canBulk} back={back} now={m.now} />
          ))}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages">
        <span class="muted" id="peer-count">
          {m.total === 0 ? "0 peers" : `${first}–${last} of ${m.total} peers`}
        </span>
        {pages > 1 && (
          <span class="pages">
            {m.page > 1 && <a {...tableLink(peersUrl(m.filter, m.page - 1))} rel="prev">‹ Previous</a>}
            {pageWindow(m.page, pages).map((n) =>
              n === "…"
                ? <span class="muted">…</span>
                : n === m.page
                ? <strong aria-current="page">{n}</strong>
                : <a {...tableLink(peersUrl(m.filter, n))}>{n}</a>
            )}
            {m.page < pages && <a {...tableLink(peersUrl(m.filter, m.page + 1))} rel="next">Next ›</a>}
          </span>
        )}
      </nav>
    </div>
  );
};

/** The live status of the listed peers, swapped into their rows in place (htmx out-of-band). */
export const PeerLiveUpdates: FC<{ items: PeerItem[]; now: number }> = ({ items, now }) => (
  <>
    {items.map((p) => (
      <>
        <PeerDot p={p} now={now} oob />
        <PeerLiveStatus p={p} now={now} oob />
      </>
    ))}
  </>
);

/** Enable, disable, move or delete the peers ticked in the table (a plain form: works without JS). */
const BulkBar: FC<{ nodes: NodeBrief[]; back: string }> = ({ nodes, back }) => (
  <form method="post" action="/ui/peers/bulk" id="peer-bulk" class="bulk">
    <input type="hidden" name="back" value={back} />
    <label>
      <span>With the selected peers</span>
      <select name="action" id="bulk-action">
        <option value="enable">Enable</option>
        <option value="disable">Disable</option>
        <option value="move">Move to node…</option>
        <option value="delete">Delete…</option>
      </select>
    </label>
    <label>
      <span>Node (for a move)</span>
      <select name="node_id" id="bulk-node">
        {nodes.map((n) => <option value={n.isLocal ? "" : String(n.id)}>{choiceLabel(n)}</option>)}
      </select>
    </label>
    <button type="submit" id="bulk-apply">Apply</button>
  </form>
);

export const PeersPage: FC<
  PageModel & {
    list: PeerListModel;
    interfaces: Choice[];
    nodes: NodeBrief[];
    help: LocalHelpModel;
    flash?: Flash | null;
  }
> = (p) => {
  const f = p.list.filter;
  const live = { "hx-get": "/ui/peers" };
  return (
    <Layout title="Peers" user={p.user} active="peers" flash={p.flash ?? null}>
      <div class="page-head">
        <h1>Peers</h1>
        {p.list.canEdit && p.interfaces.length > 0 && (
          <a class="button primary" href="/ui/peers/new" id="add-peer" {...intoDialog("/ui/peers/new")}>
            Add peer
          </a>
        )}
      </div>
      <NodesDownNotice nodes={p.nodes} help={p.help} onlyWithPeers compact />
      {p.interfaces.length === 0 && (
        <p class="card muted">
          Peers live on an interface. <a href="/ui/interfaces">Create an interface</a> first.
        </p>
      )}
      <form
        method="get"
        action="/ui/peers"
        class="filters"
        id="peer-filters"
        role="search"
        hx-target="#peer-table"
        hx-swap="outerHTML"
        hx-push-url="true"
        hx-include="#peer-filters"
      >
        {f.sort && f.sort !== "id" && <input type="hidden" name="sort" value={f.sort} />}
        <label class="search">
          Search
          <input
            type="search"
            name="q"
            value={f.q}
            placeholder="name, address or public key"
            maxlength={100}
            {...live}
            hx-trigger="input changed delay:300ms, search"
          />
        </label>
        <label>
          Interface
          <select name="interface_id" {...live}>
            <option value="">All interfaces</option>
            {p.interfaces.map((i) => (
              <option value={String(i.id)} selected={f.interfaceId === String(i.id)}>{i.name}</option>
            ))}
          </select>
        </label>
        <label>
          Node
          <select name="node" {...live}>
            <option value="">All nodes</option>
            {p.nodes.map((n) => (
              <option
                value={n.isLocal ? "local" : String(n.id)}
                selected={f.node === (n.isLocal ? "local" : String(n.id))}
              >
                {choiceLabel(n)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="search-button">Search</button>
      </form>
      {p.list.canBulk && p.list.total > 0 && <BulkBar nodes={p.nodes} back={peersUrl(f, p.list.page)} />}
      <PeerTable m={p.list} />
    </Layout>
  );
};

// --- add / edit form ----------------------------------------------------------------------------

export type PeerFormModel = {
  /** null: a new peer. */
  id: number | null;
  /** The interface of an existing peer (it cannot move). */
  interfaceName?: string;
  /** The saved name of an existing peer (the heading keeps it while a rejected new name is in the form). */
  currentName?: string;
  publicKey?: string;
  form: FormState;
  interfaces: Choice[];
  /** Every node, the master's own included (the empty choice). */
  nodes: NodeBrief[];
  inDialog: boolean;
};

const Checkbox: FC<{ name: string; label: string; checked: boolean; error?: string | undefined }> = (p) => (
  <label class={p.error ? "check invalid" : "check"}>
    <input type="checkbox" name={p.name} value="on" checked={p.checked} />
    <span>{p.label}</span>
    {p.error && <small class="error" data-field={p.name}>{p.label}: {p.error}</small>}
  </label>
);

const Select: FC<{
  name: string;
  label: string;
  value: string;
  options: { value: string; label: string }[];
  error?: string | undefined;
  warning?: string | undefined;
}> = (p) => (
  <label class={p.error ? "field invalid" : "field"}>
    <span>{p.label}</span>
    <select name={p.name} aria-invalid={p.error ? "true" : undefined}>
      {p.options.map((o) => <option value={o.value} selected={o.value === p.value}>{o.label}</option>)}
    </select>
    {p.warning && !p.error && <small class="field-warning" data-warning={p.name}>{p.warning}</small>}
    {p.error && <small class="error" data-field={p.name}>{p.label}: {p.error}</small>}
  </label>
);

/** A warning under the Node dropdown when the chosen node is not running. */
function nodeWarning(nodes: NodeBrief[], value: string): string | undefined {
  const n = nodes.find((n) => (value === "" ? n.isLocal : String(n.id) === value));
  if (!n || isRunning(n)) return undefined;
  return `${choiceLabel(n)}: this peer cannot connect until the node runs (see the Nodes page).`;
}

export const PeerForm: FC<{ m: PeerFormModel }> = ({ m }) => {
  const v = m.form.values;
  const e = m.form.errors;
  const action = m.id === null ? "/ui/peers" : `/ui/peers/${m.id}`;
  const htmx = m.inDialog ? { "hx-post": action, "hx-target": "#modal", "hx-swap": "innerHTML" } : {};
  return (
    <form method="post" action={action} class="grid-form peer-form" id="peer-form" {...htmx}>
      <FormErrors errors={e} message={m.form.message} />
      <Field name="name" label="Name" value={v.name} error={e.name} required hint="e.g. alice-phone" />
      {m.id === null
        ? (
          <Select
            name="interface_id"
            label="Interface"
            value={v.interface_id ?? ""}
            options={m.interfaces.map((i) => ({ value: String(i.id), label: i.name }))}
            error={e.interface_id}
          />
        )
        : (
          <label class="field">
            <span>Interface</span>
            <input value={m.interfaceName ?? ""} readonly />
          </label>
        )}
      <Select
        name="node_id"
        label="Node"
        value={v.node_id ?? ""}
        options={[
          ...m.nodes.filter((n) => n.isLocal).map((n) => ({ value: "", label: choiceLabel(n) })),
          ...m.nodes.filter((n) => !n.isLocal).map((n) => ({ value: String(n.id), label: choiceLabel(n) })),
        ]}
        error={e.node_id}
        warning={nodeWarning(m.nodes, v.node_id ?? "")}
      />
      <Select
        name="routing"
        label="Routing"
        value={v.routing ?? "full"}
        options={[
          { value: "full", label: "Full tunnel (all traffic)" },
          { value: "split", label: "Split (VPN subnet + DNS)" },
          { value: "custom", label: "Custom (AllowedIPs below)" },
        ]}
        error={e.routing}
      />
      <Field
        name="allowed_ips"
        label="Custom AllowedIPs"
        value={v.allowed_ips}
        error={e.allowed_ips}
        hint="Only for custom routing, e.g. 10.0.0.0/8, 192.168.1.0/24"
      />
      <Field
        name="public_key"
        label="Own public key (optional)"
        value={v.public_key}
        error={e.public_key}
        hint={m.publicKey ? `Now ${m.publicKey}. Empty keeps it.` : "Empty: the server makes the key pair."}
      />
      <Field
        name="expires_at"
        label="Expires (UTC, optional)"
        type="datetime-local"
        value={v.expires_at}
        error={e.expires_at}
      />
      <Checkbox
        name="preshared_key"
        label="Preshared key"
        checked={v.preshared_key === "on"}
        error={e.preshared_key}
      />
      <Checkbox name="enabled" label="Enabled" checked={v.enabled === "on"} error={e.enabled} />
      <div class="form-actions">
        <button type="submit" class="primary">{m.id === null ? "Add peer" : "Save"}</button>{" "}
        {!m.inDialog && <a href="/ui/peers">Cancel</a>}
      </div>
    </form>
  );
};

const formTitle = (m: PeerFormModel) =>
  m.id === null ? "Add a peer" : `Edit peer ${m.currentName ?? m.form.values.name ?? ""}`;

/** The form as the dialog's content. */
export const PeerFormDialog: FC<{ m: PeerFormModel }> = ({ m }) => (
  <div class="dialog-body">
    <DialogHead title={formTitle(m)} />
    <PeerForm m={m} />
  </div>
);

/** The form as a page of its own (no JavaScript, or a 422 after a plain POST). */
export const PeerFormPage: FC<PageModel & { m: PeerFormModel }> = (p) => (
  <Layout title={formTitle(p.m)} user={p.user} active="peers">
    <h1>{formTitle(p.m)}</h1>
    <section class="card">
      <PeerForm m={p.m} />
    </section>
  </Layout>
);

// --- QR code ------------------------------------------------------------------------------------

export type QrModel = {
  id: number;
  name: string;
  nodeName: string | null;
  pool?: PeerPoolBadge | null;
  /** The name the downloaded file gets (the link says the same). */
  filename: string;
  /** "host:port" the config connects to; null when the node has not reported its key yet. */
  endpoint: string | null;
  /** Set when the endpoint is an address only the master's machine can reach. */
  endpointWarning: string | null;
  /** The server holds the peer's private key (its keys can rotate; otherwise only its PSK). */
  serverKeys: boolean;
  /** What the client has to do, right after its credentials rotated. */
  rotated: string | null;
};

const rotateHref = (id: number, keys: boolean) => `/ui/peers/${id}/rotate${keys ? "?keys=1" : ""}`;

const QrContent: FC<{ q: QrModel }> = ({ q }) => (
  <div class="qr-box">
    {q.rotated && <p class="notice" id="rotated-notice" role="status">{q.rotated}</p>}
    {q.endpointWarning && <p class="warning" id="endpoint-warning">{q.endpointWarning}</p>}
    <img
      class="qr"
      id="peer-qr"
      src={`/ui/peers/${q.id}/qr.svg`}
      alt={`QR code with the WireGuard configuration of ${q.name}`}
      width="320"
      height="320"
    />
    <p class="muted">
      Scan with the WireGuard app. Served by <NodeBadge nodeName={q.nodeName} pool={q.pool} />
      {q.endpoint && (
        <>
          {" "}at <code>{q.endpoint}</code>
        </>
      )}
    </p>
    <p class="actions">
      <a
        class="button primary"
        href={`/ui/peers/${q.id}/config`}
        hx-boost="false"
        download={q.filename}
        id="qr-download"
      >
        Download {q.filename}
      </a>
    </p>
    <p class="actions">
      {q.serverKeys && (
        <a
          class="button danger"
          id="rotate-keys"
          href={rotateHref(q.id, true)}
          {...intoDialog(rotateHref(q.id, true))}
        >
          Rotate keys…
        </a>
      )}
      <a
        class="button danger"
        id="rotate-psk"
        href={rotateHref(q.id, false)}
        {...intoDialog(rotateHref(q.id, false))}
      >
        Rotate PSK…
      </a>
    </p>
  </div>
);

export const QrDialog: FC<{ q: QrModel }> = ({ q }) => (
  <div class="dialog-body">
    <DialogHead title={`QR code: ${q.name}`} />
    <QrContent q={q} />
  </div>
);

export const QrPage: FC<PageModel & { q: QrModel }> = (p) => (
  <Layout title={`QR code: ${p.q.name}`} user={p.user} active="peers">
    <h1>QR code: {p.q.name}</h1>
    <section class="card">
      <QrContent q={p.q} />
      <p>
        <a href="/ui/peers">Back to peers</a>
      </p>
    </section>
  </Layout>
);
