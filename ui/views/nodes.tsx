// Nodes: the page with the add form and the status table (a fragment that polls its own URL every 10 s),
// the node's own page with its interfaces and traffic, the edit form, the delete and new-token
// confirmations, and the page that shows an enrollment token once.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { type ConfirmModel, intoDialog } from "./confirm.tsx";
import { TrafficChart, type TrafficChartModel, When } from "./charts.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";
import {
  isRunning,
  type LocalHelpModel,
  LocalNodeHelp,
  type NodeBrief,
  NodesDownNotice,
  RemoteNodeHelp,
} from "./node_status.tsx";
import { ConfigState, NodeHealthCard, type NodeHealthModel, type NodeReportItem } from "./node_health.tsx";

export type NodeStatus = "pending" | "online" | "offline" | "unreachable" | "error";

export type NodeItem = {
  id: number;
  name: string;
  fqdn: string;
  wgPort: number;
  isLocal: boolean;
  status: NodeStatus;
  lastSeenAt: number | null;
  lastError: string | null;
  hostname: string;
  enrolled: boolean;
  tokenExpiresAt: number | null;
  configVersion: number;
  appliedVersion: number;
  peerCount: number;
  droppedMetrics: number;
  /** The node's clock minus the master's (null: unknown). */
  clockSkewMs: number | null;
  /** The node's last apply report (outcome, error, duration, warnings, queue depth). */
  report?: NodeReportItem | null;
};

export type NodeListModel = { nodes: NodeItem[]; canEdit: boolean; now: number };

/** The name the UI shows: the built-in node is the master itself. */
export const nodeLabel = (n: { name: string; isLocal: boolean }) => (n.isLocal ? "Master (local)" : n.name);

export const StatusBadge: FC<{ n: NodeItem }> = ({ n }) =>
  n.isLocal && !isRunning(n)
    ? <span class="badge status-offline">not running</span>
    : <span class={`badge status-${n.status}`} title={n.lastError ?? undefined}>{n.status}</span>;

/** The fields the status notices need. */
export const brief = (n: NodeItem): NodeBrief => ({
  id: n.id,
  name: n.name,
  isLocal: n.isLocal,
  status: n.status,
  lastSeenAt: n.lastSeenAt,
  enrolled: n.enrolled,
  peerCount: n.peerCount,
  hostname: n.hostname,
});

const ConfigVersion: FC<{ n: NodeItem }> = ({ n }) => <ConfigState n={n} />;

/** "10 min ahead of the master", "12 s behind the master" (past ±5 min its requests are refused). */
function clockSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const size = s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
  const note = Math.abs(ms) > 5 * 60_000 ? ": its requests are refused until its time is right" : "";
  return `${size} ${ms >= 0 ? "ahead of" : "behind"} the master${note}`;
}

const peersHref = (n: NodeItem) => `/ui/peers?node=${n.isLocal ? "local" : n.id}`;

export const NodeRow: FC<{ n: NodeItem; canEdit: boolean; now: number }> = ({ n, canEdit, now }) => (
  <tr id={`node-${n.id}`} class={n.isLocal ? "local-node" : undefined}>
    <td class="primary">
      <a href={`/ui/nodes/${n.id}`}>
        <strong>{nodeLabel(n)}</strong>
      </a>
    </td>
    <td data-label="Status">
      <StatusBadge n={n} />
      {n.status === "error" && n.lastError && <small class="error node-error">{n.lastError}</small>}
      {n.status === "pending" && n.tokenExpiresAt && (
        <small class="muted expiry">token valid until {formatTime(n.tokenExpiresAt)}</small>
      )}
    </td>
    <td data-label="Last seen" class="seen">
      <When at={n.lastSeenAt} now={now} />
    </td>
    <td data-label="FQDN / IP">
      <code>{n.fqdn}</code>
    </td>
    <td data-label="WireGuard port">{n.isLocal ? <span class="muted">per interface</span> : n.wgPort}</td>
    <td data-label="Peers">
      <a href={peersHref(n)} class="peer-count">{n.peerCount}</a>
    </td>
    <td data-label="Enrolled host">
      {n.hostname ? <code>{n.hostname}</code> : <span class="muted">—</span>}
    </td>
    <td data-label="Config">
      <ConfigVersion n={n} />
    </td>
    <td class="actions">
      {n.isLocal && !isRunning(n) && (
        <a class="button" href={`/ui/nodes/${n.id}#local-node-help`}>How to start it</a>
      )}
      {canEdit && !n.isLocal && (
        <>
          <a class="button" href={`/ui/nodes/${n.id}/edit`}>Edit</a>
          <a class="button" href={`/ui/nodes/${n.id}/token`} {...intoDialog(`/ui/nodes/${n.id}/token`)}>
            New token
          </a>
          <a
            class="button danger"
            href={`/ui/nodes/${n.id}/delete`}
            {...intoDialog(`/ui/nodes/${n.id}/delete`)}
          >
            Delete
          </a>
        </>
      )}
    </td>
  </tr>
);

