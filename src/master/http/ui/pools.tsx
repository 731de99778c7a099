// Failover pools: the page with every pool, creating one, its announce settings, adding and removing
// members (removal after a confirmation: it rotates the pool's key), drain and undrain.
import { Hono } from "hono";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import { PoolEditPage, type PoolItem, PoolsPage } from "../../../../ui/views/pools.tsx";
import { canWrite } from "../../service/context.ts";
import type { PoolView } from "../../service/pools.ts";
import { fleetOf, inScope } from "../../service/scope.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  confirmation,
  currentUser,
  defined,
  formBody,
  html,
  num,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  withForm,
} from "../ui_kit.tsx";

/** The announce form fields as the API's `announce` object. */
function announceInput(b: Record<string, string>): Record<string, unknown> {
  if (b.announce_kind === "dns") {
    return defined({
      kind: "dns",
      name: text(b.dns_name),
      zone: text(b.dns_zone),
      server: text(b.dns_server),
      tsig: defined({
        name: text(b.tsig_name),
        algorithm: text(b.tsig_algorithm),
        secret: text(b.tsig_secret) || undefined,
      }),
      ttl: num(b.dns_ttl),
    });
  }
  // Any other kind reaches the schema as sent, which names the two it takes (no silent VRRP pool).
  return defined({
    kind: text(b.announce_kind) || "vrrp",
    address: text(b.vrrp_address),
    vrid: num(b.vrrp_vrid),
    advert_ms: num(b.vrrp_advert_ms),
    link: text(b.vrrp_link) || null,
  });
}

/** A pool's announce settings as the form's values (the edit page starts from them). */
function announceValues(p: PoolView): Record<string, string> {
  const a = p.announce;
  if (a?.kind === "dns") {
    return {
      announce_kind: "dns",
      dns_name: a.name,
      dns_zone: a.zone,
      dns_server: a.server,
      tsig_name: a.tsig.name,
      tsig_algorithm: a.tsig.algorithm,
      dns_ttl: String(a.ttl),
    };
  }
  return a?.kind === "vrrp"
    ? {
      announce_kind: "vrrp",
      vrrp_address: a.address,
      vrrp_vrid: String(a.vrid),
      vrrp_advert_ms: String(a.advertMs),
      vrrp_link: a.link ?? "",
    }
    : {};
}

export function poolsRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const page = (c: C, form: FormState, flash: Flash | null = null) => (
    <PoolsPage
      title="Failover pools"
      user={currentUser(c)}
      flash={flash}
      // A scoped admin reads the pools in scope and changes none (scope_guard.ts).
      canEdit={canWrite(actorOf(c)) && !fleetOf(actorOf(c))}
      form={form}
      pools={inScope(fleetOf(actorOf(c)), "interfaces", s.pools.list()).map((p) => ({
        ...p,
        dnsPublish: s.poolDns.status(p.id),
      })) satisfies PoolItem[]}
      nodes={s.nodes.list().map((n) => ({ id: n.id, name: n.name }))}
    />
  );
  const back = (c: C, flash: Flash) => redirectWith(c, "/ui/pools", flash);
  const member = (c: C) => [idParam(c), idParam(c, "node")] as const;
  const nodeName = (id: number) => s.nodes.list().find((n) => n.id === id)?.name ?? `node ${id}`;

  ui.get(
    "/ui/pools",
    (c) => html(c, page(c, { values: { listen_port: "51900" }, errors: {} }, takeFlash(c))),
  );
  ui.post("/ui/pools", async (c) => {
    const b = await formBody(c);
    return await withForm(c, b, async () => {
      const p = await s.pools.create(actorOf(c), c.get("meta"), {
        name: text(b.name),
        ipv4_pool: text(b.ipv4_pool),
        listen_port: num(b.listen_port),
        announce: announceInput(b),
      });
      return back(c, { kind: "ok", text: `Pool ${p.name} created (${p.address4}, port ${p.listenPort}).` });
    }, (form) => page(c, form));
  });
  ui.get("/ui/pools/:id/edit", (c) => {
    requireWriter(c, "failover pools");
    const p = s.pools.get(idParam(c));
    return html(
      c,
      <PoolEditPage
        title={`Edit ${p.name}`}
        user={currentUser(c)}
        id={p.id}
        name={p.name}
        form={{ values: { ...announceValues(p), listen_port: String(p.listenPort) }, errors: {} }}
      />,
    );
  });
  ui.post("/ui/pools/:id", async (c) => {
    const id = idParam(c);
    const b = await formBody(c);
    const name = s.pools.get(id).name;
    return await withForm(
      c,
      b,
      async () => {
        await s.pools.update(actorOf(c), c.get("meta"), id, {
          announce: announceInput(b),
          ...defined({ listen_port: num(b.listen_port) }),
        });
        return back(c, { kind: "ok", text: `Pool ${name} saved.` });
      },
      (form) => <PoolEditPage title={`Edit ${name}`} user={currentUser(c)} id={id} name={name} form={form} />,
    );
  });
  ui.post("/ui/pools/:id/members", async (c) => {
    const id = idParam(c);
    const b = await formBody(c);
    return await withForm(
      c,
      b,
      () => {
        const p = s.pools.addMember(
          actorOf(c),
          c.get("meta"),
          id,
          defined({ node_id: num(b.node_id), priority: num(b.priority) }),
        );
        return Promise.resolve(
          back(c, { kind: "ok", text: `Node ${nodeName(Number(b.node_id))} joined pool ${p.name}.` }),
        );
      },
      (form) =>
        page(c, { ...form, values: {} }, { kind: "error", text: form.message ?? "Could not add the node." }),
    );
  });
  for (const action of ["drain", "undrain"] as const) {
    ui.post(`/ui/pools/:id/members/:node/${action}`, (c) => {
      const [id, node] = member(c);
      const p = s.pools[action](actorOf(c), c.get("meta"), id, node);
      return back(c, {
        kind: "ok",
        text: action === "drain"
          ? `${nodeName(node)} is draining from ${p.name}: safe to stop once its clients have moved.`
          : `${nodeName(node)} is back in ${p.name}.`,
      });
    });
  }
  ui.get("/ui/pools/:id/members/:node/remove", (c) => {
    requireWriter(c, "failover pools");
    const [id, node] = member(c);
    const p = s.pools.get(id);
    return confirmation(c, {
      title: `Remove ${nodeName(node)} from ${p.name}?`,
      warning: `${
        nodeName(node)
      } stops serving ${p.name}, and the pool gets a new key pair (the node held the old private key): every member's config changes and every client of ${p.name} must download its config again.`,
      detail: "Drain it first so its clients move without a gap.",
      action: `/ui/pools/${id}/members/${node}/remove`,
      button: `Remove ${nodeName(node)}`,
      danger: true,
      cancel: "/ui/pools",
      active: "pools",
      id: "remove-pool-member",
    });
  });
  ui.post("/ui/pools/:id/members/:node/remove", async (c) => {
    const [id, node] = member(c);
    const name = nodeName(node);
    const p = await s.pools.removeMember(actorOf(c), c.get("meta"), id, node);
    return back(c, {
      kind: "ok",
      text:
        `${name} removed from ${p.name}; the pool has a new key: clients must download their configs again.`,
    });
  });
  return ui;
}
