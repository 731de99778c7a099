// The signed-in user's own account: password, authenticator app (TOTP) with recovery codes, passkeys.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type PasskeyItem = { id: number; name: string; createdAt: number; lastUsedAt: number | null };
export type SecurityModel = {
  totp: boolean;
  recoveryRemaining: number;
  passkeys: PasskeyItem[];
  /** The "every admin needs a second factor" policy applies and none is set up yet. */
  mustEnrol: boolean;
  /** Passkeys can be used (the public URL is a secure context with a domain name). */
  passkeysAvailable: boolean;
};

export type AccountModel = PageModel & {
  security: SecurityModel;
  form: FormState;
  totpForm?: FormState;
  passkeyForm?: FormState;
};

const PasswordCard: FC<{ form: FormState }> = ({ form }) => (
  <section class="card narrow">
    <h2>Change password</h2>
    <form method="post" action="/ui/account/password" class="stack">
      <FormErrors errors={form.errors} message={form.message} />
      <Field
        name="current_password"
        label="Current password"
        type="password"
        error={form.errors.current_password}
        required
        autocomplete="current-password"
      />
      <Field
        name="new_password"
        label="New password"
        type="password"
        error={form.errors.new_password}
        required
        autocomplete="new-password"
      />
      <button type="submit" class="primary">Change password</button>
    </form>
  </section>
);

const TotpCard: FC<{ s: SecurityModel; form: FormState }> = ({ s, form }) => (
  <section class="card narrow" id="totp">
    <h2>Authenticator app</h2>
    {s.totp
      ? (
        <>
          <p>
            <span class="badge status-active">on</span> Sign-in asks for a code from your app.{" "}
            <span id="recovery-remaining">{s.recoveryRemaining}</span> recovery codes left.
          </p>
          <form method="post" action="/ui/account/recovery" class="inline">
            <button type="submit">New recovery codes</button>
          </form>
          <form method="post" action="/ui/account/totp/disable" class="stack" id="totp-disable">
            <FormErrors errors={form.errors} message={form.message} />
            <Field
              name="code"
              label="Current code"
              error={form.errors.code}
              required
              autocomplete="one-time-code"
              hint="To remove the app, enter a code from it (or a recovery code)."
            />
            <button type="submit" class="danger">Remove authenticator app</button>
          </form>
        </>
      )
      : (
        <>
          <p class="muted">
            Off. With an app such as Aegis, Google Authenticator or 1Password, a stolen password is not enough
            to sign in.
          </p>
          <form method="post" action="/ui/account/totp/start">
            <button type="submit" class="primary">Set up an authenticator app</button>
          </form>
        </>
      )}
  </section>
);

const PasskeysCard: FC<{ s: SecurityModel; form: FormState }> = ({ s, form }) => (
  <section class="card narrow" id="passkeys">
    <h2>Passkeys</h2>
    {s.passkeys.length === 0 ? <p class="muted">No passkeys yet.</p> : (
      <ul class="passkey-list">
        {s.passkeys.map((p) => (
          <li id={`passkey-${p.id}`}>
            <strong class="passkey-name">{p.name}</strong>{" "}
            <small class="muted">added {formatTime(p.createdAt)}, last used {formatTime(p.lastUsedAt)}</small>
            <form method="post" action={`/ui/account/passkeys/${p.id}/delete`} class="inline">
              <button type="submit" class="danger">Remove</button>
            </form>
          </li>
        ))}
      </ul>
    )}
    {s.passkeysAvailable
      ? (
        <form
          method="post"
          action="/ui/account/passkeys"
          class="stack"
          id="passkey-add"
          data-passkey="register"
        >
          <script src="/static/passkey.js" defer></script>
          <FormErrors errors={form.errors} message={form.message} />
          <Field
            name="name"
            label="Name"
            value={form.values.name}
            error={form.errors.name}
            required
            hint="Where it lives, e.g. laptop, phone, YubiKey."
          />
          <input type="hidden" name="response" value="" />
          <button type="submit" class="primary">Add a passkey</button>
        </form>
      )
      : <p class="muted">Passkeys need the master on https with a domain name (WIREBUDDY_PUBLIC_URL).</p>}
  </section>
);

export const AccountPage: FC<AccountModel & { flash?: Flash | null }> = (p) => (
  <Layout title="Your account" user={p.user} flash={p.flash ?? null}>
    <h1>Your account</h1>
    {p.security.mustEnrol && (
      <div class="flash flash-error" role="alert" id="must-enrol">
        Admins must use a second factor: set up an authenticator app or a passkey to continue.
      </div>
    )}
    <PasswordCard form={p.form} />
    <TotpCard s={p.security} form={p.totpForm ?? { values: {}, errors: {} }} />
    <PasskeysCard s={p.security} form={p.passkeyForm ?? { values: {}, errors: {} }} />
  </Layout>
);

/** Enrolment: scan the QR code (or type the secret), then confirm with the current code. */
export const TotpEnrolPage: FC<PageModel & { qrSvg: string; secret: string; form: FormState }> = (p) => (
  <Layout title="Set up an authenticator app" user={p.user}>
    <section class="card narrow" id="totp-enrol">
      <h1>Set up an authenticator app</h1>
      <p>Scan this code with your app, then enter the 6-digit code it shows.</p>
      <img
        class="qr"
        src={`data:image/svg+xml;base64,${btoa(p.qrSvg)}`}
        alt="QR code of the authenticator secret"
        width={220}
        height={220}
      />
      <p>
        Or type this key: <code id="totp-secret">{p.secret}</code>
      </p>
      <form method="post" action="/ui/account/totp/confirm" class="stack">
        <FormErrors errors={p.form.errors} message={p.form.message} />
        <Field
          name="code"
          label="Code from the app"
          error={p.form.errors.code}
          required
          autocomplete="one-time-code"
        />
        <button type="submit" class="primary">Turn on</button>
      </form>
    </section>
  </Layout>
);

/** Recovery codes, shown once. */
export const RecoveryCodesPage: FC<PageModel & { codes: string[] }> = (p) => (
  <Layout title="Recovery codes" user={p.user}>
    <section class="card narrow highlight" id="recovery-codes">
      <h1>Your recovery codes</h1>
      <p>
        Each code signs you in once when your app is not at hand. Keep them somewhere safe: they are shown
        only now.
      </p>
      <pre class="secret"><code>{p.codes.join("\n")}</code></pre>
      <p>
        <a href="/ui/account" class="button primary">Done</a>
      </p>
    </section>
  </Layout>
);