/** The status table: returned alone when it polls itself (every 10 s) through htmx. */
export const NodeTable: FC<{ m: NodeListModel }> = ({ m }) => (
  <div id="node-table" hx-get="/ui/nodes" hx-trigger="every 10s" hx-swap="outerHTML">
    <table class="table">
      <thead>
        <tr>
          <th>Node</th>
          <th>Status</th>
          <th>Last seen</th>
          <th>FQDN / IP</th>
          <th>WireGuard port</th>
          <th>Peers</th>
          <th>Enrolled host</th>
          <th title="applied / current">Config</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {m.nodes.map((n) => <NodeRow n={n} canEdit={m.canEdit} now={m.now} />)}
      </tbody>
    </table>
    {m.nodes.length <= 1 && (
      <p class="muted" id="no-nodes">
        No other nodes yet. {m.canEdit ? "Add one below; it enrolls with a one-time token." : ""}
      </p>
    )}
  </div>
);

const NodeFields: FC<{ form: FormState }> = ({ form }) => (
  <>
    <Field
      name="name"
      label="Name"
      value={form.values.name}
      error={form.errors.name}
      required
      hint="e.g. frankfurt"
    />
    <Field
      name="fqdn"
      label="FQDN or IP"
      value={form.values.fqdn}
      error={form.errors.fqdn}
      required
      hint="Where clients reach the node"
    />
    <Field
      name="wg_port"
      label="WireGuard port"
      type="number"
      value={form.values.wg_port ?? "51820"}
      error={form.errors.wg_port}
      required
    />
  </>
);

export const NodesPage: FC<
  PageModel & { list: NodeListModel; form: FormState; help: LocalHelpModel; flash?: Flash | null }
> = (
  p,
) => (
  <Layout title="Nodes" user={p.user} active="nodes" flash={p.flash ?? null}>
    <div class="page-head">
      <h1>Nodes</h1>
      {p.list.canEdit && <a class="button primary" href="#new-node">Add node</a>}
    </div>
    <NodesDownNotice nodes={p.list.nodes.map(brief)} help={p.help} />
    <NodeTable m={p.list} />
    {p.list.canEdit && (
      <section class="card" id="new-node">
        <h2>Add a node</h2>
        <form method="post" action="/ui/nodes" class="grid-form" id="node-form">
          <FormErrors errors={p.form.errors} message={p.form.message} />
          <NodeFields form={p.form} />
          <div class="form-actions">
            <button type="submit" class="primary">Add node</button>
          </div>
        </form>
        <p class="muted">
          Adding a node shows its enrollment token once. The node uses it to enroll; changes reach it at once.
        </p>
      </section>
    )}
  </Layout>
);

// --- one node -------------------------------------------------------------------------------------

export type NodeDetailModel = {
  node: NodeItem;
  help: LocalHelpModel;
  interfaces: { name: string; address: string; publicKey: string | null }[];
  canEdit: boolean;
  now: number;
  chart: TrafficChartModel;
  health?: NodeHealthModel | null;
};

