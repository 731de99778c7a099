// Failover pools: each pool with its members (health, announce state, sessions, drain) and which member
// serves each client; drain, undrain and remove per member; the create and edit forms. Plain forms: it
// works without JavaScript, and on a phone the tables stack like the other screens'.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type PoolMemberItem = {
  nodeId: number;
  nodeName: string;
  isLocal: boolean;
  priority: number;
  status: string;
  healthFailures: number;
  drained: boolean;
  drainState: "active" | "draining" | "safe";
  report: { state: string; detail: string | null; sessions: number; at: number } | null;
};

export type PoolItem = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listenPort: number;
  publicKey: string;
  announce:
    | { kind: "vrrp"; address: string; vrid: number; advertMs: number; link: string | null }
    | {
      kind: "dns";
      name: string;
      zone: string;
      server: string;
      ttl: number;
      tsig: { name: string; algorithm: string };
    }
    | null;
  members: PoolMemberItem[];
  clients: {
    peerId: number;
    name: string;
    ipv4: string;
    enabled: boolean;
    servedBy: { nodeName: string; handshakeAt: number; endpoint: string | null } | null;
  }[];
  /** DNS mode: what the master last published by RFC 2136 and its last error (null before its first try). */
  dnsPublish?: PoolDnsPublishItem | null;
};

export type PoolDnsPublishItem = {
  published: string[] | null;
  publishedAt: number | null;
  wanted: string[];
  lastError: string | null;
  failures: number;
  nextAttemptAt: number | null;
};

const DnsPublishLine: FC<{ p: PoolItem; d: PoolDnsPublishItem }> = ({ p, d }) => (
  <>
    <p id={`pool-${p.id}-dns`}>
      DNS records: {d.published === null
        ? "none published yet"
        : `${d.published.join(", ") || "none (no healthy member)"}, published ${formatTime(d.publishedAt)}`}
      {d.lastError === null && d.published?.join() !== d.wanted.join() && " (updating…)"}
    </p>
    {d.lastError !== null && (
      <p class="error" id={`pool-${p.id}-dns-error`} role="alert">
        DNS update failed{d.failures > 1 ? ` ${d.failures} times` : ""}: {d.lastError}. Next try{" "}
        {formatTime(d.nextAttemptAt)}.
      </p>
    )}
  </>
);

export type PoolsPageModel = PageModel & {
  pools: PoolItem[];
  canEdit: boolean;
  /** Nodes that may join a pool (id and name). */
  nodes: { id: number; name: string }[];
  form: FormState;
  flash?: Flash | null;
};

const drainText = (m: PoolMemberItem) =>
  m.drainState === "safe"
    ? "drained: safe to stop"
    : m.drainState === "draining"
    ? "draining…"
    : "in service";

function announceText(p: PoolItem): string {
  const a = p.announce;
  if (!a) return "not announced";
  return a.kind === "vrrp"
    ? `VRRP ${a.address} (router id ${a.vrid}${a.link ? ` on ${a.link}` : ""}, every ${a.advertMs} ms)`
    : `DNS ${a.name} (zone ${a.zone} at ${a.server}, TTL ${a.ttl} s)`;
}

const MemberRow: FC<{ p: PoolItem; m: PoolMemberItem; canEdit: boolean }> = ({ p, m, canEdit }) => (
  <tr id={`pool-${p.id}-member-${m.nodeId}`}>
    <td class="primary">
      <strong>{m.nodeName}</strong>
      {m.isLocal && <span class="muted">(master)</span>}
    </td>
    <td data-label="Priority">{m.priority}</td>
    <td data-label="Health">
      {m.status}
      {m.healthFailures > 0 && <span class="muted">({m.healthFailures} failed checks)</span>}
    </td>
    <td data-label="Announce">
      {m.report ? m.report.state : "no report yet"}
      {m.report?.detail && <small class="hint block">{m.report.detail}</small>}
    </td>
    <td data-label="Sessions">{m.report ? m.report.sessions : "–"}</td>
    <td data-label="Drain">{drainText(m)}</td>
    <td class="actions">
      {canEdit && (
        <>
          <form
            method="post"
            action={`/ui/pools/${p.id}/members/${m.nodeId}/${m.drained ? "undrain" : "drain"}`}
          >
            <button type="submit">{m.drained ? "Undrain" : "Drain"}</button>
          </form>
          <a class="button danger" href={`/ui/pools/${p.id}/members/${m.nodeId}/remove`}>Remove</a>
        </>
      )}
    </td>
  </tr>
);

