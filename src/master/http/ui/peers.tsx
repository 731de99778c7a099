// Peers: the searchable, paged list (htmx swaps just the table), adding and editing in a dialog (a page
// without JavaScript), enabling, deleting, and a peer's traffic; the client config, its QR code and
// rotation are in peer_config.tsx.
import { Hono } from "hono";
import type { JSX } from "hono/jsx/jsx-runtime";
import { AppError } from "../../../core/errors.ts";
import { PeerTrafficPage } from "../../../../ui/views/charts.tsx";
import {
  type PeerFilter,
  PeerFormDialog,
  type PeerFormModel,
  PeerFormPage,
  type PeerItem,
  type PeerListModel,
  PeerLiveUpdates,
  PeersPage,
  peersUrl,
  PeerTable,
} from "../../../../ui/views/peers.tsx";
import { canWrite } from "../../service/context.ts";
import type { PeerView } from "../../service/peers.ts";
import { PEER_SORTS } from "../../service/wg_schemas.ts";
import type { Services } from "../../service/services.ts";
import { TRAFFIC_RANGES } from "../../service/traffic.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  checkbox,
  confirmation,
  currentUser,
  defined,
  done,
  formBody,
  formLists,
  formOrDraft,
  html,
  hxTarget,
  localHelp,
  localPath,
  nodeBriefs,
  num,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  type UiOptions,
  withForm,
} from "../ui_kit.tsx";
import { chartModel, pickRange } from "./traffic_chart.ts";
import { peerConfigRoutes } from "./peer_config.tsx";
import { fleetOf, inScope, peerInScope } from "../../service/scope.ts";

const PER_PAGE = 50;

// --- form strings → service input -----------------------------------------------------------------

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

/** Where a row action returns to: the peers list with its search and page, never anywhere else. */
function backTo(v: string | undefined): string {
  return v && /^\/ui\/peers(\?[A-Za-z0-9_=&%.+~-]{0,300})?$/.test(v) ? v : "/ui/peers";
}

