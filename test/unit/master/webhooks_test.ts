import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import { SecretBox } from "../../../src/master/service/secret_box.ts";
import {
  DEFAULT_WEBHOOK_OPTIONS,
  retryDelay,
  WebhookService,
  webhookSignature,
} from "../../../src/master/service/webhooks.ts";
import { deriveSealKey } from "../../../src/core/seal.ts";
import { TEST_SECRET, testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const admin = { kind: "system" as const, name: "test" };

/** A fetch that answers each request with the next status of `statuses` (the last one repeats). */
function scriptedFetch(statuses: number[]) {
  const calls: { url: string; headers: Headers; body: string }[] = [];
  const fetcher = ((url: string, init: RequestInit) => {
    calls.push({ url, headers: new Headers(init.headers), body: String(init.body) });
    const status = statuses[Math.min(calls.length - 1, statuses.length - 1)]!;
    return Promise.resolve(new Response(null, { status }));
  }) as typeof fetch;
  return { calls, fetcher };
}

Deno.test("retryDelay() doubles from the base and stops at the cap", () => {
  const o = { baseDelayMs: 10_000, maxDelayMs: 3_600_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 8, 9, 15].map((a) => retryDelay(a, o)),
    [10_000, 20_000, 40_000, 80_000, 1_280_000, 2_560_000, 3_600_000],
  );
});

Deno.test("a refused delivery is retried with backoff, survives a restart, and is delivered once accepted", async () => {
  const f = scriptedFetch([503, 503, 200]);
  const m = await testMaster({
    services: { ports: { fetch: f.fetcher }, fleet: { webhooks: { maxAttempts: 5 } } },
  });
  try {
    const w = await m.services.webhooks.create(admin, null, {
      name: "ops",
      url: "https://hooks.example/a",
      secret: "topsecret-0123",
      events: ["node.down"],
    });
    const other = await m.services.webhooks.create(admin, null, {
      name: "apply only",
      url: "https://hooks.example/b",
      events: ["apply.failed"],
    });
    m.services.events.emit("node.down", { id: 9, name: "fra" }, { reason: "test" });
    await m.services.webhooks.deliverDue();
    assert.equal(f.calls.length, 1, "one attempt; the filter keeps it from the other webhook");
    const log = () => m.services.webhooks.deliveries(w.id);
    assert.equal(log()[0]!.state, "pending");
    assert.equal(log()[0]!.lastStatus, 503);
    assert.equal(log()[0]!.nextAttemptAt - m.clock.now(), DEFAULT_WEBHOOK_OPTIONS.baseDelayMs);
    assert.deepEqual(m.services.webhooks.deliveries(other.id), []);

    // Not before its time.
    m.clock.advance(DEFAULT_WEBHOOK_OPTIONS.baseDelayMs - 1);
    await m.services.webhooks.deliverDue();
    assert.equal(f.calls.length, 1);

    // "Restart": a new service over the same database delivers what the old one left queued.
    const again = new WebhookService(
      m.db,
      m.clock,
      m.services.audit,
      memoryLogger(),
      new SecretBox(await deriveSealKey(TEST_SECRET)),
      f.fetcher,
      DEFAULT_WEBHOOK_OPTIONS,
      "t",
    );
    m.clock.advance(1);
    await again.deliverDue();
    assert.equal(f.calls.length, 2);
    assert.equal(log()[0]!.attempts, 2);
    assert.equal(log()[0]!.nextAttemptAt - m.clock.now(), 2 * DEFAULT_WEBHOOK_OPTIONS.baseDelayMs);
    m.clock.advance(2 * DEFAULT_WEBHOOK_OPTIONS.baseDelayMs);
    await again.deliverDue();
    assert.equal(f.calls.length, 3);
    assert.equal(log()[0]!.state, "delivered");
    // The same event each time (receivers dedupe on its id), signed each time.
    const ids = new Set(f.calls.map((c) => c.headers.get("x-wirebuddy-event-id")));
    assert.equal(ids.size, 1);
    for (const c of f.calls) {
      const ts = Number(c.headers.get("x-wirebuddy-timestamp"));
      assert.equal(
        c.headers.get("x-wirebuddy-signature"),
        await webhookSignature("topsecret-0123", ts, c.body),
      );
    }
    m.clock.advance(3_600_000);
    await again.deliverDue();
    assert.equal(f.calls.length, 3, "delivered once, never again");
  } finally {
    m.close();
  }
});