export const PoolCard: FC<{ p: PoolItem; canEdit: boolean; nodes: { id: number; name: string }[] }> = (
  { p, canEdit, nodes },
) => {
  const free = nodes.filter((n) => !p.members.some((m) => m.nodeId === n.id));
  return (
    <section class="card" id={`pool-${p.id}`}>
      <h2>{p.name}</h2>
      <p>
        <code>{p.address4}</code>
        {p.address6 && <code>{p.address6}</code>}, port {p.listenPort}. {announceText(p)}.{" "}
        {canEdit && <a href={`/ui/pools/${p.id}/edit`}>Edit announce settings</a>}
      </p>
      {p.dnsPublish && <DnsPublishLine p={p} d={p.dnsPublish} />}
      <p class="muted">
        Public key <code class="key" title={p.publicKey}>{p.publicKey}</code>
      </p>
      <h3>Members</h3>
      <table class="table">
        <thead>
          <tr>
            <th>Node</th>
            <th>Priority</th>
            <th>Health</th>
            <th>Announce</th>
            <th>Sessions</th>
            <th>Drain</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.members.length === 0 && (
            <tr>
              <td colspan={7} class="muted">No members yet: add a node below.</td>
            </tr>
          )}
          {p.members.map((m) => <MemberRow p={p} m={m} canEdit={canEdit} />)}
        </tbody>
      </table>
      {canEdit && free.length > 0 && (
        <form method="post" action={`/ui/pools/${p.id}/members`} class="grid-form">
          <label class="field">
            <span>Add a node</span>
            <select name="node_id">
              {free.map((n) => <option value={String(n.id)}>{n.name}</option>)}
            </select>
          </label>
          <Field name="priority" label="VRRP priority (optional)" hint="1-254, higher wins" />
          <button type="submit">Add member</button>
        </form>
      )}
      <h3>Clients</h3>
      <table class="table">
        <thead>
          <tr>
            <th>Client</th>
            <th>Address</th>
            <th>Served by</th>
            <th>Last handshake</th>
            <th>Endpoint</th>
          </tr>
        </thead>
        <tbody>
          {p.clients.length === 0 && (
            <tr>
              <td colspan={5}>
                {/* Running text: its link is underlined, not told apart by colour alone. */}
                <p class="muted">
                  No clients yet: <a href="/ui/peers/new">add a peer</a> on {p.name} (leave its node empty).
                </p>
              </td>
            </tr>
          )}
          {p.clients.map((c) => (
            <tr>
              <td class="primary">
                <a href={`/ui/peers/${c.peerId}/traffic`}>{c.name}</a>
                {!c.enabled && <span class="muted">(disabled)</span>}
              </td>
              <td data-label="Address">
                <code>{c.ipv4}</code>
              </td>
              <td data-label="Served by">{c.servedBy?.nodeName ?? "no handshake yet"}</td>
              <td data-label="Last handshake">{formatTime(c.servedBy?.handshakeAt)}</td>
              <td data-label="Endpoint">{c.servedBy?.endpoint ?? "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
};

/** The announce fields (the create and edit forms); errors are keyed like the API's (announce.vrid). */
export const AnnounceFields: FC<{ form: FormState }> = ({ form }) => {
  const v = form.values;
  const e = form.errors;
  return (
    <>
      <label class={e.announce ? "field invalid" : "field"}>
        <span>Address follows health by</span>
        <select name="announce_kind">
          <option value="vrrp" selected={v.announce_kind !== "dns"}>
            VRRP floating address (keepalived)
          </option>
          <option value="dns" selected={v.announce_kind === "dns"}>DNS name (RFC 2136 updates)</option>
        </select>
        {e.announce && <small class="error">{e.announce}</small>}
      </label>
      <fieldset class="field-group">
        <legend>VRRP</legend>
        <Field
          name="vrrp_address"
          label="Floating address"
          value={v.vrrp_address}
          error={e["announce.address"]}
          hint="With its prefix on the link, e.g. 192.0.2.10/24"
        />
        <Field
          name="vrrp_vrid"
          label="Router id"
          value={v.vrrp_vrid}
          error={e["announce.vrid"]}
          hint="1-255, unique per link"
        />
        <Field
          name="vrrp_advert_ms"
          label="Advert interval (ms)"
          value={v.vrrp_advert_ms}
          error={e["announce.advert_ms"]}
          hint="100-10000, default 1000"
        />
        <Field
          name="vrrp_link"
          label="Link (optional)"
          value={v.vrrp_link}
          error={e["announce.link"]}
          hint="e.g. eth0; empty: the route's device"
        />
      </fieldset>
      <fieldset class="field-group">
        <legend>DNS</legend>
        <Field
          name="dns_name"
          label="Pool name"
          value={v.dns_name}
          error={e["announce.name"]}
          hint="e.g. vpn.example.com"
        />
        <Field
          name="dns_zone"
          label="Zone"
          value={v.dns_zone}
          error={e["announce.zone"]}
          hint="e.g. example.com"
        />
        <Field
          name="dns_server"
          label="Authoritative server"
          value={v.dns_server}
          error={e["announce.server"]}
          hint="host:port, e.g. 192.0.2.53:53"
        />
        <Field name="tsig_name" label="TSIG key name" value={v.tsig_name} error={e["announce.tsig.name"]} />
        <label class="field">
          <span>TSIG algorithm</span>
          <select name="tsig_algorithm">
            <option value="hmac-sha256" selected={v.tsig_algorithm !== "hmac-sha512"}>hmac-sha256</option>
            <option value="hmac-sha512" selected={v.tsig_algorithm === "hmac-sha512"}>hmac-sha512</option>
          </select>
        </label>
        <Field
          name="tsig_secret"
          label="TSIG secret (base64)"
          type="password"
          error={e["announce.tsig.secret"]}
          hint="Empty when editing: the stored one stays"
          autocomplete="off"
        />
        <Field
          name="dns_ttl"
          label="TTL (seconds)"
          value={v.dns_ttl}
          error={e["announce.ttl"]}
          hint="1-3600, default 30"
        />
      </fieldset>
    </>
  );
};

export const PoolsPage: FC<PoolsPageModel> = (p) => (
  <Layout title="Failover pools" user={p.user} active="pools" flash={p.flash ?? null}>
    <h1>Failover pools</h1>
    <p class="muted">
      A pool is one WireGuard server made of several nodes: clients keep one config while the pool's address
      follows the healthy members. Removing a member gives the pool a new key: clients must download their
      configs again.
    </p>
    {p.pools.length === 0 && <p class="muted">No pools yet.</p>}
    {p.pools.map((x) => <PoolCard p={x} canEdit={p.canEdit} nodes={p.nodes} />)}
    {p.canEdit && (
      <section class="card">
        <h2>Create a pool</h2>
        <form method="post" action="/ui/pools" class="grid-form" id="new-pool">
          <FormErrors errors={p.form.errors} message={p.form.message} />
          <Field
            name="name"
            label="Name"
            value={p.form.values.name}
            error={p.form.errors.name}
            required
            hint="The pool's interface, like wbp0"
          />
          <Field
            name="ipv4_pool"
            label="IPv4 pool"
            value={p.form.values.ipv4_pool}
            error={p.form.errors.ipv4_pool}
            required
            hint="e.g. 10.77.0.0/24"
          />
          <Field
            name="listen_port"
            label="Listen port"
            value={p.form.values.listen_port}
            error={p.form.errors.listen_port}
            required
            hint="The same on every member"
          />
          <AnnounceFields form={p.form} />
          <button type="submit" class="primary">Create pool</button>
        </form>
      </section>
    )}
  </Layout>
);

export const PoolEditPage: FC<PageModel & { id: number; name: string; form: FormState }> = (p) => (
  <Layout title={`Edit ${p.name}`} user={p.user} active="pools">
    <h1>Edit pool {p.name}</h1>
    <section class="card">
      <form method="post" action={`/ui/pools/${p.id}`} class="grid-form" id="edit-pool">
        <FormErrors errors={p.form.errors} message={p.form.message} />
        <Field
          name="listen_port"
          label="Listen port"
          value={p.form.values.listen_port}
          error={p.form.errors.listen_port}
          hint="The same on every member; clients must download their configs again after a change"
        />
        <AnnounceFields form={p.form} />
        <div class="form-actions">
          <button type="submit" class="primary">Save</button> <a href="/ui/pools">Cancel</a>
        </div>
      </form>
    </section>
  </Layout>
);
