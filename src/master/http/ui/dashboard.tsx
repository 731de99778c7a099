// The dashboard: accounts and tokens, recent logins, WireGuard counts, all peers' traffic, the nodes and
// the latest handshakes.
import { Hono } from "hono";
import { DashboardPage, type WireGuardCounts } from "../../../../ui/views/dashboard.tsx";
import type { TrafficChartModel } from "../../../../ui/views/charts.tsx";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { agoText, currentUser, html, localHelp, nodeBriefs, takeFlash, type UiOptions } from "../ui_kit.tsx";
import { TRAFFIC_RANGES } from "../../service/traffic.ts";
import { chartModel, pickRange } from "./traffic_chart.ts";

function wireGuardCounts(s: Services): WireGuardCounts {
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

/** Every peer's traffic: the last hour while all of it is recent, else the range asked for (24 h). */
function dashboardTraffic(s: Services, requested: string | undefined): TrafficChartModel {
  const { range, series } = pickRange(requested, (r) => s.traffic.total(r));
  return chartModel(series, {
    id: "traffic-total",
    title: `Traffic, ${TRAFFIC_RANGES[range].label} (all peers)`,
    rxLabel: "received from peers",
    txLabel: "sent to peers",
    rangeHref: (r) => `/ui/dashboard?range=${r}`,
  }, range);
}

export function dashboardRoutes(s: Services, o: UiOptions): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get("/ui/dashboard", (c) => {
    const logins = s.audit.list({ action: "login", limit: 8 });
    return html(
      c,
      <DashboardPage
        title="Dashboard"
        user={currentUser(c)}
        flash={takeFlash(c)}
        stats={{
          users: s.accounts.list().length,
          activeTokens: s.tokens.list().filter((t) => t.status === "active").length,
          recentLogins: logins.map((l) => ({
            actor: l.target,
            at: new Date(l.at).toISOString().slice(0, 16).replace("T", " "),
            ok: l.action === "login.success",
          })),
          wireguard: wireGuardCounts(s),
          traffic: dashboardTraffic(s, c.req.query("range")),
          nodes: nodeBriefs(s),
          help: localHelp(c, o),
          handshakes: s.traffic.recentHandshakes(s.clock.now() - 86_400_000, 8).map((h) => ({
            id: h.id,
            name: h.name,
            node: h.node_name,
            ago: agoText(s.clock.now() - h.handshake * 1000),
            endpoint: h.endpoint,
          })),
        }}
      />,
    );
  });
  return ui;
}
