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

export const LoginPage: FC<{ form: FormState; next: string; flash?: Flash | null }> = (
  { form, next, flash },
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
        <button type="submit" class="primary">Log in</button>
      </form>
    </section>
  </Layout>
);
