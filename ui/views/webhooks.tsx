// Webhooks: where fleet events go. The list with enable/disable, "Send test" and delete; the add form
// (URL, optional secret, event filter); and the delivery log of the outbox, newest first.
import type { FC } from "hono/jsx";
import type { FormState } from "./auth.tsx";
import { Field, type Flash, formatTime, FormErrors, Layout, type PageModel } from "./layout.tsx";

export type WebhookItem = {
  id: number;
  name: string;
  url: string;
  hasSecret: boolean;
  events: string;
  enabled: boolean;
};

export type DeliveryItem = {
  id: number;
  webhookName: string;
  event: string;
  eventId: string;
  eventAt: number;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
};

export type WebhooksModel = {
  webhooks: WebhookItem[];
  deliveries: DeliveryItem[];
  eventTypes: readonly string[];
  canEdit: boolean;
};

const WebhookRow: FC<{ w: WebhookItem; canEdit: boolean }> = ({ w, canEdit }) => (
  <tr id={`webhook-${w.id}`}>
    <td class="primary">{w.name}</td>
    <td data-label="URL">
      <code>{w.url}</code>
    </td>
    <td data-label="Events">{w.events === "*" ? "all" : w.events.split(",").join(", ")}</td>
    <td data-label="Signed">{w.hasSecret ? "HMAC-SHA256" : <span class="muted">no secret</span>}</td>
    <td data-label="State">
      <span class={`badge status-${w.enabled ? "online" : "offline"}`}>
        {w.enabled ? "enabled" : "disabled"}
      </span>
    </td>
    <td class="actions">
      {canEdit && (
        <>
          <form method="post" action={`/ui/webhooks/${w.id}/test`} class="inline">
            <button type="submit" id={`test-webhook-${w.id}`}>Send test</button>
          </form>
          <form
            method="post"
            action={`/ui/webhooks/${w.id}/${w.enabled ? "disable" : "enable"}`}
            class="inline"
          >
            <button type="submit">{w.enabled ? "Disable" : "Enable"}</button>
          </form>
          <form
            method="post"
            action={`/ui/webhooks/${w.id}/delete`}
            class="inline"
            hx-confirm={`Delete webhook ${w.name} and its queued deliveries?`}
          >
            <button type="submit" class="danger">Delete</button>
          </form>
        </>
      )}
    </td>
  </tr>
);

/** The delivery log: polls its own URL every 10 s. */
export const DeliveryLog: FC<{ deliveries: DeliveryItem[] }> = ({ deliveries }) => (
  <div id="delivery-log" hx-get="/ui/webhooks" hx-trigger="every 10s" hx-swap="outerHTML">
    <table class="table">
      <thead>
        <tr>
          <th>Event</th>
          <th>Webhook</th>
          <th>When</th>
          <th>State</th>
          <th>Attempts</th>
          <th>Last answer</th>
        </tr>
      </thead>
      <tbody>
        {deliveries.length === 0 && (
          <tr>
            <td colspan={6} class="muted">No deliveries yet.</td>
          </tr>
        )}
        {deliveries.map((d) => (
          <tr id={`delivery-${d.id}`}>
            <td class="primary">
              {d.event} <small class="muted">{d.eventId}</small>
            </td>
            <td data-label="Webhook">{d.webhookName}</td>
            <td data-label="When">{formatTime(d.eventAt)}</td>
            <td data-label="State">
              <span
                class={`badge status-${
                  d.state === "delivered" ? "online" : d.state === "failed" ? "error" : "pending"
                }`}
              >
                {d.state}
              </span>
              {d.state === "pending" && d.attempts > 0 && (
                <small class="muted">next try {formatTime(d.nextAttemptAt)}</small>
              )}
            </td>
            <td data-label="Attempts">{d.attempts}</td>
            <td data-label="Last answer">
              {d.lastStatus !== null ? `HTTP ${d.lastStatus}` : ""}
              {d.lastError && d.lastStatus === null && <small class="error">{d.lastError}</small>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

export const WebhooksPage: FC<PageModel & { m: WebhooksModel; form: FormState; flash?: Flash | null }> = (
  p,
) => (
  <Layout title="Webhooks" user={p.user} active="webhooks" flash={p.flash ?? null}>
    <h1>Webhooks</h1>
    <p class="muted">
      Fleet events (a node down, unreachable or back up, a failed apply, a config not applied in time, dropped
      metrics, an expired peer, a burst of failed node logins) are posted as JSON to every enabled webhook
      that takes them, signed with its secret, and retried until they are delivered.
    </p>
    <table class="table" id="webhook-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>URL</th>
          <th>Events</th>
          <th>Signed</th>
          <th>State</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {p.m.webhooks.length === 0 && (
          <tr>
            <td colspan={6} class="muted">No webhooks yet.</td>
          </tr>
        )}
        {p.m.webhooks.map((w) => <WebhookRow w={w} canEdit={p.m.canEdit} />)}
      </tbody>
    </table>
    {p.m.canEdit && (
      <section class="card" id="new-webhook">
        <h2>Add a webhook</h2>
        <form method="post" action="/ui/webhooks" class="grid-form" id="webhook-form">
          <FormErrors errors={p.form.errors} message={p.form.message} />
          <Field name="name" label="Name" value={p.form.values.name} error={p.form.errors.name} required />
          <Field
            name="url"
            label="URL"
            value={p.form.values.url}
            error={p.form.errors.url}
            required
            hint="https://alerts.example.com/wirebuddy"
          />
          <Field
            name="secret"
            label="Secret (optional)"
            type="password"
            value=""
            error={p.form.errors.secret}
            hint="Signs each delivery: X-WireBuddy-Signature"
          />
          <fieldset class={p.form.errors.events ? "field invalid" : "field"}>
            <legend>Events (none checked: all)</legend>
            {p.m.eventTypes.map((t) => (
              <label>
                <input
                  type="checkbox"
                  name="events"
                  value={t}
                  checked={(p.form.values.events ?? "").includes(t)}
                />
                {t}
              </label>
            ))}
          </fieldset>
          <div class="form-actions">
            <button type="submit" class="primary">Add webhook</button>
          </div>
        </form>
      </section>
    )}
    <section class="card" id="deliveries">
      <h2>Delivery log</h2>
      <DeliveryLog deliveries={p.m.deliveries} />
    </section>
  </Layout>
);