export function peersRoutes(s: Services, o: UiOptions): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const choices = (c: C) => {
    const scope = fleetOf(actorOf(c));
    return {
      // A failover pool is chosen like an interface (its peers name no node): labelled as one.
      interfaces: inScope(scope, "interfaces", s.interfaces.choices()).map((i) =>
        s.pools.isPool(i.id) ? { ...i, name: `${i.name} (failover pool)` } : i
      ),
      nodes: inScope(scope, "nodes", nodeBriefs(s)),
    };
  };

  const peerList = (c: C): PeerListModel => {
    const q = c.req.query();
    const digits = (v: string | undefined) => (v && /^\d{1,9}$/.test(v) && Number(v) > 0 ? v : "");
    const sorts = ["id", ...PEER_SORTS, ...PEER_SORTS.map((x) => `-${x}`)];
    const filter: PeerFilter = {
      q: (q.q ?? "").slice(0, 100),
      interfaceId: digits(q.interface_id),
      node: q.node === "local" ? "local" : digits(q.node),
      sort: q.sort && sorts.includes(q.sort) ? q.sort : "id",
    };
    const query = (page: number) =>
      s.peers.list({
        q: filter.q,
        ...(filter.interfaceId ? { interface_id: filter.interfaceId } : {}),
        ...(filter.node ? { node: filter.node } : {}),
        sort: filter.sort,
        page,
        per_page: PER_PAGE,
      }, fleetOf(actorOf(c)));
    let result = query(Math.min(Number(digits(q.page) || 1), 1_000_000));
    const lastPage = Math.max(1, Math.ceil(result.total / PER_PAGE));
    if (result.page > lastPage) result = query(lastPage); // past the end: show the last page
    return {
      ...result,
      items: withLive(result.items),
      filter,
      canEdit: canWrite(actorOf(c)),
      canBulk: canWrite(actorOf(c)) && !fleetOf(actorOf(c)),
      now: s.clock.now(),
    };
  };

  /** Peers with the newest sample their host reported. */
  const withLive = (peers: PeerView[]): PeerItem[] => {
    const latest = s.traffic.latestMany(peers.map((p) => p.publicKey));
    return peers.map((p) => {
      const l = latest.get(p.publicKey);
      return {
        ...p,
        live: l ? { handshakeAt: l.handshakeAt, rx: l.rx, tx: l.tx, endpoint: l.endpoint } : null,
      };
    });
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
      <PeersPage
        title="Peers"
        user={currentUser(c)}
        flash={takeFlash(c)}
        list={list}
        help={localHelp(c, o)}
        {...choices(c)}
      />,
    );
  });

  // The live status of the listed peers, polled by the table every 10 s and swapped in place.
  ui.get("/ui/peers/live", (c) => {
    const ids = (c.req.query("ids") ?? "").split(",").filter((v) => /^\d{1,9}$/.test(v)).slice(0, 200);
    const scope = fleetOf(actorOf(c));
    const peers: PeerView[] = [];
    for (const id of ids) {
      try {
        const p = s.peers.get(Number(id));
        if (peerInScope(scope, p)) peers.push(p);
      } catch {
        // deleted since the page was drawn: its row stays as it is until the next search
      }
    }
    return html(c, <PeerLiveUpdates items={withLive(peers)} now={s.clock.now()} />);
  });

  // Several peers at once: enable, disable, move to a node, or delete (after a confirmation).
  ui.post("/ui/peers/bulk", async (c) => {
    requireWriter(c, "interfaces or peers");
    const body = await formLists(c);
    const one = (k: string) => (Array.isArray(body[k]) ? body[k][0] : body[k]) ?? "";
    // The list as it is on screen (htmx may have re-sorted or re-searched it since the page was drawn).
    const back = backTo(localPath(c, "hx-current-url") ?? one("back"));
    const ids = [
      ...new Set([body.ids ?? []].flat().flatMap((v) => v.split(",")).filter((v) => /^\d{1,9}$/.test(v))),
    ].map(Number).slice(0, 500);
    if (ids.length === 0) {
      return redirectWith(c, back, {
        kind: "error",
        text: "Select one or more peers first (the boxes in the list).",
      });
    }
    const action = one("action");
    const peers = ids.map((id) => s.peers.get(id));
    const names = (n: number) => `${n} peer${n === 1 ? "" : "s"}`;
    if (action === "delete") {
      if (one("confirmed") !== "yes") {
        return confirmation(c, {
          title: `Delete ${names(peers.length)}?`,
          warning: `Their clients lose the tunnel at once, and their keys and addresses are deleted: ${
            peers.map((p) => p.name).join(", ")
          }.`,
          detail: "This cannot be undone.",
          action: "/ui/peers/bulk",
          hidden: { action: "delete", confirmed: "yes", back, ids: ids.join(",") },
          button: `Delete ${names(peers.length)}`,
          danger: true,
          cancel: back,
          active: "peers",
          id: "bulk-delete",
        });
      }
      for (const p of peers) s.peers.delete(actorOf(c), c.get("meta"), p.id);
      return redirectWith(c, back, { kind: "ok", text: `${names(peers.length)} deleted.` });
    }
    if (action === "enable" || action === "disable") {
      for (const p of peers) {
        await s.peers.update(actorOf(c), c.get("meta"), p.id, { enabled: action === "enable" });
      }
      return redirectWith(c, back, { kind: "ok", text: `${names(peers.length)} ${action}d.` });
    }
    if (action === "move") {
      const nodeId = text(one("node_id")) === "" ? null : num(one("node_id"));
      for (const p of peers) await s.peers.update(actorOf(c), c.get("meta"), p.id, { node_id: nodeId });
      const target = nodeId === null ? "the master (local)" : s.nodes.get(Number(nodeId)).name;
      return redirectWith(c, back, { kind: "ok", text: `${names(peers.length)} moved to ${target}.` });
    }
    throw new AppError("bad_request", `Unknown action "${action.slice(0, 20)}"`);
  });

  /** The add/edit form: the dialog's content for htmx, a page otherwise. */
  const peerForm = (c: C, m: Omit<PeerFormModel, "inDialog" | "interfaces" | "nodes">): JSX.Element => {
    const inDialog = hxTarget(c) === "modal";
    const model: PeerFormModel = { ...m, ...choices(c), inDialog };
    return inDialog
      ? <PeerFormDialog m={model} />
      : <PeerFormPage title="Peer" user={currentUser(c)} m={model} />;
  };

  ui.get("/ui/peers/new", (c) => {
    requireWriter(c, "interfaces or peers");
    const first = choices(c).interfaces[0];
    const iface = c.req.query("interface_id") ?? (first ? String(first.id) : "");
    return html(
      c,
      peerForm(c, {
        id: null,
        form: formOrDraft(c, "/ui/peers/new", {
          values: { interface_id: iface, routing: "full", preshared_key: "on", enabled: "on" },
          errors: {},
        }),
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
    requireWriter(c, "interfaces or peers");
    const p = s.peers.get(idParam(c));
    return html(
      c,
      peerForm(c, {
        id: p.id,
        interfaceName: p.interfaceName,
        currentName: p.name,
        publicKey: p.publicKey,
        form: formOrDraft(c, `/ui/peers/${p.id}/edit`, { values: peerFormValues(p), errors: {} }),
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
    }, (form) =>
      peerForm(c, {
        id,
        interfaceName: cur.interfaceName,
        currentName: cur.name,
        publicKey: cur.publicKey,
        form,
      }));
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
  ui.get("/ui/peers/:id/delete", (c) => {
    requireWriter(c, "interfaces or peers");
    const p = s.peers.get(idParam(c));
    const back = backTo(c.req.query("back"));
    return confirmation(c, {
      title: `Delete peer ${p.name}?`,
      warning: `Its client loses the tunnel at once: ${p.name}'s keys and its address ${p.ipv4} are deleted.`,
      detail: "This cannot be undone; to bring the client back, add a new peer and give it the new config.",
      action: `/ui/peers/${p.id}/delete`,
      hidden: { back },
      button: `Delete peer ${p.name}`,
      danger: true,
      cancel: back,
      active: "peers",
      id: "delete-peer",
    });
  });
  ui.post("/ui/peers/:id/delete", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const name = s.peers.get(id).name;
    s.peers.delete(actorOf(c), c.get("meta"), id);
    return redirectWith(c, backTo(body.back), { kind: "ok", text: `Peer ${name} deleted.` });
  });

  // The client config, its QR code and rotating its credentials.
  ui.route("/", peerConfigRoutes(s));

  // --- a peer's traffic -----------------------------------------------------------------------------
  ui.get("/ui/peers/:id/traffic", (c) => {
    const p = s.peers.get(idParam(c));
    const { range, series } = pickRange(c.req.query("range"), (r) => s.traffic.forPeer(p.publicKey, r));
    return html(
      c,
      <PeerTrafficPage
        title="Traffic"
        user={currentUser(c)}
        m={{
          id: p.id,
          name: p.name,
          interfaceName: p.interfaceName,
          nodeName: p.nodeName,
          pool: p.pool,
          ipv4: p.ipv4,
          ipv6: p.ipv6,
          publicKey: p.publicKey,
          now: s.clock.now(),
          latest: s.traffic.latest(p.publicKey),
          chart: chartModel(series, {
            id: "traffic-peer",
            title: `Traffic of ${p.name}, ${TRAFFIC_RANGES[range].label}`,
            rxLabel: "received from the peer",
            txLabel: "sent to the peer",
            rangeHref: (r) => `/ui/peers/${p.id}/traffic?range=${r}`,
          }, range),
        }}
      />,
    );
  });

  return ui;
}
