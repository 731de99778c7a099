// The dashboard and the pages that later issues fill in.
import type { FC } from "hono/jsx";
import { Layout, type PageModel } from "./layout.tsx";
import { TrafficChart, type TrafficChartModel } from "./charts.tsx";

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
