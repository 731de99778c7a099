import assert from "node:assert/strict";
import { checkAnswerLine, parseCheckRequest } from "../../../src/core/health.ts";
import type { Probe, ProbeConn } from "../../../src/master/health_probe.ts";
import { tcpProbe } from "../../../src/master/health_probe.ts";
import { combinedStatus, healthStep } from "../../../src/master/service/health.ts";
import { webhookSignature } from "../../../src/master/service/webhooks.ts";
import { exportPublicKey, generateSigningKeys } from "../../../src/core/sync.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const MIN = 60_000;

/** Seed 003's table, row by row: consecutive failures → next check in, status. */
const TABLE: [number, number, string][] = [];
for (let f = 0; f <= 25; f++) {
  const row: [number, string] = f <= 2
    ? [30_000, "online"]
    : f <= 5
    ? [2 * MIN, "offline"]
    : f <= 10
    ? [5 * MIN, "offline"]
    : f <= 20
    ? [15 * MIN, "unreachable"]
    : [30 * MIN, "unreachable"];
  TABLE.push([f, ...row]);
}

Deno.test("healthStep() follows seed 003's backoff table for 0–25 failures", () => {
  for (const [f, interval, status] of TABLE) {
    assert.deepEqual(healthStep(f), { intervalMs: interval, status }, `failures=${f}`);
  }
});

Deno.test("online needs a recent heartbeat AND a passing tunnel", () => {
  const n = { enrolled: true, lastSeenAt: 1_000, lastError: null };
  const o = { staleAfterMs: 90_000 };
  assert.equal(combinedStatus(n, 0, 2_000, o), "online");
  assert.equal(combinedStatus(n, 2, 2_000, o), "online");
  assert.equal(combinedStatus(n, 3, 2_000, o), "offline", "heartbeats, but the tunnel fails");
  assert.equal(combinedStatus(n, 11, 2_000, o), "unreachable");
  assert.equal(combinedStatus(n, 0, 200_000, o), "offline", "the tunnel answers, but no heartbeat");
  assert.equal(combinedStatus({ ...n, lastError: "wg: boom" }, 0, 2_000, o), "error");
  assert.equal(combinedStatus({ ...n, enrolled: false }, 0, 2_000, o), "pending");
});

Deno.test("a fake clock replays 0–25 failed checks against the table; a heartbeat after silence resets it", async () => {
  const probes: number[] = [];
  const failing: Probe = (t) => {
    probes.push(t.nodeId);
    return Promise.resolve({ ok: false, latencyMs: 3, error: "connect timed out", applied: null });
  };
  const sent: { headers: Headers; body: string }[] = [];
  const fakeFetch = ((_url: string, init: RequestInit) => {
    sent.push({ headers: new Headers(init.headers), body: String(init.body) });
    return Promise.resolve(new Response("ok", { status: 200 }));
  }) as typeof fetch;
  const m = await testMaster({
    services: { nodes: { staleAfterMs: 10 * 3_600_000 }, ports: { probe: failing, fetch: fakeFetch } },
  });
  try {
    const token = await m.token("write");
    assert.equal(
      (await m.api("/interfaces", { method: "POST", token, json: { name: "wg0", ipv4_pool: "10.9.0.0/24" } }))
        .status,
      201,
    );
    const hook = await m.api("/webhooks", {
      method: "POST",
      token,
      json: { name: "ops", url: "https://hooks.example/wb", secret: "s3cret-s3cret", events: "*" },
    });
    assert.equal(hook.status, 201, await hook.clone().text());
    const n = await enrolled(m, "fra");
    assert.equal((await sendHeartbeat(m, n)).res.status, 200);
    const h = m.services.health;
    const status = () => m.services.nodes.get(n.node.id).status;
    assert.equal(status(), "online");

    // Nothing is due before the first check time... the first check is due at once.
    assert.equal(await h.checkDue(), 1);
    for (let f = 1; f <= 25; f++) {
      if (f > 1) {
        const next = h.view(n.node.id).nextCheckAt!;
        m.clock.advance(next - m.clock.now() - 1);
        assert.equal(await h.checkDue(), 0, `not due 1 ms early (failures=${f - 1})`);
        m.clock.advance(1);
        assert.equal(await h.checkDue(), 1, `due on time (failures=${f - 1})`);
      }
      const [, interval, want] = TABLE[f]!;
      const v = h.view(n.node.id);
      assert.equal(v.failures, f);
      assert.equal(v.nextCheckAt! - m.clock.now(), interval, `interval after ${f} failures`);
      assert.equal(status(), want, `status after ${f} failures`);
      if (f === 3) {
        // Still heartbeating: a heartbeat does not hide a failing tunnel.
        assert.equal((await sendHeartbeat(m, n)).res.status, 200);
        assert.equal(h.view(n.node.id).failures, 3);
        assert.equal(status(), "offline");
      }
    }
    assert.equal(probes.length, 25);

    // Silence longer than the stale window, then a heartbeat: reset, online at once, checked now.
    m.clock.advance(11 * 3_600_000);
    assert.equal((await sendHeartbeat(m, n)).res.status, 200);
    assert.equal(h.view(n.node.id).failures, 0);
    assert.equal(h.view(n.node.id).nextCheckAt, m.clock.now());
    assert.equal(status(), "online");

    // One event per transition: down at 3, unreachable at 11, up on the heartbeat.
    const types = m.services.events.recent(50).map((e) => e.type).reverse();
    assert.deepEqual(types, ["node.down", "node.unreachable", "node.up"]);
    await m.services.webhooks.deliverDue();
    assert.deepEqual(sent.map((s) => s.headers.get("x-wirebuddy-event")), types);
    for (const s of sent) {
      const ts = Number(s.headers.get("x-wirebuddy-timestamp"));
      assert.equal(
        s.headers.get("x-wirebuddy-signature"),
        await webhookSignature("s3cret-s3cret", ts, s.body),
      );
      assert.equal(JSON.parse(s.body).node.name, "fra");
    }
    assert.equal(m.services.webhooks.pendingCount(), 0);
  } finally {
    m.close();
  }
});

