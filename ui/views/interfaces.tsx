// WireGuard interfaces: the table, the create form and the edit page. Viewers see the table only.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { intoDialog } from "./confirm.tsx";
import { Field, type Flash, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type InterfaceItem = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listenPort: number;
  mtu: number | null;
  dns: string[];
  keepalive: number | null;
  endpointHost: string | null;
  publicKey: string;
  peerCount: number;
  /** A failover pool (issue 11): its announce settings and members are on the Pools page. */
  pool?: boolean;
};

/** The form's values for an existing interface (what the edit page starts from). */
export function interfaceFormValues(i: InterfaceItem): Record<string, string> {
  return {
    name: i.name,
    ipv4_pool: i.address4,
    ipv6_pool: i.address6 ?? "",
    listen_port: String(i.listenPort),
    mtu: i.mtu === null ? "" : String(i.mtu),
    dns: i.dns.join(", "),
    keepalive: i.keepalive === null ? "" : String(i.keepalive),
    endpoint_host: i.endpointHost ?? "",
  };
}

export const InterfaceRow: FC<{ i: InterfaceItem; canEdit: boolean }> = ({ i, canEdit }) => (
  <tr id={`interface-${i.id}`}>
    <td class="primary">
      <strong>{i.name}</strong>
      {i.pool && (
        <>
          {" "}
          <span class="badge node pool" title="Members and announce settings: the Pools page">
            failover pool
          </span>
        </>
      )}
    </td>
    <td data-label="Addresses">
      <code>{i.address4}</code>
      {i.address6 && (
        <>
          <br />
          <code>{i.address6}</code>
        </>
      )}
    </td>
    <td data-label="Port">{i.listenPort}</td>
    <td data-label="Public key">
      <code class="key" title={i.publicKey}>{i.publicKey}</code>
    </td>
    <td data-label="Peers">
      <a href={`/ui/peers?interface_id=${i.id}`}>{i.peerCount}</a>
    </td>
    <td class="actions">
      {canEdit && (
        <>
          <a class="button" href={`/ui/interfaces/${i.id}/edit`}>Edit</a>
          <a
            class="button danger"
            href={`/ui/interfaces/${i.id}/delete`}
            {...intoDialog(`/ui/interfaces/${i.id}/delete`)}
          >
            Delete
          </a>
        </>
      )}
    </td>
  </tr>
);

export const InterfaceTable: FC<{ interfaces: InterfaceItem[]; canEdit: boolean }> = (
  { interfaces, canEdit },
) => (
  <table class="table" id="interface-table">
    <thead>
      <tr>
        <th>Name</th>
        <th>Addresses</th>
        <th>Port</th>
        <th>Public key</th>
        <th>Peers</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      {interfaces.length === 0 && (
        <tr>
          <td colspan={6} class="muted">No interfaces yet.</td>
        </tr>
      )}
      {interfaces.map((i) => <InterfaceRow i={i} canEdit={canEdit} />)}
    </tbody>
  </table>
);

/** The fields shared by the create and edit forms; the name is fixed once created. */
const InterfaceFields: FC<{ form: FormState; editing: boolean }> = ({ form, editing }) => {
  const v = form.values;
  const e = form.errors;
  return (
    <>
      <FormErrors errors={e} message={form.message} />
      {editing
        ? (
          <label class="field">
            <span>Name</span>
            <input name="name" value={v.name ?? ""} readonly />
            <small class="hint">The name cannot change (the private key is bound to it).</small>
          </label>
        )
        : (
          <Field
            name="name"
            label="Name"
            value={v.name}
            error={e.name}
            required
            hint="Like wg0: 1-15 letters, digits or _ . = + -"
          />
        )}
      <Field
        name="ipv4_pool"
        label="IPv4 pool"
        value={v.ipv4_pool}
        error={e.ipv4_pool}
        required
        hint="e.g. 10.13.13.0/24"
      />
      <Field
        name="ipv6_pool"
        label="IPv6 pool (optional)"
        value={v.ipv6_pool}
        error={e.ipv6_pool}
        hint="e.g. fd42:13::/64"
      />
      <Field
        name="listen_port"
        label="Listen port"
        value={v.listen_port ?? (editing ? "" : "51820")}
        error={e.listen_port}
        required
      />
      <Field name="mtu" label="MTU (optional)" value={v.mtu} error={e.mtu} hint="1280-9000" />
      <Field
        name="dns"
        label="DNS for clients"
        value={v.dns}
        error={e.dns}
        hint="Comma-separated, e.g. 1.1.1.1, 9.9.9.9"
      />
      <Field
        name="keepalive"
        label="Keepalive (seconds)"
        value={v.keepalive}
        error={e.keepalive}
        hint="e.g. 25; empty = off"
      />
      <Field
        name="endpoint_host"
        label="Endpoint host (optional)"
        value={v.endpoint_host}
        error={e.endpoint_host}
        hint="Defaults to the master's public host."
      />
    </>
  );
};

export const InterfacesPage: FC<
  PageModel & { interfaces: InterfaceItem[]; canEdit: boolean; form: FormState; flash?: Flash | null }
> = (p) => (
  <Layout title="Interfaces" user={p.user} active="interfaces" flash={p.flash ?? null}>
    <h1>Interfaces</h1>
    <InterfaceTable interfaces={p.interfaces} canEdit={p.canEdit} />
    {p.canEdit && (
      <section class="card">
        <h2>Add an interface</h2>
        <form method="post" action="/ui/interfaces" class="grid-form" id="new-interface">
          <InterfaceFields form={p.form} editing={false} />
          <button type="submit" class="primary">Create interface</button>
        </form>
      </section>
    )}
  </Layout>
);

export const InterfaceEditPage: FC<PageModel & { id: number; form: FormState }> = (p) => (
  <Layout title={`Edit ${p.form.values.name ?? "interface"}`} user={p.user} active="interfaces">
    <h1>Edit interface {p.form.values.name}</h1>
    <section class="card">
      <form method="post" action={`/ui/interfaces/${p.id}`} class="grid-form" id="edit-interface">
        <InterfaceFields form={p.form} editing />
        <div class="form-actions">
          <button type="submit" class="primary">Save</button> <a href="/ui/interfaces">Cancel</a>
        </div>
      </form>
    </section>
  </Layout>
);
