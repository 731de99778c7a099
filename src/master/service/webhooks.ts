// Webhooks: where fleet events go. Admins add a URL with an optional secret (sealed at rest), an event
// filter and an enabled flag. Deliveries come from the persisted outbox (FleetEvents): a delivery is
// marked delivered only after a 2xx answer, so a master that stops mid-delivery sends it again after its
// restart (at least once; receivers dedupe on X-WireBuddy-Event-Id). Failures retry with exponential
// backoff (capped) and give up after `maxAttempts`.
//
// Each request: POST, JSON body (EventPayload), headers X-WireBuddy-Event (type), X-WireBuddy-Event-Id,
// X-WireBuddy-Delivery (attempt), X-WireBuddy-Timestamp (unix seconds) and, with a secret,
// X-WireBuddy-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>.
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken } from "../../core/seal.ts";
import type { Db } from "../db/db.ts";
import { deliveriesRepo, eventsRepo, type WebhookRow, webhooksRepo } from "../db/webhooks_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { EVENT_TYPES, type EventPayload } from "./events.ts";
import type { SecretBox } from "./secret_box.ts";
import { parseInput } from "./validate.ts";

export type WebhookOptions = {
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  timeoutMs: number;
};
export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = {
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  maxAttempts: 15,
  timeoutMs: 10_000,
};

const FILTER = z.union([z.literal("*"), z.array(z.enum(EVENT_TYPES.filter((t) => t !== "webhook.test")))]);
export const WebhookInputSchema = z.object({
  // No control characters: SQLite cut the name at a NUL, and the rest can garble a terminal or log.
  name: z.string().trim().min(1, "is required").max(64, "must be at most 64 characters")
    .regex(/^\P{Cc}*$/u, "must not contain control characters"),
  url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000),
  secret: z.string().max(200, "must be at most 200 characters").nullable().optional(),
  events: FILTER.default("*"),
  enabled: z.boolean().default(true),
}).strict();
export const WebhookPatchSchema = WebhookInputSchema.partial().strict();

export type WebhookView = {
  id: number;
  name: string;
  url: string;
  hasSecret: boolean;
  events: string;
  enabled: boolean;
  createdAt: number;
};

export type DeliveryView = {
  id: number;
  webhookId: number;
  webhookName: string;
  event: string;
  eventId: string;
  eventAt: number;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
};

const view = (w: WebhookRow): WebhookView => ({
  id: w.id,
  name: w.name,
  url: w.url,
  hasSecret: w.secret_sealed !== null,
  events: w.events,
  enabled: w.enabled === 1,
  createdAt: w.created_at,
});

/** The signature header's value for `body` sent at `timestamp` (unix seconds). */
export async function webhookSignature(secret: string, timestamp: number, body: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`${timestamp}.${body}`)));
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Delay before attempt `attempts + 1` after `attempts` failures: base·2^(attempts−1), capped. */
export function retryDelay(attempts: number, o: Pick<WebhookOptions, "baseDelayMs" | "maxDelayMs">): number {
  return Math.min(o.baseDelayMs * 2 ** Math.max(0, attempts - 1), o.maxDelayMs);
}

