// The dashboard and the pages that later issues fill in.
import type { FC } from "hono/jsx";
import { Layout, type PageModel } from "./layout.tsx";

export type DashboardModel = {
  users: number;
  activeTokens: number;
  recentLogins: { actor: string; at: string; ok: boolean }[];
};

export const DashboardPage: FC<PageModel & { stats: DashboardModel }> = (p) => (
  <Layout title="Dashboard" user={p.user} active="dashboard" flash={p.flash ?? null}>
    <h1>Dashboard</h1>
    <div class="cards">
      <section class="card stat">
        <h2>Users</h2>
        <p class="big">{p.stats.users}</p>
      </section>
      <section class="card stat">
        <h2>Active API tokens</h2>
        <p class="big">{p.stats.activeTokens}</p>
      </section>
    </div>
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

export const ComingSoonPage: FC<PageModel & { heading: string; text: string }> = (p) => (
  <Layout title={p.heading} user={p.user} active={p.active}>
    <h1>{p.heading}</h1>
    <section class="card">
      <p>{p.text}</p>
    </section>
  </Layout>
);
