// Users: list, create, change role, reset password, delete (admins); viewers only see.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { intoDialog } from "./confirm.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type UserItem = {
  id: number;
  username: string;
  role: "admin" | "viewer";
  createdAt: number;
  isSelf: boolean;
  /** "all", or the nodes and pools this user is limited to, by name. */
  scopeText: string;
};

export const UserRow: FC<{ u: UserItem; canEdit: boolean }> = ({ u, canEdit }) => (
  <tr id={`user-${u.id}`}>
    <td class="primary">{u.username}{u.isSelf && <span class="muted you">(you)</span>}</td>
    <td data-label="Role">
      <span class={`badge role-${u.role}`}>{u.role}</span>
    </td>
    <td data-label="Scope" class="user-scope">{u.scopeText}</td>
    <td data-label="Created">{formatTime(u.createdAt)}</td>
    <td class="actions">
      {canEdit && (
        <>
          {!u.isSelf && <a class="button" href={`/ui/users/${u.id}/scope`}>Scope</a>}
          <form method="post" action={`/ui/users/${u.id}/role`} class="inline">
            <input type="hidden" name="role" value={u.role === "admin" ? "viewer" : "admin"} />
            <button type="submit">{u.role === "admin" ? "Make viewer" : "Make admin"}</button>
          </form>
          {!u.isSelf && (
            <a
              class="button"
              href={`/ui/users/${u.id}/second-factor/reset`}
              {...intoDialog(`/ui/users/${u.id}/second-factor/reset`)}
            >
              Reset second factor
            </a>
          )}
          <a
            class="button danger"
            href={`/ui/users/${u.id}/delete`}
            {...intoDialog(`/ui/users/${u.id}/delete`)}
          >
            Delete
          </a>
        </>
      )}
    </td>
  </tr>
);

export const UserTable: FC<{ users: UserItem[]; canEdit: boolean }> = ({ users, canEdit }) => (
  <table class="table" id="user-table">
    <thead>
      <tr>
        <th>Username</th>
        <th>Role</th>
        <th>Scope</th>
        <th>Created</th>
        <th></th>
      </tr>
    </thead>
    <tbody>{users.map((u) => <UserRow u={u} canEdit={canEdit} />)}</tbody>
  </table>
);

export const UsersPage: FC<
  PageModel & { users: UserItem[]; canEdit: boolean; form: FormState; flash?: Flash | null }
> = (p) => (
  <Layout title="Users" user={p.user} active="users" flash={p.flash ?? null}>
    <h1>Users</h1>
    <UserTable users={p.users} canEdit={p.canEdit} />
    {p.canEdit
      ? (
        <section class="card">
          <h2>Add a user</h2>
          <form method="post" action="/ui/users" class="grid-form" id="new-user">
            <FormErrors errors={p.form.errors} message={p.form.message} />
            <Field
              name="username"
              label="Username"
              value={p.form.values.username}
              error={p.form.errors.username}
              required
            />
            <Field
              name="password"
              label="Password"
              type="password"
              error={p.form.errors.password}
              required
              autocomplete="new-password"
            />
            <label class={p.form.errors.role ? "field invalid" : "field"}>
              <span>Role</span>
              <select name="role">
                <option value="viewer" selected={p.form.values.role !== "admin"}>viewer (read-only)</option>
                <option value="admin" selected={p.form.values.role === "admin"}>admin</option>
              </select>
              {p.form.errors.role && <small class="error" data-field="role">Role: {p.form.errors.role}
              </small>}
            </label>
            <button type="submit" class="primary">Add user</button>
          </form>
        </section>
      )
      : <p class="muted">You have read-only access.</p>}
  </Layout>
);

export type ScopeChoice = { id: number; name: string; checked: boolean };

/** Limit a user to some nodes and pools (and their peers), or give back the whole fleet. */
export const ScopePage: FC<
  PageModel & {
    target: { id: number; username: string };
    scoped: boolean;
    nodes: ScopeChoice[];
    pools: ScopeChoice[];
  }
> = (p) => (
  <Layout title="Scope" user={p.user} active="users" flash={p.flash ?? null}>
    <section class="card narrow" id="scope-form">
      <h1>Scope of {p.target.username}</h1>
      <p class="muted">
        A scoped user sees and changes only these nodes and pools and their peers, in the UI and the API
        (their API tokens too); users, settings, webhooks and the fleet's own pages stay closed to them.
      </p>
      <form method="post" action={`/ui/users/${p.target.id}/scope`} class="stack">
        <label class="check">
          <input type="checkbox" name="scoped" value="on" checked={p.scoped} />{" "}
          Limit to the nodes and pools below
        </label>
        <fieldset>
          <legend>Nodes</legend>
          {p.nodes.map((n) => (
            <label class="check">
              <input type="checkbox" name="nodes" value={String(n.id)} checked={n.checked} /> {n.name}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Pools (interfaces)</legend>
          {p.pools.map((i) => (
            <label class="check">
              <input type="checkbox" name="interfaces" value={String(i.id)} checked={i.checked} /> {i.name}
            </label>
          ))}
        </fieldset>
        <button type="submit" class="primary">Save scope</button>
      </form>
    </section>
  </Layout>
);