export class WebhookService {
  #running: Promise<number> | null = null;
  #again = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly secrets: SecretBox,
    private readonly fetcher: typeof fetch,
    private readonly opts: WebhookOptions,
    private readonly version: string,
  ) {}

  list(): WebhookView[] {
    return webhooksRepo.list(this.db).map(view);
  }

  get(id: number): WebhookView {
    const w = webhooksRepo.byId(this.db, id);
    if (!w) throw new AppError("not_found", `Webhook ${id} not found`);
    return view(w);
  }

  async create(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<WebhookView> {
    requireAdmin(actor);
    const d = parseInput(WebhookInputSchema, input, "webhook");
    const now = this.clock.now();
    const sealed = d.secret ? await this.secrets.seal(d.secret, "webhook:secret") : null;
    const id = this.db.tx(() => {
      const id = webhooksRepo.insert(this.db, {
        name: d.name,
        url: d.url,
        secret_sealed: sealed,
        events: d.events === "*" ? "*" : d.events.join(","),
        enabled: d.enabled ? 1 : 0,
        created_at: now,
        updated_at: now,
      });
      this.audit.record(actor, meta, {
        action: "webhook.create",
        target: d.name,
        detail: new URL(d.url).host,
      });
      return id;
    });
    return this.get(id);
  }

  async update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): Promise<WebhookView> {
    requireAdmin(actor);
    const cur = webhooksRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Webhook ${id} not found`);
    const d = parseInput(WebhookPatchSchema, input, "webhook");
    const sealed = d.secret === undefined
      ? cur.secret_sealed
      : d.secret
      ? await this.secrets.seal(d.secret, "webhook:secret")
      : null;
    this.db.tx(() => {
      webhooksRepo.update(this.db, {
        id,
        name: d.name ?? cur.name,
        url: d.url ?? cur.url,
        secret_sealed: sealed,
        events: d.events === undefined ? cur.events : d.events === "*" ? "*" : d.events.join(","),
        enabled: d.enabled === undefined ? cur.enabled : d.enabled ? 1 : 0,
        updated_at: this.clock.now(),
      });
      if (!cur.enabled && d.enabled) deliveriesRepo.resume(this.db, id, this.clock.now());
      this.audit.record(actor, meta, { action: "webhook.update", target: d.name ?? cur.name });
    });
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const cur = webhooksRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Webhook ${id} not found`);
    this.db.tx(() => {
      webhooksRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "webhook.delete", target: cur.name });
    });
  }

  /** Queues a webhook.test event for this webhook only and delivers it now. */
  async sendTest(actor: Actor, meta: RequestMeta | null, id: number): Promise<DeliveryView> {
    requireAdmin(actor);
    const hook = this.get(id);
    const now = this.clock.now();
    const uid = `evt_${randomToken(12)}`;
    const payload: EventPayload = {
      id: uid,
      type: "webhook.test",
      at: new Date(now).toISOString(),
      node: null,
      data: { webhook: hook.name },
    };
    const deliveryId = this.db.tx(() => {
      const eventId = eventsRepo.insert(this.db, {
        uid,
        dedupe: null,
        type: "webhook.test",
        at: now,
        node_id: null,
        payload: JSON.stringify(payload),
      })!;
      deliveriesRepo.enqueue(this.db, eventId, id, now);
      this.audit.record(actor, meta, { action: "webhook.test", target: hook.name });
      return deliveriesRepo.log(this.db, id, 1)[0]!.id;
    });
    await this.deliverDue();
    return this.deliveries(id, 50).find((d) => d.id === deliveryId)!;
  }

  deliveries(webhookId: number | null, limit = 50): DeliveryView[] {
    return deliveriesRepo.log(this.db, webhookId, limit).map((d) => ({
      id: d.id,
      webhookId: d.webhook_id,
      webhookName: d.webhook_name,
      event: d.type,
      eventId: d.uid,
      eventAt: d.event_at,
      state: d.state,
      attempts: d.attempts,
      nextAttemptAt: d.next_attempt_at,
      lastAttemptAt: d.last_attempt_at,
      lastStatus: d.last_status,
      lastError: d.last_error,
    }));
  }

  pendingCount(): number {
    return deliveriesRepo.pendingCount(this.db);
  }

  /** Delivers what is due now; a call while a run is going makes that run go once more. */
  deliverDue(): Promise<number> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = async () => {
      let n = 0;
      do {
        this.#again = false;
        n += await this.#deliverBatch();
      } while (this.#again);
      return n;
    };
    this.#running = run().finally(() => (this.#running = null));
    return this.#running;
  }

  async #deliverBatch(): Promise<number> {
    let n = 0;
    for (const d of deliveriesRepo.due(this.db, this.clock.now(), 50)) {
      const hook = webhooksRepo.byId(this.db, d.webhook_id);
      const event = eventsRepo.byId(this.db, d.event_id);
      if (!hook || !event) continue;
      const now = this.clock.now();
      if (!hook.enabled) {
        // A disabled webhook keeps its queue; looked at again in an hour (or when enabled, by the job).
        this.db.tx(() =>
          deliveriesRepo.attempted(this.db, {
            id: d.id,
            state: "pending",
            attempts: d.attempts,
            next_attempt_at: now + 3_600_000,
            at: d.last_attempt_at ?? now,
            status: d.last_status,
            error: "webhook disabled",
          })
        );
        continue;
      }
      const { status, error } = await this.#post(hook, event.type, event.uid, event.payload, d.attempts + 1);
      const attempts = d.attempts + 1;
      const ok = status !== null && status >= 200 && status < 300;
      const gaveUp = !ok && attempts >= this.opts.maxAttempts;
      this.db.tx(() =>
        deliveriesRepo.attempted(this.db, {
          id: d.id,
          state: ok ? "delivered" : gaveUp ? "failed" : "pending",
          attempts,
          next_attempt_at: ok || gaveUp ? now : this.clock.now() + retryDelay(attempts, this.opts),
          at: this.clock.now(),
          status,
          error,
        })
      );
      const fields = { webhook: hook.name, event: event.type, event_id: event.uid, attempt: attempts };
      if (ok) this.log.info("webhook delivered", { ...fields, status: status! });
      else if (gaveUp) {
        this.log.error("webhook delivery failed; giving up", { ...fields, error: error ?? "" });
      } else this.log.warn("webhook delivery failed; will retry", { ...fields, error: error ?? "" });
      n++;
    }
    return n;
  }

  async #post(
    hook: WebhookRow,
    type: string,
    uid: string,
    body: string,
    attempt: number,
  ): Promise<{ status: number | null; error: string | null }> {
    const ts = Math.floor(this.clock.now() / 1000);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": `WireBuddy/${this.version}`,
      "x-wirebuddy-event": type,
      "x-wirebuddy-event-id": uid,
      "x-wirebuddy-delivery": String(attempt),
      "x-wirebuddy-timestamp": String(ts),
    };
    try {
      if (hook.secret_sealed) {
        const secret = await this.secrets.open(hook.secret_sealed, "webhook:secret");
        headers["x-wirebuddy-signature"] = await webhookSignature(secret, ts, body);
      }
      const res = await this.fetcher(hook.url, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body?.cancel();
      return { status: res.status, error: res.ok ? null : `HTTP ${res.status}` };
    } catch (err) {
      return { status: null, error: (err instanceof Error ? err.message : String(err)).slice(0, 300) };
    }
  }
}
