// The browser UI for WireGuard interfaces and peers. Forms post strings; this file maps them onto the
// service's JSON types (numbers stay strings when they are not numbers, so the schema still names the
// field) and renders the page or, for htmx, the fragment that changed (the peer table, or the dialog).
import { type Context, Hono } from "hono";
import type { JSX } from "hono/jsx/jsx-runtime";
import { qrSvg } from "../../core/qr.ts";
import { AppError, toAppError } from "../../core/errors.ts";
import type { FormState } from "../../../ui/views/auth.tsx";
import type { WireGuardCounts } from "../../../ui/views/dashboard.tsx";
import {
  InterfaceEditPage,
  interfaceFormValues,
  type InterfaceItem,
  InterfacesPage,
} from "../../../ui/views/interfaces.tsx";
import type { Flash } from "../../../ui/views/layout.tsx";
import {
  type PeerFilter,
  PeerFormDialog,
  type PeerFormModel,
  PeerFormPage,
  type PeerListModel,
  PeersPage,
  peersUrl,
  PeerTable,
  QrDialog,
  type QrModel,
  QrPage,
} from "../../../ui/views/peers.tsx";
import { canWrite } from "../service/context.ts";
import type { Services } from "../service/services.ts";
import type { PeerView } from "../service/peers.ts";
import type { AppEnv } from "./env.ts";
import { download } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";
import { currentUser, formBody, html, redirectWith, setFlash, takeFlash, withForm } from "./ui_routes.tsx";

type C = Context<AppEnv>;

const PER_PAGE = 50;

// --- form strings → service input -----------------------------------------------------------------

const text = (v: string | undefined) => (v ?? "").trim();

/** "" → undefined; an integer → number; anything else stays a string, so the schema names the field. */
function num(v: string | undefined): number | string | undefined {
  const t = text(v);
  if (t === "") return undefined;
  return /^-?\d{1,15}$/.test(t) ? Number(t) : t;
}

/** A checkbox: absent or "" → false, "on"/"true" → true; anything else is left for the schema to refuse. */
function checkbox(v: string | undefined): boolean | string {
  if (v === undefined || v === "") return false;
  return v === "on" || v === "true" ? true : v;
}

/** datetime-local ("2026-05-01T10:00", read as UTC) → ISO; "" → null; anything else is left as typed. */
function expiry(v: string | undefined): string | null {
  const t = text(v);
  if (t === "") return null;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(t)) {
    const at = new Date(`${t}Z`);
    if (!Number.isNaN(at.getTime())) return at.toISOString();
  }
  return t;
}

/** The value a datetime-local input shows for a stored expiry (UTC). */
const localInput = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString().slice(0, 16));

const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

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

function peerInput(b: Record<string, string>): Record<string, unknown> {
  const routing = b.routing || "full";
  return defined({
    interface_id: num(b.interface_id),
    name: b.name ?? "",
    public_key: text(b.public_key) || null,
    preshared_key: checkbox(b.preshared_key),
    routing,
    allowed_ips: routing === "custom" ? b.allowed_ips ?? "" : undefined,
    node_id: text(b.node_id) === "" ? null : num(b.node_id),
    expires_at: expiry(b.expires_at),
    enabled: checkbox(b.enabled),
  });
}

function peerPatch(b: Record<string, string>, cur: PeerView): Record<string, unknown> {
  const routing = b.routing || cur.routing;
  return defined({
    name: b.name ?? "",
    public_key: text(b.public_key) || undefined,
    preshared_key: checkbox(b.preshared_key),
    routing,
    allowed_ips: routing === "custom" ? b.allowed_ips ?? "" : undefined,
    node_id: text(b.node_id) === "" ? null : num(b.node_id),
    // An untouched expiry is not re-validated (a peer that already expired can still be renamed).
    expires_at: text(b.expires_at) === localInput(cur.expiresAt) ? undefined : expiry(b.expires_at),
    enabled: checkbox(b.enabled),
  });
}