Deno.test("tcpProbe() passes only a signed answer of the node's own key to its nonce", async () => {
  const node = await generateSigningKeys();
  const other = await generateSigningKeys();
  const conn = (answer: (req: string) => Promise<string>): ProbeConn => {
    let req = "";
    let push: (s: string) => void = () => {};
    const readable = new ReadableStream<Uint8Array>({
      start(ctl) {
        push = (s) => {
          ctl.enqueue(new TextEncoder().encode(s));
          ctl.close();
        };
      },
    });
    const writable = new WritableStream<Uint8Array>({
      async write(chunk) {
        req += new TextDecoder().decode(chunk);
        push(await answer(req));
      },
    });
    return { readable, writable, close: () => {} };
  };
  const target = {
    nodeId: 7,
    address: "10.9.0.2",
    port: 51821,
    verifyKey: await exportPublicKey(node.publicKey),
  };
  const signedBy = (key: CryptoKey, id = 7) => async (req: string) => {
    const r = parseCheckRequest(req)!;
    return await checkAnswerLine(key, id, r.nonce, 4);
  };
  const good = await tcpProbe(() => Promise.resolve(conn(signedBy(node.privateKey))))(target, 1000);
  assert.equal(good.ok, true, good.error ?? "");
  assert.equal(good.applied, 4);
  const spoof = await tcpProbe(() => Promise.resolve(conn(signedBy(other.privateKey))))(target, 1000);
  assert.equal(spoof.ok, false);
  assert.match(spoof.error!, /bad signature/);
  const replay = await tcpProbe(() =>
    Promise.resolve(conn(() => checkAnswerLine(node.privateKey, 7, "AAAAAAAAAAAAAAAAAAAAAA", 4)))
  )(target, 1000);
  assert.equal(replay.ok, false, "an answer to another nonce");
  const refused = await tcpProbe(() => Promise.reject(new Error("Connection refused (os error 111)")))(
    target,
    1000,
  );
  assert.equal(refused.ok, false);
  assert.equal(refused.error, "10.9.0.2:51821: Connection refused");
});

Deno.test("before the master has an interface there is no tunnel to check: heartbeats alone keep a node online", async () => {
  const m = await testMaster({
    services: { ports: { probe: () => Promise.reject(new Error("the probe must not run")) } },
  });
  try {
    const n = await enrolled(m, "fra");
    for (let i = 0; i < 5; i++) {
      await sendHeartbeat(m, n);
      await m.services.health.checkDue();
      m.clock.advance(30_000);
    }
    const v = m.services.health.view(n.node.id);
    assert.equal(v.failures, 0);
    assert.match(v.lastError ?? "", /no tunnel address yet/);
    assert.equal(m.services.nodes.get(n.node.id).status, "online");
  } finally {
    m.close();
  }
});
