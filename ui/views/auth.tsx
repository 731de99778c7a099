// Setup (first admin through the one-time link) and login pages.
import type { FC } from "hono/jsx";
import { Field, type Flash, FormErrors, Layout } from "./layout.tsx";

export type FormState = {
  values: Record<string, string>;
  errors: Record<string, string>;
  message?: string | undefined;
};
export const emptyForm = (): FormState => ({ values: {}, errors: {} });

export const SetupPage: FC<{ token: string; valid: boolean; form: FormState }> = ({ token, valid, form }) => (
  <Layout title="Set up WireBuddy" user={null}>
    <section class="card narrow">
      <h1>Create the first admin</h1>
      {valid
        ? (
          <form method="post" action="/setup" class="stack">
            <FormErrors errors={form.errors} message={form.message} />
            <input type="hidden" name="token" value={token} />
            <Field
              name="username"
              label="Username"
              value={form.values.username}
              error={form.errors.username}
              required
              autocomplete="username"
            />
            <Field
              name="password"
              label="Password"
              type="password"
              error={form.errors.password}
              required
              autocomplete="new-password"
              hint="At least 10 characters."
            />
            <button type="submit" class="primary">Create admin</button>
          </form>
        )
        : (
          <p class="error-message" role="alert">
            This setup link is invalid, used or expired. Restart the master to print a new one, or run{" "}
            <code>wirebuddy-master admin create --username NAME</code>.
          </p>
        )}
    </section>
  </Layout>
);

export type SignInOptions = {
  /** The single sign-on button's label ("Sign in with Keycloak"), or null without SSO. */
  sso: string | null;
  passkeys: boolean;
  /** SSO only: the password form is for the break-glass admin alone. */
  passwordsLimited: boolean;
};
export const NO_SIGN_IN_OPTIONS: SignInOptions = { sso: null, passkeys: false, passwordsLimited: false };

export const LoginPage: FC<{ form: FormState; next: string; flash?: Flash | null; options?: SignInOptions }> =
  (
    { form, next, flash, options = NO_SIGN_IN_OPTIONS },
  ) => (
    <Layout title="Log in" user={null} flash={flash ?? null}>
      <section class="card narrow">
        <h1>Log in</h1>
        <form method="post" action="/login" class="stack">
          <FormErrors errors={form.errors} message={form.message} />
          <input type="hidden" name="next" value={next} />
          <Field
            name="username"
            label="Username"
            value={form.values.username}
            error={form.errors.username}
            required
            autocomplete="username"
          />
          <Field
            name="password"
            label="Password"
            type="password"
            error={form.errors.password}
            required
            autocomplete="current-password"
          />
          <button type="submit" class={options.sso ? "" : "primary"}>Log in</button>
        </form>
        {options.passwordsLimited && <p class="muted">Passwords are for the emergency admin only.</p>}
        {options.passkeys && (
          <form method="post" action="/login/passkey" class="stack" id="passkey-login" data-passkey="login">
            <script src="/static/passkey.js" defer></script>
            <input type="hidden" name="next" value={next} />
            <input type="hidden" name="response" value="" />
            <button type="submit">Sign in with a passkey</button>
          </form>
        )}
        {options.sso && (
          <p class="stack" id="sso-login">
            <a class="button primary" href={`/login/sso?next=${encodeURIComponent(next)}`} hx-boost="false">
              {options.sso}
            </a>
          </p>
        )}
      </section>
    </Layout>
  );

/** The second step of a sign-in: a code from the authenticator app, or a recovery code. */
export const SecondFactorPage: FC<{ form: FormState; next: string }> = ({ form, next }) => (
  <Layout title="Two-step sign-in" user={null}>
    <section class="card narrow">
      <h1>Enter your code</h1>
      <form method="post" action="/login/code" class="stack" id="code-form">
        <FormErrors errors={form.errors} message={form.message} />
        <input type="hidden" name="next" value={next} />
        <Field
          name="code"
          label="Code"
          error={form.errors.code}
          required
          autocomplete="one-time-code"
          hint="The 6-digit code from your authenticator app, or one of your recovery codes."
        />
        <button type="submit" class="primary">Continue</button>
      </form>
    </section>
  </Layout>
);
