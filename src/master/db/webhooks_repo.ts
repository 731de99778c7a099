// SQL for fleet events (the outbox: facts derived once), webhooks and their deliveries.
import type { Db } from "./db.ts";

export type EventRow = {
  id: number;
  uid: string;
  dedupe: string | null;
  type: string;
  at: number;
  node_id: number | null;
  payload: string;
};

export type WebhookRow = {
  id: number;
  name: string;
  url: string;
  secret_sealed: string | null;
  events: string;
  enabled: 0 | 1;
  created_at: number;
  updated_at: number;
};

export type DeliveryState = "pending" | "delivered" | "failed";

export type DeliveryRow = {
  id: number;
  event_id: number;
  webhook_id: number;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
};

export const eventsRepo = {
  /** Inserts an event; null when an event with the same dedupe key exists (a fact is recorded once). */
  insert: (db: Db, r: Omit<EventRow, "id">): number | null => {
    const res = db.run(
      `INSERT OR IGNORE INTO fleet_events (uid, dedupe, type, at, node_id, payload)
       VALUES (:uid, :dedupe, :type, :at, :node_id, :payload)`,
      r,
    );
    return res.changes === 1 ? Number(res.lastInsertRowid) : null;
  },
  byId: (db: Db, id: number) => db.get<EventRow>("SELECT * FROM fleet_events WHERE id = :id", { id }),
  recent: (db: Db, limit: number) =>
    db.all<EventRow>("SELECT * FROM fleet_events ORDER BY id DESC LIMIT :limit", { limit }),
  lastOf: (db: Db, type: string, nodeId: number) =>
    db.get<EventRow>(
      "SELECT * FROM fleet_events WHERE type = :type AND node_id = :nodeId ORDER BY id DESC LIMIT 1",
      { type, nodeId },
    ),
  /** Events older than `before` whose deliveries are all finished. */
  prune: (db: Db, before: number) =>
    db.run(
      `DELETE FROM fleet_events WHERE at < :before
       AND id NOT IN (SELECT event_id FROM webhook_deliveries WHERE state = 'pending')`,
      { before },
    ).changes,
};

export const webhooksRepo = {
  list: (db: Db) => db.all<WebhookRow>("SELECT * FROM webhooks ORDER BY name COLLATE NOCASE, id"),
  byId: (db: Db, id: number) => db.get<WebhookRow>("SELECT * FROM webhooks WHERE id = :id", { id }),
  enabled: (db: Db) => db.all<WebhookRow>("SELECT * FROM webhooks WHERE enabled = 1"),
  insert: (db: Db, r: Omit<WebhookRow, "id">) =>
    Number(
      db.run(
        `INSERT INTO webhooks (name, url, secret_sealed, events, enabled, created_at, updated_at)
         VALUES (:name, :url, :secret_sealed, :events, :enabled, :created_at, :updated_at)`,
        r,
      ).lastInsertRowid,
    ),
  update: (db: Db, r: Omit<WebhookRow, "created_at">) =>
    db.run(
      `UPDATE webhooks SET name = :name, url = :url, secret_sealed = :secret_sealed, events = :events,
         enabled = :enabled, updated_at = :updated_at WHERE id = :id`,
      r,
    ).changes,
  delete: (db: Db, id: number) => db.run("DELETE FROM webhooks WHERE id = :id", { id }).changes,
};

export const deliveriesRepo = {
  enqueue: (db: Db, eventId: number, webhookId: number, now: number) =>
    db.run(
      `INSERT OR IGNORE INTO webhook_deliveries (event_id, webhook_id, state, next_attempt_at)
       VALUES (:eventId, :webhookId, 'pending', :now)`,
      { eventId, webhookId, now },
    ).changes,
  due: (db: Db, now: number, limit: number) =>
    db.all<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= :now
       ORDER BY next_attempt_at, id LIMIT :limit`,
      { now, limit },
    ),
  byId: (db: Db, id: number) =>
    db.get<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE id = :id", { id }),
  /** Records one attempt's outcome. */
  attempted: (
    db: Db,
    r: {
      id: number;
      state: DeliveryState;
      attempts: number;
      next_attempt_at: number;
      at: number;
      status: number | null;
      error: string | null;
    },
  ) =>
    db.run(
      `UPDATE webhook_deliveries SET state = :state, attempts = :attempts, next_attempt_at = :next_attempt_at,
         last_attempt_at = :at, last_status = :status, last_error = :error,
         delivered_at = CASE WHEN :state = 'delivered' THEN :at ELSE delivered_at END
       WHERE id = :id`,
      r,
    ),
  /** The newest deliveries (of one webhook, or all), with their event. */
  log: (db: Db, webhookId: number | null, limit: number) =>
    db.all<DeliveryRow & { type: string; uid: string; event_at: number; webhook_name: string }>(
      `SELECT d.*, e.type, e.uid, e.at AS event_at, w.name AS webhook_name
       FROM webhook_deliveries d JOIN fleet_events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
       WHERE :webhookId IS NULL OR d.webhook_id = :webhookId
       ORDER BY d.id DESC LIMIT :limit`,
      { webhookId, limit },
    ),
  /** A webhook enabled again: its queued deliveries are due now. */
  resume: (db: Db, webhookId: number, now: number) =>
    db.run(
      `UPDATE webhook_deliveries SET next_attempt_at = :now WHERE webhook_id = :webhookId AND state = 'pending'`,
      { webhookId, now },
    ).changes,
  pendingCount: (db: Db) =>
    db.get<{ n: number }>("SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending'")!.n,
  counts: (db: Db) =>
    db.all<{ state: DeliveryState; n: number }>(
      "SELECT state, count(*) AS n FROM webhook_deliveries GROUP BY state",
    ),
};
