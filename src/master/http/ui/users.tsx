// Users: the list, adding one (admins only), changing a role, deleting.
import { Hono } from "hono";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { ScopePage, UsersPage } from "../../../../ui/views/users.tsx";
import type { AdminScope } from "../../service/scope.ts";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  confirmation,
  currentUser,
  formBody,
  formOrDraft,
  html,
  redirectWith,
  requireWriter,
  takeFlash,
  withForm,
} from "../ui_kit.tsx";

export function usersRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const scopeText = (scope: AdminScope | null) => {
    if (!scope) return "all";
    const names = (list: { id: number; name: string }[], ids: number[]) =>
      list.filter((x) => ids.includes(x.id)).map((x) => x.name).join(", ") || "none";
    return `nodes: ${names(s.nodes.list(), scope.nodes)}; pools: ${
      names(s.interfaces.list(), scope.interfaces)
    }`;
  };
  ui.get("/ui/users/:id/scope", (c) => {
    requireWriter(c, "users");
    const u = s.accounts.get(idParam(c));
    const pick = (ids: number[] | undefined) => (x: { id: number; name: string }) => ({
      id: x.id,
      name: x.name,
      checked: !!ids?.includes(x.id),
    });
    return html(
      c,
      <ScopePage
        title="Scope"
        user={currentUser(c)}
        target={u}
        scoped={u.scope !== null}
        nodes={s.nodes.list().map(pick(u.scope?.nodes))}
        pools={s.interfaces.list().map(pick(u.scope?.interfaces))}
      />,
    );
  });
  ui.post("/ui/users/:id/scope", async (c) => {
    const body = await c.req.parseBody({ all: true });
    const ids = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(Number);
    const u = s.accounts.setScope(
      actorOf(c),
      c.get("meta"),
      idParam(c),
      body.scoped === "on" ? { nodes: ids(body.nodes), interfaces: ids(body.interfaces) } : null,
    );
    return redirectWith(c, "/ui/users", {
      kind: "ok",
      text: `Scope of "${u.username}": ${scopeText(u.scope)}.`,
    });
  });
  const usersPage = (c: C, form: FormState, flash: Flash | null = null) => {
    const actor = actorOf(c);
    const selfId = actor.kind === "user" ? actor.userId : -1;
    return (
      <UsersPage
        title="Users"
        user={currentUser(c)}
        flash={flash}
        canEdit={canWrite(actor)}
        form={form}
        users={s.accounts.list().map((u) => ({
          ...u,
          isSelf: u.id === selfId,
          scopeText: scopeText(u.scope),
        }))}
      />
    );
  };
  ui.get(
    "/ui/users",
    (c) => html(c, usersPage(c, formOrDraft(c, "/ui/users", { values: {}, errors: {} }), takeFlash(c))),
  );
  ui.post("/ui/users", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const u = await s.accounts.create(actorOf(c), c.get("meta"), {
        username: body.username,
        password: body.password,
        role: body.role,
      });
      return redirectWith(c, "/ui/users", { kind: "ok", text: `User "${u.username}" created as ${u.role}.` });
    }, (form) => usersPage(c, form));
  });
  ui.post("/ui/users/:id/role", async (c) => {
    const body = await formBody(c);
    const u = s.accounts.setRole(actorOf(c), c.get("meta"), idParam(c), body.role);
    return redirectWith(c, "/ui/users", { kind: "ok", text: `"${u.username}" is now ${u.role}.` });
  });
  ui.get("/ui/users/:id/second-factor/reset", (c) => {
    requireWriter(c, "users");
    const u = s.accounts.get(idParam(c));
    return confirmation(c, {
      title: `Reset ${u.username}'s second factor?`,
      warning:
        `${u.username}'s authenticator app, recovery codes and passkeys are removed and they are signed out everywhere.`,
      detail: "They can sign in with their password and set up a second factor again.",
      action: `/ui/users/${u.id}/second-factor/reset`,
      button: "Reset second factor",
      danger: true,
      cancel: "/ui/users",
      active: "users",
    });
  });
  ui.post("/ui/users/:id/second-factor/reset", (c) => {
    const id = idParam(c);
    s.factors.resetFor(actorOf(c), c.get("meta"), id);
    const name = s.accounts.get(id).username;
    return redirectWith(c, "/ui/users", {
      kind: "ok",
      text: `"${name}" has no second factor now and was signed out; they can set one up again.`,
    });
  });
  ui.get("/ui/users/:id/delete", (c) => {
    requireWriter(c, "users");
    const u = s.accounts.get(idParam(c));
    return confirmation(c, {
      title: `Delete user ${u.username}?`,
      warning:
        `${u.username} is signed out everywhere and can no longer sign in; their API tokens stop working.`,
      detail: "This cannot be undone. The audit log keeps what they did.",
      action: `/ui/users/${u.id}/delete`,
      button: `Delete user ${u.username}`,
      danger: true,
      cancel: "/ui/users",
      active: "users",
      id: "delete-user",
    });
  });
  ui.post("/ui/users/:id/delete", (c) => {
    const id = idParam(c);
    const name = s.accounts.get(id).username;
    s.accounts.delete(actorOf(c), c.get("meta"), id);
    return redirectWith(c, "/ui/users", { kind: "ok", text: `User "${name}" deleted.` });
  });
  return ui;
}
