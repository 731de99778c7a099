// Nodes: the list with a self-polling status table, adding one with the token shown once, editing, a
// new token, deleting after a warning, and the node's page with its peers' traffic. Every mutation is a
// form POST (CSRF-checked by the middleware); viewers get no forms and a 403.
import { Hono } from "hono";
import { AppError } from "../../../core/errors.ts";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import {
  NodeDeletePage,
  NodeDetailPage,
  NodeEditPage,
  type NodeItem,
  type NodeListModel,
  NodesPage,
  NodeTable,
  NodeTokenConfirmPage,
  NodeTokenPage,
} from "../../../../ui/views/nodes.tsx";
import { canWrite } from "../../service/context.ts";
import type { NodeView } from "../../service/node_admin.ts";
import type { Services } from "../../service/services.ts";
import { parseRange, TRAFFIC_RANGES } from "../../service/traffic.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  currentUser,
  emptyForm,
  formBody,
  html,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  withForm,
} from "../ui_kit.tsx";
import { chartModel } from "./traffic_chart.ts";

/** "" → undefined (the default applies); digits → a number; anything else stays, so the schema names it. */
function port(v: string | undefined): number | string | undefined {
  const t = text(v);
  if (t === "") return undefined;
  return /^\d{1,6}$/.test(t) ? Number(t) : t;
}

const nodeInput = (b: Record<string, string>) => ({
  name: text(b.name),
  fqdn: text(b.fqdn),
  wg_port: port(b.wg_port),
});

const nodeItem = (n: NodeView): NodeItem => ({
  id: n.id,
  name: n.name,
  fqdn: n.fqdn,
  wgPort: n.wgPort,
  isLocal: n.isLocal,
  status: n.status,
  lastSeenAt: n.lastSeenAt,
  lastError: n.lastError,
  hostname: n.hostname,
  enrolled: n.enrolled,
  tokenExpiresAt: n.tokenExpiresAt,
  configVersion: n.configVersion,
  appliedVersion: n.appliedVersion,
  peerCount: n.peerCount,
  droppedMetrics: n.droppedMetrics,
});

/** The master's own node is configured through the master: no edit, token or delete here. */
function remoteNode(s: Services, id: number): NodeView {
  const n = s.nodes.get(id);
  if (n.isLocal) throw new AppError("conflict", "The master's own node is configured through the master");
  return n;
}

export function nodesRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const requireNodeWriter = (c: C) => requireWriter(c, "nodes");

  const list = (c: C): NodeListModel => ({
    nodes: s.nodes.list().map(nodeItem),
    canEdit: canWrite(actorOf(c)),
    now: s.clock.now(),
  });
  const nodesPage = (c: C, form: FormState, flash: Flash | null = null) => (
    <NodesPage title="Nodes" user={currentUser(c)} flash={flash} list={list(c)} form={form} />
  );
  const tokenPage = (c: C, n: NodeView, token: string, created: boolean) =>
    // Shown once, in this response only (html() sends Cache-Control: no-store).
    html(
      c,
      <NodeTokenPage
        title="Enrollment token"
        user={currentUser(c)}
        node={{ id: n.id, name: n.name }}
        token={token}
        expiresAt={n.tokenExpiresAt}
        created={created}
      />,
      created ? 201 : 200,
    );

  ui.get("/ui/nodes", (c) => {
    // The status table polls this URL and gets just the table back.
    if (c.req.header("hx-request") && c.req.header("hx-target") === "node-table") {
      return html(c, <NodeTable m={list(c)} />);
    }
    return html(c, nodesPage(c, emptyForm(), takeFlash(c)));
  });

  ui.post("/ui/nodes", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const { node, token } = await s.nodes.create(actorOf(c), c.get("meta"), nodeInput(body));
      return tokenPage(c, node, token, true);
    }, (form) => nodesPage(c, form));
  });

  ui.get("/ui/nodes/:id", (c) => {
    const n = s.nodes.get(idParam(c));
    const range = parseRange(c.req.query("range"));
    const interfaces = n.isLocal
      ? s.interfaces.list().map((i) => ({ name: i.name, address: i.address4, publicKey: i.publicKey }))
      : n.interfaces;
    const series = s.traffic.forHost(n.isLocal ? null : n.id, range);
    return html(
      c,
      <NodeDetailPage
        title={n.name}
        user={currentUser(c)}
        flash={takeFlash(c)}
        m={{
          node: nodeItem(n),
          interfaces,
          canEdit: canWrite(actorOf(c)),
          now: s.clock.now(),
          chart: chartModel(series, {
            id: "traffic-node",
            title: `Traffic of its peers, ${TRAFFIC_RANGES[range].label}`,
            rxLabel: "received from peers",
            txLabel: "sent to peers",
            rangeHref: (r) => `/ui/nodes/${n.id}${r === "24h" ? "" : `?range=${r}`}`,
          }, range),
        }}
      />,
    );
  });

  const editPage = (c: C, id: number, form: FormState) => (
    <NodeEditPage title="Edit node" user={currentUser(c)} id={id} form={form} />
  );
  ui.get("/ui/nodes/:id/edit", (c) => {
    requireNodeWriter(c);
    const n = remoteNode(s, idParam(c));
    return html(
      c,
      editPage(c, n.id, { values: { name: n.name, fqdn: n.fqdn, wg_port: String(n.wgPort) }, errors: {} }),
    );
  });
  ui.post("/ui/nodes/:id", async (c) => {
    requireNodeWriter(c);
    const id = idParam(c);
    remoteNode(s, id);
    const body = await formBody(c);
    return await withForm(c, body, () => {
      const n = s.nodes.update(actorOf(c), c.get("meta"), id, nodeInput(body));
      return Promise.resolve(redirectWith(c, "/ui/nodes", { kind: "ok", text: `Node ${n.name} saved.` }));
    }, (form) => editPage(c, id, form));
  });

  ui.get("/ui/nodes/:id/token", (c) => {
    requireNodeWriter(c);
    const n = remoteNode(s, idParam(c));
    return html(c, <NodeTokenConfirmPage title="New token" user={currentUser(c)} node={nodeItem(n)} />);
  });
  ui.post("/ui/nodes/:id/token", async (c) => {
    requireNodeWriter(c);
    const id = idParam(c);
    remoteNode(s, id);
    const token = await s.nodes.regenerateToken(actorOf(c), c.get("meta"), id);
    return tokenPage(c, s.nodes.get(id), token, false);
  });

  ui.get("/ui/nodes/:id/delete", (c) => {
    requireNodeWriter(c);
    const n = remoteNode(s, idParam(c));
    return html(c, <NodeDeletePage title="Delete node" user={currentUser(c)} node={nodeItem(n)} />);
  });
  ui.post("/ui/nodes/:id/delete", (c) => {
    requireNodeWriter(c);
    const id = idParam(c);
    const n = remoteNode(s, id);
    const { unassignedPeers } = s.nodes.delete(actorOf(c), c.get("meta"), id);
    return redirectWith(c, "/ui/nodes", {
      kind: "ok",
      text: `Node ${n.name} deleted. ${unassignedPeers} peer${
        unassignedPeers === 1 ? "" : "s"
      } moved to the master (local).`,
    });
  });

  return ui;
}