Deno.test("a delivery gives up after maxAttempts", async () => {
  const f = scriptedFetch([500]);
  const m = await testMaster({
    services: { ports: { fetch: f.fetcher }, fleet: { webhooks: { maxAttempts: 3 } } },
  });
  try {
    const w = await m.services.webhooks.create(admin, null, { name: "x", url: "https://hooks.example/x" });
    m.services.events.emit("node.up", { id: 1, name: "a" }, {});
    for (let i = 0; i < 5; i++) {
      await m.services.webhooks.deliverDue();
      m.clock.advance(3_600_000);
    }
    assert.equal(f.calls.length, 3);
    assert.equal(m.services.webhooks.deliveries(w.id)[0]!.state, "failed");
  } finally {
    m.close();
  }
});

Deno.test("apply.failed once per transition, and a burst of failed node logins is one auth.failures", async () => {
  const f = scriptedFetch([200]);
  const m = await testMaster({ services: { ports: { fetch: f.fetcher }, fleet: { authBurst: 5 } } });
  try {
    const n = await enrolled(m, "fra");
    await sendHeartbeat(m, n, { status: "error", error: "[#] wg setconf wg0: Invalid argument" });
    await sendHeartbeat(m, n, { status: "error", error: "[#] wg setconf wg0: Invalid argument" });
    await sendHeartbeat(m, n, { status: "online" });
    await sendHeartbeat(m, n, { status: "error", error: "again" });
    const types = () => m.services.events.recent(50).map((e) => e.type).reverse();
    assert.deepEqual(types(), ["apply.failed", "apply.failed"]);
    for (let i = 0; i < 12; i++) {
      await sendHeartbeat(m, { ...n, secret: "wrong-secret" });
    }
    assert.deepEqual(types(), ["apply.failed", "apply.failed", "auth.failures"]);
    assert.equal(
      m.services.audit.list({ action: "node.auth_failed" }).length,
      1,
      "audited at most once a minute",
    );
  } finally {
    m.close();
  }
});

Deno.test("the webhooks page adds a webhook with an event filter, sends a test, and shows the log", async () => {
  const f = scriptedFetch([204]);
  const m = await testMaster({ services: { ports: { fetch: f.fetcher } } });
  try {
    await m.addUser("root", "admin");
    const cookie = await m.login("root");
    const body = new URLSearchParams([
      ["name", "pager"],
      ["url", "https://hooks.example/p"],
      ["secret", ""],
      ["events", "node.down"],
      ["events", "node.up"],
    ]);
    const res = await m.request("/ui/webhooks", {
      method: "POST",
      body,
      cookie,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(res.status, 303, await res.text());
    const w = m.services.webhooks.list()[0]!;
    assert.equal(w.events, "node.down,node.up");
    const test = await m.form(`/ui/webhooks/${w.id}/test`, {}, { cookie });
    assert.equal(test.status, 303);
    assert.equal(f.calls.length, 1);
    assert.equal(f.calls[0]!.headers.get("x-wirebuddy-event"), "webhook.test");
    const page = await (await m.request("/ui/webhooks", { cookie })).text();
    assert.match(page, /id="webhook-table"/);
    assert.match(page, /webhook\.test/);
    assert.match(page, /delivered/);
    assert.match(page, /HTTP 204/);
  } finally {
    m.close();
  }
});

Deno.test("GET /metrics takes a read API token, not none", async () => {
  const m = await testMaster();
  try {
    const none = await m.request("/metrics");
    assert.equal(none.status, 401);
    await none.body?.cancel();
    const read = await m.token("read");
    const res = await m.request("/metrics", { headers: { authorization: `Bearer ${read}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE wirebuddy_node_up gauge$/m);
    assert.match(text, /^wirebuddy_node_up\{node="local"\} [01]$/m);
  } finally {
    m.close();
  }
});