export const NodeDetailPage: FC<PageModel & { m: NodeDetailModel }> = (p) => {
  const n = p.m.node;
  return (
    <Layout title={nodeLabel(n)} user={p.user} active="nodes" flash={p.flash ?? null}>
      <div class="page-head">
        <h1>
          {nodeLabel(n)} <StatusBadge n={n} />
        </h1>
        <a href="/ui/nodes">Back to nodes</a>
      </div>
      <section class="card" id="node-facts">
        <dl class="facts">
          <dt>FQDN / IP</dt>
          <dd>
            <code>{n.fqdn}</code>
          </dd>
          <dt>WireGuard port</dt>
          <dd>{n.isLocal ? "per interface" : n.wgPort}</dd>
          <dt>Last seen</dt>
          <dd>
            <When at={n.lastSeenAt} now={p.m.now} />
          </dd>
          {n.lastError && (
            <>
              <dt>Last error</dt>
              <dd class="error">{n.lastError}</dd>
            </>
          )}
          <dt>Enrolled host</dt>
          <dd>{n.hostname ? <code>{n.hostname}</code> : <span class="muted">not enrolled</span>}</dd>
          {n.tokenExpiresAt && (
            <>
              <dt>Enrollment token</dt>
              <dd>valid until {formatTime(n.tokenExpiresAt)}</dd>
            </>
          )}
          <dt>Config version</dt>
          <dd>
            <ConfigVersion n={n} />
          </dd>
          <dt>Peers</dt>
          <dd>
            <a href={peersHref(n)}>{n.peerCount} peer{n.peerCount === 1 ? "" : "s"}</a>
          </dd>
          {n.clockSkewMs !== null && Math.abs(n.clockSkewMs) >= 2_000 && (
            <>
              <dt>Clock</dt>
              <dd class={Math.abs(n.clockSkewMs) >= 60_000 ? "error" : undefined}>
                {clockSkew(n.clockSkewMs)}
              </dd>
            </>
          )}
          {n.droppedMetrics > 0 && (
            <>
              <dt>Dropped metrics</dt>
              <dd>{n.droppedMetrics} (the node's queue was full)</dd>
            </>
          )}
        </dl>
        {p.m.canEdit && !n.isLocal && (
          <p class="row-actions">
            <a class="button" href={`/ui/nodes/${n.id}/edit`}>Edit</a>
            <a class="button" href={`/ui/nodes/${n.id}/token`}>New token</a>
            {n.enrolled && (
              <a class="button" id="rotate-identity" href={`/ui/nodes/${n.id}/identity`}>
                Rotate identity key…
              </a>
            )}
            {n.enrolled && (
              <a class="button" id="wg-keys" href={`/ui/nodes/${n.id}/wg-keys`}>WireGuard keys…</a>
            )}
            <a class="button danger" href={`/ui/nodes/${n.id}/delete`}>Delete</a>
          </p>
        )}
      </section>
      {!isRunning(n) && (
        <section class="card notice" id="node-down">
          <h2>{n.isLocal ? "Not running" : n.status === "pending" ? "Waiting to enroll" : "Not running"}</h2>
          {n.isLocal
            ? <LocalNodeHelp n={brief(n)} m={p.m.help} />
            : <RemoteNodeHelp n={brief(n)} canEdit={p.m.canEdit} />}
        </section>
      )}
      <section class="card" id="node-interfaces">
        <h2>Interfaces</h2>
        {p.m.interfaces.length === 0 ? <p class="muted">No interfaces yet.</p> : (
          <table class="table">
            <thead>
              <tr>
                <th>Interface</th>
                <th>Address</th>
                <th>Public key</th>
              </tr>
            </thead>
            <tbody>
              {p.m.interfaces.map((i) => (
                <tr>
                  <td class="primary">{i.name}</td>
                  <td data-label="Address">
                    <code>{i.address}</code>
                  </td>
                  <td data-label="Public key">
                    {i.publicKey
                      ? <code>{i.publicKey}</code>
                      : <span class="muted">not reported yet (the node makes its own key)</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {p.m.health && <NodeHealthCard m={p.m.health} />}
      <TrafficChart m={p.m.chart} />
    </Layout>
  );
};

// --- edit, delete, token --------------------------------------------------------------------------

export const NodeEditPage: FC<PageModel & { id: number; currentName: string; form: FormState }> = (p) => (
  <Layout title="Edit node" user={p.user} active="nodes">
    <h1>Edit node {p.currentName}</h1>
    <section class="card">
      <form method="post" action={`/ui/nodes/${p.id}`} class="grid-form" id="node-form">
        <FormErrors errors={p.form.errors} message={p.form.message} />
        <NodeFields form={p.form} />
        <div class="form-actions">
          <button type="submit" class="primary">Save</button> <a href="/ui/nodes">Cancel</a>
        </div>
      </form>
      <p class="muted">A new port reaches the node's peers with their next config download.</p>
    </section>
  </Layout>
);

/** Deleting a node, after a warning that names its peers. */
export function nodeDeleteConfirm(n: NodeItem): ConfirmModel {
  return {
    title: `Delete node ${n.name}?`,
    warning: n.peerCount === 0
      ? "No peers are assigned to this node."
      : `${n.peerCount} peer${n.peerCount === 1 ? " is" : "s are"} assigned to this node. ${
        n.peerCount === 1 ? "It" : "They"
      } will be unassigned and become the master's own peers: their clients need a new config to connect to the master.`,
    detail:
      "The node is refused at its next sync; it then takes down the interfaces it created. This cannot be undone: to bring it back, add it again and enroll it with a new token.",
    action: `/ui/nodes/${n.id}/delete`,
    button: `Delete node ${n.name}`,
    danger: true,
    cancel: "/ui/nodes",
    active: "nodes",
    id: "delete-node",
    warningId: "delete-warning",
  };
}

/** A new enrollment token, after a warning that the old one stops working. */
export function nodeTokenConfirm(n: NodeItem): ConfirmModel {
  return {
    title: `New enrollment token for ${nodeLabel(n)}?`,
    warning:
      "The old enrollment token stops working at once. Use a new one when the node must enroll again (a fresh install, a lost key or certificate); enrolling replaces the node's current identity.",
    action: `/ui/nodes/${n.id}/token`,
    button: "Make a new token",
    danger: false,
    cancel: "/ui/nodes",
    active: "nodes",
    id: "token-confirm",
    warningId: "token-warning",
  };
}

/** Whether the node with a new token has enrolled: polls itself every 3 s until it is online. */
export const EnrollStatus: FC<{ n: NodeBrief }> = ({ n }) => {
  const online = n.enrolled && isRunning(n);
  const poll = online ? {} : {
    "hx-get": `/ui/nodes/${n.id}/status`,
    "hx-trigger": "every 3s",
    "hx-swap": "outerHTML",
    "data-quiet": true,
  };
  return (
    <p id="enroll-status" class={online ? "enroll-status online" : "enroll-status"} role="status" {...poll}>
      <span class={online ? "dot online" : "dot"} aria-hidden="true"></span>
      {online
        ? `Online: ${n.isLocal ? "Master (local)" : n.name} enrolled${
          n.hostname ? ` from ${n.hostname}` : ""
        }.`
        : n.enrolled
        ? "Enrolled; waiting for its first report…"
        : "Waiting for the node to enroll… (this turns green by itself)"}
    </p>
  );
};

/** Where install.sh lives (as in the README; the release it installs from is its own default). */
export const INSTALL_SH_URL = "https://github.com/wirebuddy/wirebuddy/releases/latest/download/install.sh";

export type NodeTokenModel = {
  node: { id: number; name: string; isLocal: boolean };
  /** The node as it is now (for the enrollment status line). */
  status: NodeBrief;
  token: string;
  expiresAt: number | null;
  created: boolean;
  /** The master's own host: how the local node reaches it. */
  loopbackUrl: string;
  /** Set when the token sends a remote node to an address only this machine can reach. */
  urlWarning: string | null;
};

/** The enrollment token, shown in this response only (never in a URL, cookie or flash). */
export const NodeTokenPage: FC<PageModel & { m: NodeTokenModel }> = (p) => {
  const m = p.m;
  const name = m.node.isLocal ? "Master (local)" : m.node.name;
  const command = m.node.isLocal
    ? `WIREBUDDY_MASTER_URL=${m.loopbackUrl} WIREBUDDY_ENROLLMENT_TOKEN=${m.token} wirebuddy-node`
    : `curl -fsSL ${INSTALL_SH_URL} | sudo sh -s -- node --token ${m.token}`;
  return (
    <Layout title={`Enrollment token for ${name}`} user={p.user} active="nodes" flash={p.flash ?? null}>
      <h1>{m.created ? `Node ${name} added` : `New enrollment token for ${name}`}</h1>
      <section class="card highlight" id="enrollment">
        <p>
          <strong>Copy it now: it is shown only once.</strong> It works for one enrollment
          {m.expiresAt ? ` until ${formatTime(m.expiresAt)}` : ""}.{m.created
            ? ""
            : " The old token no longer works."}
        </p>
        {m.urlWarning && <p class="warning" id="token-url-warning">{m.urlWarning}</p>}
        <EnrollStatus n={m.status} />
        <h2>{m.node.isLocal ? "Start it on this machine, as root" : "Install it on the node"}</h2>
        <p class="muted">
          {m.node.isLocal
            ? "With wirebuddy-node installed (from source: sudo scripts/run node instead of wirebuddy-node):"
            : "On a Debian, Ubuntu or RHEL-family host with systemd, as root (it installs WireGuard and the node, and enrolls it):"}
        </p>
        <pre class="secret"><code id="install-command">{command}</code></pre>
        <p>
          <button type="button" class="copy primary" data-copy="install-command" id="copy-command">
            Copy command
          </button>
        </p>
        {!m.node.isLocal && (
          <p class="muted">
            With <code>wirebuddy-node</code> already installed:{" "}
            <code>WIREBUDDY_ENROLLMENT_TOKEN=… wirebuddy-node</code>.
          </p>
        )}
        <h2>The token alone</h2>
        <pre class="secret"><code id="enrollment-token">{m.token}</code></pre>
        <p>
          <button type="button" class="copy" data-copy="enrollment-token" id="copy-token">Copy token</button>
        </p>
        <p class="row-actions">
          <a class="button primary" href="/ui/nodes">Done</a>
          <a class="button" href={`/ui/nodes/${m.node.id}`}>View the node</a>
        </p>
      </section>
    </Layout>
  );
};
