// Backups: download an encrypted backup of the master (admins), and how to restore one.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { Field, type Flash, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type BackupModel = {
  canBackup: boolean;
  /** "every 1d, keeping 7, in /var/lib/wirebuddy/backups", or null when not scheduled. */
  schedule: string | null;
  form: FormState;
  flash?: Flash | null;
};

export const BackupPage: FC<PageModel & BackupModel> = (p) => (
  <Layout title="Backup" user={p.user} active="backup" flash={p.flash ?? null}>
    <h1>Backup</h1>
    <section class="card">
      <p>
        A backup holds the database (peers, nodes, interfaces, users, traffic history), the master's secret
        key, its TLS certificate and its answer-signing key, encrypted with your passphrase. Restored onto a
        new server, every node re-attaches by itself: no new token.
      </p>
      <p class="muted" id="backup-schedule">
        {p.schedule
          ? `Scheduled backups: ${p.schedule}.`
          : "No scheduled backups (set WIREBUDDY_BACKUP_INTERVAL and WIREBUDDY_BACKUP_PASSPHRASE_FILE)."}
      </p>
    </section>
    {p.canBackup
      ? (
        <section class="card">
          <h2>Download a backup</h2>
          <form method="post" action="/ui/backup" class="grid-form" hx-boost="false" id="backup-form">
            <FormErrors errors={p.form.errors} message={p.form.message} />
            <Field
              name="passphrase"
              label="Passphrase (at least 12 characters)"
              type="password"
              autocomplete="new-password"
              error={p.form.errors.passphrase}
              required
            />
            <Field
              name="passphrase_confirm"
              label="Passphrase again"
              type="password"
              autocomplete="new-password"
              error={p.form.errors.passphrase_confirm}
              required
            />
            <button type="submit" class="primary">Download backup</button>
          </form>
          <p class="muted">
            Without the passphrase the backup cannot be opened: keep it apart from the file.
          </p>
        </section>
      )
      : <p class="muted">Only admins can download backups.</p>}
    <section class="card">
      <h2>Restore</h2>
      <p>On the new server, after installing the master, with the master stopped:</p>
      <pre><code>{`systemctl stop wirebuddy-master
printf %s "$PASSPHRASE" | wirebuddy-master restore wirebuddy-….wbbackup
systemctl start wirebuddy-master`}</code></pre>
      <p class="muted">
        Then point the master's DNS name at the new server: nodes find it by that name (see README: Backup and
        restore).
      </p>
    </section>
  </Layout>
);