function peerFormValues(p: PeerView): Record<string, string> {
  return {
    name: p.name,
    interface_id: String(p.interfaceId),
    node_id: p.nodeId === null ? "" : String(p.nodeId),
    routing: p.routing,
    allowed_ips: p.routing === "custom" ? p.allowedIps.join(", ") : "",
    public_key: "",
    expires_at: localInput(p.expiresAt),
    preshared_key: p.hasPresharedKey ? "on" : "",
    enabled: p.enabled ? "on" : "",
  };
}

// --- responses ------------------------------------------------------------------------------------

const hxTarget = (c: C) => (c.req.header("hx-request") ? c.req.header("hx-target") ?? "" : "");

/**
 * After a successful mutation: a redirect with a flash, or, for a form posted from the dialog, an
 * HX-Location that makes htmx load the page (the dialog goes with the old page).
 */
function done(c: C, to: string, flash: Flash): Response {
  if (hxTarget(c) === "modal") {
    setFlash(c, flash);
    c.header("HX-Location", JSON.stringify({ path: to, target: "body" }));
    return c.body(null, 200);
  }
  return redirectWith(c, to, flash);
}

/** Where a row action returns to: the peers list with its search and page, never anywhere else. */
function backTo(v: string | undefined): string {
  return v && /^\/ui\/peers(\?[A-Za-z0-9_=&%.+~-]{0,300})?$/.test(v) ? v : "/ui/peers";
}

function requireWriter(c: C): void {
  if (!canWrite(actorOf(c))) {
    throw new AppError("forbidden", "Viewers cannot change interfaces or peers");
  }
}

/** Counts for the dashboard. */
export function wireGuardCounts(s: Services): WireGuardCounts {
  const st = s.peers.stats();
  return {
    interfaces: s.interfaces.count(),
    peers: st.total,
    enabled: st.enabled,
    expired: st.expired,
    local: st.local,
    onNodes: st.total - st.local,
  };
}

