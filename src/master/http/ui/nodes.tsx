// Nodes: the list with a self-polling status table, adding one with the token shown once, editing, a
// new token, deleting after a warning, and the node's page with its peers' traffic. Every mutation is a
// form POST (CSRF-checked by the middleware); viewers get no forms and a 403.
import { Hono } from "hono";
import { AppError } from "../../../core/errors.ts";
import { readToken } from "../../../core/sync.ts";
import type { FormState } from "../../../../ui/views/auth.tsx";
import type { Flash } from "../../../../ui/views/layout.tsx";
import {
  brief,
  EnrollStatus,
  nodeDeleteConfirm,
  NodeDetailPage,
  NodeEditPage,
  type NodeItem,
  type NodeListModel,
  NodesPage,
  NodeTable,
  nodeTokenConfirm,
  NodeTokenPage,
} from "../../../../ui/views/nodes.tsx";
import { canWrite } from "../../service/context.ts";
import type { NodeView } from "../../service/node_admin.ts";
import { keysRoutes } from "./keys.tsx";
import { wgKeysRoutes } from "./wg_keys.tsx";
import type { Services } from "../../service/services.ts";
import type { ReportView } from "../../service/fleet_watch.ts";
import type { NodeHealthModel } from "../../../../ui/views/node_health.tsx";
import { TRAFFIC_RANGES } from "../../service/traffic.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  type C,
  confirmation,
  currentUser,
  emptyForm,
  formBody,
  formOrDraft,
  html,
  isLoopbackHost,
  localHelp,
  redirectWith,
  requireWriter,
  takeFlash,
  text,
  type UiOptions,
  withForm,
} from "../ui_kit.tsx";
import { chartModel, pickRange } from "./traffic_chart.ts";
import { fleetOf, inScope } from "../../service/scope.ts";

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

const nodeItem = (n: NodeView, report: ReportView | null = null): NodeItem => ({
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
  clockSkewMs: n.clockSkewMs,
  report: report && {
    applyOk: report.applyOk,
    applyError: report.applyError,
    applyMs: report.applyMs,
    warnings: report.warnings,
    queueDepth: report.queueDepth,
  },
});

/** The node page's health card: the check state, the last checks and the node's last report. */
function healthModel(s: Services, id: number, canCheck: boolean): NodeHealthModel {
  const h = s.health.view(id, 10);
  const r = s.watch.report(id);
  return {
    nodeId: id,
    canCheck,
    failures: h.failures,
    nextCheckAt: h.nextCheckAt,
    lastOkAt: h.lastOkAt,
    lastError: h.lastError,
    checks: h.checks,
    report: r && {
      applyOk: r.applyOk,
      applyError: r.applyError,
      applyMs: r.applyMs,
      warnings: r.warnings,
      queueDepth: r.queueDepth,
    },
    now: s.clock.now(),
  };
}

/** The master's own node is configured through the master: no edit, token or delete here. */
function remoteNode(s: Services, id: number): NodeView {
  const n = s.nodes.get(id);
  if (n.isLocal) throw new AppError("conflict", "The master's own node is configured through the master");
  return n;
}

/** The node's enrollment URL when it only reaches this machine, for a remote node: a warning. */
function urlWarning(n: NodeView, token: string): string | null {
  if (n.isLocal) return null;
  const url = readToken(token)?.url;
  if (!url) return null;
  const host = new URL(url).hostname;
  if (!isLoopbackHost(host)) return null;
  return `This token sends the node to ${url}, an address only this machine can reach. Set WIREBUDDY_PUBLIC_URL to an address the node reaches (e.g. https://vpn.example.com:8443), restart the master and make a new token.`;
}

