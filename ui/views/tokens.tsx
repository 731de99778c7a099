// API tokens: created here, shown once, revocable.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { intoDialog } from "./confirm.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type TokenItem = {
  id: number;
  name: string;
  prefix: string;
  scope: "read" | "write";
  owner: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  status: "active" | "expired" | "revoked";
};

export const TokenTable: FC<{ tokens: TokenItem[]; canEdit: boolean }> = ({ tokens, canEdit }) => (
  <table class="table" id="token-table">
    <thead>
      <tr>
        <th>Name</th>
        <th>Token</th>
        <th>Scope</th>
        <th>Owner</th>
        <th>Expires</th>
        <th>Last used</th>
        <th>Status</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      {tokens.length === 0 && (
        <tr>
          <td colspan={8} class="muted">No API tokens yet.</td>
        </tr>
      )}
      {tokens.map((t) => (
        <tr id={`token-${t.id}`}>
          <td class="primary">{t.name}</td>
          <td data-label="Token">
            <code>{t.prefix}…</code>
          </td>
          <td data-label="Scope">{t.scope}</td>
          <td data-label="Owner">{t.owner}</td>
          <td data-label="Expires">{t.expiresAt ? formatTime(t.expiresAt) : "never"}</td>
          <td data-label="Last used">{formatTime(t.lastUsedAt)}</td>
          <td data-label="Status">
            <span class={`badge status-${t.status}`}>{t.status}</span>
          </td>
          <td class="actions">
            {canEdit && t.status === "active" && (
              <a
                class="button danger"
                href={`/ui/tokens/${t.id}/revoke`}
                {...intoDialog(`/ui/tokens/${t.id}/revoke`)}
              >
                Revoke
              </a>
            )}
          </td>
        </tr>
      ))}
    </tbody>
  </table>
);

export const TokensPage: FC<
  PageModel & {
    tokens: TokenItem[];
    canEdit: boolean;
    form: FormState;
    created?: { name: string; token: string } | null;
    flash?: Flash | null;
  }
> = (p) => (
  <Layout title="API tokens" user={p.user} active="tokens" flash={p.flash ?? null}>
    <h1>API tokens</h1>
    {p.created && (
      <section class="card highlight" id="new-token">
        <h2>Token "{p.created.name}" created</h2>
        <p>Copy it now: it is shown only once.</p>
        <pre class="secret"><code id="new-token-value">{p.created.token}</code></pre>
        <p class="muted">
          Use it as <code>Authorization: Bearer &lt;token&gt;</code> on <code>/api/…</code>.
        </p>
      </section>
    )}
    <TokenTable tokens={p.tokens} canEdit={p.canEdit} />
    {p.canEdit && (
      <section class="card">
        <h2>Create a token</h2>
        <form method="post" action="/ui/tokens" class="grid-form">
          <FormErrors errors={p.form.errors} message={p.form.message} />
          <Field name="name" label="Name" value={p.form.values.name} error={p.form.errors.name} required />
          <label class={p.form.errors.scope ? "field invalid" : "field"}>
            <span>Scope</span>
            <select name="scope">
              <option value="read" selected={p.form.values.scope !== "write"}>read</option>
              <option value="write" selected={p.form.values.scope === "write"}>write</option>
            </select>
            {p.form.errors.scope && (
              <small class="error" data-field="scope">Scope: {p.form.errors.scope}</small>
            )}
          </label>
          <Field
            name="expires_in_days"
            label="Expires in (days, 0 = never)"
            type="number"
            value={p.form.values.expires_in_days ?? "90"}
            error={p.form.errors.expires_in_days}
          />
          <button type="submit" class="primary">Create token</button>
        </form>
      </section>
    )}
  </Layout>
);
