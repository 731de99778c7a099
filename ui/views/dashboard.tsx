// The dashboard and the pages that later issues fill in.
import type { FC } from "hono/jsx";
import { Layout, type PageModel } from "./layout.tsx";
import { TrafficChart, type TrafficChartModel } from "./charts.tsx";
import {
  downText,
  isRunning,
  type LocalHelpModel,
  type NodeBrief,
  nodeName,
  NodesDownNotice,
} from "./node_status.tsx";

export type WireGuardCounts = {
  interfaces: number;
  peers: number;
  enabled: number;
  expired: number;
  local: number;
  onNodes: number;
};

export type HandshakeItem = {
  id: number;
  name: string;
  node: string | null;
  ago: string;
  endpoint: string | null;
};

export type DashboardModel = {
  handshakes: HandshakeItem[];
  users: number;
  activeTokens: number;
  recentLogins: { actor: string; at: string; ok: boolean }[];
  wireguard?: WireGuardCounts;
  traffic?: TrafficChartModel;
  nodes?: NodeBrief[];
  help?: LocalHelpModel;
};

/** Every node with a status dot, linking to its page. */
const NodeList: FC<{ nodes: NodeBrief[] }> = ({ nodes }) => (
  <section class="card" id="dashboard-nodes">
    <h2>Nodes</h2>
    <ul class="plain">
      {nodes.map((n) => (
        <li data-node={n.isLocal ? "local" : String(n.id)}>
          <span class={isRunning(n) ? "dot online" : "dot"} aria-hidden="true"></span>
          <a href={`/ui/nodes/${n.id}`}>{nodeName(n)}</a>{" "}
          <span class={isRunning(n) ? "muted" : "error"}>{isRunning(n) ? n.status : downText(n)}</span>
          <span class="muted">· {n.peerCount} peer{n.peerCount === 1 ? "" : "s"}</span>
        </li>
      ))}
    </ul>
  </section>
);

/**
 * What to do next on a new install: an interface, then a peer (and its QR code), then, optionally, a
 * node. Shown until there is an interface with a peer; each step done is ticked.
 */
const FirstSteps: FC<{ wg: WireGuardCounts; nodes: NodeBrief[]; canEdit: boolean }> = (
  { wg, nodes, canEdit },
) => {
  const remote = nodes.filter((n) => !n.isLocal).length;
  const step = (done: boolean) => (done ? "done" : undefined);
  return (
    <section class="card highlight" id="first-steps">
      <h2>Get started</h2>
      <ol class="steps">
        <li class={step(wg.interfaces > 0)}>
          {wg.interfaces > 0 ? "An interface: done." : (
            <>
              <a href="/ui/interfaces#new-interface">Create an interface</a>{" "}
              (a WireGuard network: its address pool and port; the form is filled in with good defaults).
            </>
          )}
        </li>
        <li class={step(wg.peers > 0)}>
          {wg.peers > 0 ? "A peer: done." : (
            <>
              <a href={wg.interfaces > 0 ? "/ui/peers/new" : "/ui/peers"}>Add a peer</a>{" "}
              for each phone or laptop, then open its QR code and scan it with the WireGuard app.
            </>
          )}
        </li>
        <li class={step(remote > 0)}>
          {remote > 0 ? "A node: done." : (
            <>
              Optional: <a href="/ui/nodes#new-node">add a node</a>{" "}
              to serve peers from another server; it installs with one command.
            </>
          )}
        </li>
      </ol>
      {!canEdit && <p class="muted">An admin does these steps; you can watch them here.</p>}
    </section>
  );
};

const Stat: FC<{ label: string; value: number; href?: string; id?: string }> = (p) => (
  <section class="card stat" id={p.id}>
    <h2>{p.label}</h2>
    <p class="big">{p.href ? <a href={p.href}>{p.value}</a> : p.value}</p>
  </section>
);

export const DashboardPage: FC<PageModel & { stats: DashboardModel }> = (p) => {
  const wg = p.stats.wireguard;
  return (
    <Layout title="Dashboard" user={p.user} active="dashboard" flash={p.flash ?? null}>
      <h1>Dashboard</h1>
      {wg && p.stats.nodes && (wg.interfaces === 0 || wg.peers === 0) && (
        <FirstSteps wg={wg} nodes={p.stats.nodes} canEdit={p.stats.help?.canEdit ?? false} />
      )}
      {p.stats.nodes && p.stats.help && <NodesDownNotice nodes={p.stats.nodes} help={p.stats.help} />}
      {wg && (
        <div class="cards" id="wg-stats">
          <Stat label="Interfaces" value={wg.interfaces} href="/ui/interfaces" id="stat-interfaces" />
          <Stat label="Peers" value={wg.peers} href="/ui/peers" id="stat-peers" />
          <Stat label="Enabled peers" value={wg.enabled} id="stat-enabled" />
          <Stat label="Expired peers" value={wg.expired} id="stat-expired" />
          <Stat label="On the master" value={wg.local} href="/ui/peers?node=local" id="stat-local" />
          <Stat label="On nodes" value={wg.onNodes} id="stat-nodes" />
        </div>
      )}
      {p.stats.traffic && <TrafficChart m={p.stats.traffic} />}
      {p.stats.nodes && <NodeList nodes={p.stats.nodes} />}
      <div class="cards">
        <Stat label="Users" value={p.stats.users} />
        <Stat label="Active API tokens" value={p.stats.activeTokens} />
      </div>
      {wg && (
        <section class="card" id="handshakes">
          <h2>Latest handshakes</h2>
          {p.stats.handshakes.length === 0
            ? <p class="muted">No handshakes reported in the last 24 hours.</p>
            : (
              <ul class="plain">
                {p.stats.handshakes.map((h) => (
                  <li>
                    <a href={`/ui/peers/${h.id}/traffic`}>{h.name}</a>
                    {h.node ? <span class="badge">{h.node}</span> : null} {h.ago}
                    {h.endpoint ? <span class="muted">{` from ${h.endpoint}`}</span> : null}
                  </li>
                ))}
              </ul>
            )}
        </section>
      )}
      <section class="card">
        <h2>Recent logins</h2>
        <ul class="plain">
          {p.stats.recentLogins.map((l) => (
            <li>{l.at} — {l.actor} {l.ok ? "logged in" : <strong>failed to log in</strong>}</li>
          ))}
        </ul>
      </section>
    </Layout>
  );
};
