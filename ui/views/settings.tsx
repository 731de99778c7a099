// Settings: the master's effective configuration, read-only (it comes from WIREBUDDY_* variables).
import type { FC } from "hono/jsx";
import { Layout, type PageModel } from "./layout.tsx";

export type SettingRow = { label: string; value: string; env: string };

export const SettingsPage: FC<PageModel & { rows: SettingRow[]; loopbackPublicUrl?: string | null }> = (
  p,
) => (
  <Layout title="Settings" user={p.user} active="settings">
    <h1>Settings</h1>
    {p.loopbackPublicUrl && (
      <p class="warning" id="public-url-warning">
        The public URL is{" "}
        <code>{p.loopbackPublicUrl}</code>, which only this machine can reach: node tokens send nodes there
        and client configs name this host as the endpoint. Set <code>WIREBUDDY_PUBLIC_URL</code>{" "}
        to the address nodes and clients use (e.g.{" "}
        <code>https://vpn.example.com:8443</code>) and restart the master.
      </p>
    )}
    <section class="card">
      <p class="muted">
        These come from <code>WIREBUDDY_*</code> variables (on an installed master:{" "}
        <code>/etc/wirebuddy/master.env</code>). Change them there and restart the master:{" "}
        <code>systemctl restart wirebuddy-master</code>.
      </p>
      <p>
        <a href="/ui/keys" id="keys-link">Master keys</a>: the signing key nodes trust, and its rotation.
      </p>
      <table class="table" id="settings-table">
        <thead>
          <tr>
            <th>Setting</th>
            <th>Value</th>
            <th>Variable</th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r) => (
            <tr>
              <td class="primary">{r.label}</td>
              <td data-label="Value">
                <code>{r.value}</code>
              </td>
              <td data-label="Variable">
                <code>{r.env}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  </Layout>
);
