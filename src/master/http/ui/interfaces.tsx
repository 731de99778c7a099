// WireGuard interfaces: the list with the add form, editing one (its name is fixed), deleting one
// without peers.
import { Hono } from "hono";
import { overlaps } from "../../../core/cidr.ts";
import { toAppError } from "../../../core/errors.ts";
import type { FormState } from "../../../../ui/views/auth.tsx";
import {
  InterfaceEditPage,
  interfaceFormValues,
  type InterfaceItem,
  InterfacesPage,
} from "../../../../ui/views/interfaces.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  confirmation,
  currentUser,
  defined,
  formBody,
  formOrDraft,
  html,
  num,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  withForm,
} from "../ui_kit.tsx";
import { fleetOf, inScope } from "../../service/scope.ts";

function interfaceInput(b: Record<string, string>, editing: boolean): Record<string, unknown> {
  return defined({
    ...(editing ? {} : { name: text(b.name) }),
    ipv4_pool: text(b.ipv4_pool),
    ipv6_pool: text(b.ipv6_pool) || null,
    listen_port: num(b.listen_port),
    mtu: num(b.mtu) ?? null,
    dns: text(b.dns),
    keepalive: num(b.keepalive) ?? null,
    endpoint_host: text(b.endpoint_host) || null,
  });
}

/**
 * A new interface's form, filled in: the next free name (wg0, wg1, …), /24 pool and port, public
 * resolvers and a keepalive that keeps phones behind NAT reachable.
 */
export function interfaceDefaults(existing: { name: string; address4: string; listenPort: number }[]) {
  const names = new Set(existing.map((i) => i.name));
  const ports = new Set(existing.map((i) => i.listenPort));
  let n = 0;
  while (names.has(`wg${n}`)) n++;
  let port = 51820;
  while (ports.has(port)) port++;
  let third = 13;
  while (third < 255 && existing.some((i) => overlaps(i.address4, `10.13.${third}.0/24`))) third++;
  return {
    name: `wg${n}`,
    ipv4_pool: `10.13.${third}.0/24`,
    listen_port: String(port),
    dns: "1.1.1.1, 9.9.9.9",
    keepalive: "25",
  };
}

export function interfacesRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const interfacesPage = (c: C, form: FormState, flash: Flash | null = null) => (
    <InterfacesPage
      title="Interfaces"
      user={currentUser(c)}
      flash={flash}
      canEdit={canWrite(actorOf(c))}
      form={form}
      interfaces={inScope(fleetOf(actorOf(c)), "interfaces", s.interfaces.list()).map((i) => ({
        ...i,
        pool: s.pools.isPool(i.id),
      })) satisfies InterfaceItem[]}
    />
  );
  const editPage = (c: C, id: number, form: FormState) => (
    <InterfaceEditPage title="Edit interface" user={currentUser(c)} id={id} form={form} />
  );

  ui.get(
    "/ui/interfaces",
    (c) =>
      html(
        c,
        interfacesPage(
          c,
          formOrDraft(c, "/ui/interfaces", { values: interfaceDefaults(s.interfaces.list()), errors: {} }),
          takeFlash(c),
        ),
      ),
  );
  ui.post("/ui/interfaces", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const i = await s.interfaces.create(actorOf(c), c.get("meta"), interfaceInput(body, false));
      return redirectWith(c, "/ui/interfaces", {
        kind: "ok",
        text: `Interface ${i.name} created (${i.address4}, port ${i.listenPort}).`,
      });
    }, (form) => interfacesPage(c, form));
  });
  ui.get("/ui/interfaces/:id/edit", (c) => {
    requireWriter(c, "interfaces or peers");
    const i = s.interfaces.get(idParam(c));
    return html(
      c,
      editPage(
        c,
        i.id,
        formOrDraft(c, `/ui/interfaces/${i.id}/edit`, { values: interfaceFormValues(i), errors: {} }),
      ),
    );
  });
  ui.post("/ui/interfaces/:id", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const cur = s.interfaces.get(id);
    return await withForm(c, { ...body, name: cur.name }, () => {
      const i = s.interfaces.update(actorOf(c), c.get("meta"), id, interfaceInput(body, true));
      return Promise.resolve(
        redirectWith(c, "/ui/interfaces", { kind: "ok", text: `Interface ${i.name} saved.` }),
      );
    }, (form) => editPage(c, id, form));
  });
  ui.get("/ui/interfaces/:id/delete", (c) => {
    requireWriter(c, "interfaces or peers");
    const i = s.interfaces.get(idParam(c));
    return confirmation(c, {
      title: `Delete interface ${i.name}?`,
      warning: i.peerCount > 0
        ? `${i.name} still has ${i.peerCount} peer${i.peerCount === 1 ? "" : "s"}: delete ${
          i.peerCount === 1 ? "it" : "them"
        } first, then the interface.`
        : s.pools.isPool(i.id)
        ? `Failover pool ${i.name} (${i.address4}, port ${i.listenPort}) is taken down on every member, and its key and announce settings are deleted.`
        : `${i.name} (${i.address4}, port ${i.listenPort}) is taken down on the master and every node, and its keys are deleted.`,
      detail: "This cannot be undone.",
      action: `/ui/interfaces/${i.id}/delete`,
      button: `Delete interface ${i.name}`,
      danger: true,
      cancel: "/ui/interfaces",
      active: "interfaces",
      id: "delete-interface",
    });
  });
  ui.post("/ui/interfaces/:id/delete", (c) => {
    const id = idParam(c);
    const name = s.interfaces.get(id).name;
    try {
      s.interfaces.delete(actorOf(c), c.get("meta"), id);
    } catch (err) {
      const e = toAppError(err);
      if (e.code !== "conflict") throw e;
      return redirectWith(c, "/ui/interfaces", { kind: "error", text: e.publicMessage });
    }
    return redirectWith(c, "/ui/interfaces", { kind: "ok", text: `Interface ${name} deleted.` });
  });

  return ui;
}