export function nodesRoutes(s: Services, o: UiOptions): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  const requireNodeWriter = (c: C) => requireWriter(c, "nodes");

  const list = (c: C): NodeListModel => ({
    nodes:
      ((reports) =>
        inScope(fleetOf(actorOf(c)), "nodes", s.nodes.list()).map((n) =>
          nodeItem(n, reports.get(n.id) ?? null)
        ))(
          s.watch.reports(),
        ),
    canEdit: canWrite(actorOf(c)),
    now: s.clock.now(),
  });
  const nodesPage = (c: C, form: FormState, flash: Flash | null = null) => (
    <NodesPage
      title="Nodes"
      user={currentUser(c)}
      flash={flash}
      list={list(c)}
      form={form}
      help={localHelp(c, o)}
    />
  );
  const tokenPage = (c: C, n: NodeView, token: string, created: boolean) =>
    // Shown once, in this response only (html() sends Cache-Control: no-store).
    html(
      c,
      <NodeTokenPage
        title="Enrollment token"
        user={currentUser(c)}
        m={{
          node: { id: n.id, name: n.name, isLocal: n.isLocal },
          status: brief(nodeItem(n, null)),
          token,
          expiresAt: n.tokenExpiresAt,
          created,
          loopbackUrl: o.loopbackUrl,
          urlWarning: urlWarning(n, token),
        }}
      />,
      created ? 201 : 200,
    );

  ui.get("/ui/nodes", (c) => {
    // The status table polls this URL and gets just the table back.
    if (c.req.header("hx-request") && c.req.header("hx-target") === "node-table") {
      return html(c, <NodeTable m={list(c)} />);
    }
    return html(c, nodesPage(c, formOrDraft(c, "/ui/nodes", emptyForm()), takeFlash(c)));
  });

  ui.post("/ui/nodes", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      const { node, token } = await s.nodes.create(actorOf(c), c.get("meta"), nodeInput(body));
      return tokenPage(c, node, token, true);
    }, (form) => nodesPage(c, form));
  });

  // The token page's enrollment line, polled until the node is online.
  ui.get("/ui/nodes/:id/status", (c) => {
    const n = s.nodes.get(idParam(c));
    return html(c, <EnrollStatus n={brief(nodeItem(n, null))} />);
  });

  ui.get("/ui/nodes/:id", (c) => {
    const n = s.nodes.get(idParam(c));
    const { range, series } = pickRange(
      c.req.query("range"),
      (r) => s.traffic.forHost(n.isLocal ? null : n.id, r),
    );
    const interfaces = n.isLocal
      ? s.interfaces.list().map((i) => ({ name: i.name, address: i.address4, publicKey: i.publicKey }))
      : n.interfaces;
    return html(
      c,
      <NodeDetailPage
        title={n.name}
        user={currentUser(c)}
        flash={takeFlash(c)}
        m={{
          node: nodeItem(n, s.watch.report(n.id)),
          health: n.isLocal || !n.enrolled ? null : healthModel(s, n.id, canWrite(actorOf(c))),
          help: localHelp(c, o),
          interfaces,
          canEdit: canWrite(actorOf(c)),
          now: s.clock.now(),
          chart: chartModel(series, {
            id: "traffic-node",
            title: `Traffic of its peers, ${TRAFFIC_RANGES[range].label}`,
            rxLabel: "received from peers",
            txLabel: "sent to peers",
            rangeHref: (r) => `/ui/nodes/${n.id}?range=${r}`,
          }, range),
        }}
      />,
    );
  });

  const editPage = (c: C, id: number, form: FormState) => (
    <NodeEditPage
      title="Edit node"
      user={currentUser(c)}
      id={id}
      currentName={s.nodes.get(id).name}
      form={form}
    />
  );
  // "Check now": the tunnel check at once, bypassing the backoff; the result comes back as a flash.
  ui.post("/ui/nodes/:id/check", async (c) => {
    requireNodeWriter(c);
    const id = idParam(c);
    const r = await s.health.checkNow(id);
    return redirectWith(
      c,
      `/ui/nodes/${id}`,
      r.ok
        ? { kind: "ok", text: `Check passed in ${r.latencyMs} ms.` }
        : { kind: "error", text: `Check failed after ${r.latencyMs} ms: ${r.error}` },
    );
  });

  ui.get("/ui/nodes/:id/edit", (c) => {
    requireNodeWriter(c);
    const n = remoteNode(s, idParam(c));
    return html(
      c,
      editPage(
        c,
        n.id,
        formOrDraft(c, `/ui/nodes/${n.id}/edit`, {
          values: { name: n.name, fqdn: n.fqdn, wg_port: String(n.wgPort) },
          errors: {},
        }),
      ),
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

  // A new token: for a remote node, or for the master's own node to start it by hand.
  ui.get("/ui/nodes/:id/token", (c) => {
    requireNodeWriter(c);
    const n = s.nodes.get(idParam(c));
    return confirmation(c, nodeTokenConfirm(nodeItem(n)));
  });
  ui.post("/ui/nodes/:id/token", async (c) => {
    requireNodeWriter(c);
    const id = idParam(c);
    const token = await s.nodes.regenerateToken(actorOf(c), c.get("meta"), id);
    return tokenPage(c, s.nodes.get(id), token, false);
  });

  ui.get("/ui/nodes/:id/delete", (c) => {
    requireNodeWriter(c);
    const n = remoteNode(s, idParam(c));
    return confirmation(c, nodeDeleteConfirm(nodeItem(n)));
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

  // The master's keys the nodes trust, and their rotation.
  ui.route("/", keysRoutes(s));
  ui.route("/", wgKeysRoutes(s));
  return ui;
}