export function wireGuardUiRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const empty = (): FormState => ({ values: {}, errors: {} });
  const choices = () => ({ interfaces: s.interfaces.choices(), nodes: s.nodes.remoteChoices() });

  // --- interfaces -------------------------------------------------------------------------------
  const interfacesPage = (c: C, form: FormState, flash: Flash | null = null) => (
    <InterfacesPage
      title="Interfaces"
      user={currentUser(c)}
      flash={flash}
      canEdit={canWrite(actorOf(c))}
      form={form}
      interfaces={s.interfaces.list() satisfies InterfaceItem[]}
    />
  );
  const editPage = (c: C, id: number, form: FormState) => (
    <InterfaceEditPage title="Edit interface" user={currentUser(c)} id={id} form={form} />
  );

  ui.get("/ui/interfaces", (c) => html(c, interfacesPage(c, empty(), takeFlash(c))));
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
    requireWriter(c);
    const i = s.interfaces.get(idParam(c));
    return html(c, editPage(c, i.id, { values: interfaceFormValues(i), errors: {} }));
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

  // --- peers ------------------------------------------------------------------------------------
  const peerList = (c: C): PeerListModel => {
    const q = c.req.query();
    const digits = (v: string | undefined) => (v && /^\d{1,9}$/.test(v) && Number(v) > 0 ? v : "");
    const filter: PeerFilter = {
      q: (q.q ?? "").slice(0, 100),
      interfaceId: digits(q.interface_id),
      node: q.node === "local" ? "local" : digits(q.node),
    };
    const query = (page: number) =>
      s.peers.list({
        q: filter.q,
        ...(filter.interfaceId ? { interface_id: filter.interfaceId } : {}),
        ...(filter.node ? { node: filter.node } : {}),
        page,
        per_page: PER_PAGE,
      });
    let result = query(Math.min(Number(digits(q.page) || 1), 1_000_000));
    const lastPage = Math.max(1, Math.ceil(result.total / PER_PAGE));
    if (result.page > lastPage) result = query(lastPage); // past the end: show the last page
    return { ...result, filter, canEdit: canWrite(actorOf(c)) };
  };

  ui.get("/ui/peers", (c) => {
    const list = peerList(c);
    if (hxTarget(c) === "peer-table") {
      // The address bar shows the canonical search (no empty fields, the page actually shown).
      c.header("HX-Push-Url", peersUrl(list.filter, list.page));
      return html(c, <PeerTable m={list} />);
    }
    return html(
      c,
      <PeersPage title="Peers" user={currentUser(c)} flash={takeFlash(c)} list={list} {...choices()} />,
    );
  });

  /** The add/edit form: the dialog's content for htmx, a page otherwise. */
  const peerForm = (c: C, m: Omit<PeerFormModel, "inDialog" | "interfaces" | "nodes">): JSX.Element => {
    const inDialog = hxTarget(c) === "modal";
    const model: PeerFormModel = { ...m, ...choices(), inDialog };
    return inDialog
      ? <PeerFormDialog m={model} />
      : <PeerFormPage title="Peer" user={currentUser(c)} m={model} />;
  };

  ui.get("/ui/peers/new", (c) => {
    requireWriter(c);
    const first = s.interfaces.choices()[0];
    const iface = c.req.query("interface_id") ?? (first ? String(first.id) : "");
    return html(
      c,
      peerForm(c, {
        id: null,
        form: {
          values: { interface_id: iface, routing: "full", preshared_key: "on", enabled: "on" },
          errors: {},
        },
      }),
    );
  });
  ui.post("/ui/peers", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const p = await s.peers.create(actorOf(c), c.get("meta"), peerInput(body));
      return done(c, "/ui/peers", { kind: "ok", text: `Peer ${p.name} added (${p.ipv4}).` });
    }, (form) => peerForm(c, { id: null, form }));
  });

  ui.get("/ui/peers/:id/edit", (c) => {
    requireWriter(c);
    const p = s.peers.get(idParam(c));
    return html(
      c,
      peerForm(c, {
        id: p.id,
        interfaceName: p.interfaceName,
        publicKey: p.publicKey,
        form: { values: peerFormValues(p), errors: {} },
      }),
    );
  });
  ui.post("/ui/peers/:id", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const cur = s.peers.get(id);
    return await withForm(c, body, async () => {
      const p = await s.peers.update(actorOf(c), c.get("meta"), id, peerPatch(body, cur));
      return done(c, "/ui/peers", { kind: "ok", text: `Peer ${p.name} saved.` });
    }, (form) => peerForm(c, { id, interfaceName: cur.interfaceName, publicKey: cur.publicKey, form }));
  });

  ui.post("/ui/peers/:id/toggle", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const cur = s.peers.get(id);
    const p = await s.peers.update(actorOf(c), c.get("meta"), id, { enabled: !cur.enabled });
    return redirectWith(c, backTo(body.back), {
      kind: "ok",
      text: `Peer ${p.name} ${p.enabled ? "enabled" : "disabled"}.`,
    });
  });
  ui.post("/ui/peers/:id/delete", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const name = s.peers.get(id).name;
    s.peers.delete(actorOf(c), c.get("meta"), id);
    return redirectWith(c, backTo(body.back), { kind: "ok", text: `Peer ${name} deleted.` });
  });

  // --- client config and QR code (audited by the service, never cached) ---------------------------
  ui.get("/ui/peers/:id/qr", (c) => {
    const p = s.peers.get(idParam(c));
    const q: QrModel = { id: p.id, name: p.name, nodeName: p.nodeName };
    if (hxTarget(c) === "modal") return html(c, <QrDialog q={q} />);
    return html(c, <QrPage title="QR code" user={currentUser(c)} q={q} />);
  });
  ui.get("/ui/peers/:id/qr.svg", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "qr");
    return download(c, await qrSvg(conf.text, conf.badge ? { badge: conf.badge } : {}), "image/svg+xml");
  });
  ui.get("/ui/peers/:id/config", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "conf");
    return download(c, conf.text, "text/plain; charset=utf-8", conf.filename);
  });

  return ui;
}
