// Issue 16 item 1: an enrollment token is single-use even when many enrollments race for it. Real
// parallel HTTP requests against the real app served by Deno.serve on loopback; the app trusts a proxy on
// loopback and each request carries its own X-Forwarded-For. Enrollment is also limited per token (10 a
// minute), so ten of the twenty race for the token and ten are limited before they reach it.
import assert from "node:assert/strict";
import { HEADERS, newNonce, requestSigningText, signText } from "../../src/core/sync.ts";
import { createApp } from "../../src/master/app.tsx";
import { ORIGIN, testMaster } from "../support/master.ts";
import { nodeIdentity, sendHeartbeat } from "../support/signed_node.ts";

Deno.test("sync: an enrollment token is consumed atomically: exactly one of 20 parallel enrollments wins", async () => {
  const m = await testMaster();
  const app = createApp(m.services, { publicUrl: new URL(ORIGIN), trustProxy: true });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr.hostname }),
  );
  try {
    const token = await m.token("write");
    const made = await m.api("/nodes", {
      method: "POST",
      token,
      json: { name: "edge", fqdn: "edge.example.com" },
    });
    assert.equal(made.status, 201);
    const node: { id: number; enrollment_token: string } = await made.json();

    const attempts = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const id = await nodeIdentity();
      const body = JSON.stringify({
        token: node.enrollment_token,
        cert: id.certPem,
        hostname: `h${i}`,
        version: "t",
      });
      const nonce = newNonce();
      const timestamp = m.clock.now();
      const path = "/api/sync/enroll";
      const signature = await signText(
        id.keys.privateKey,
        await requestSigningText({ method: "POST", path, timestamp, nonce, nodeId: node.id, body }),
      );
      return { i, key: id.keys.privateKey, body, nonce, timestamp, signature };
    }));
    // Every request is signed before the first is sent, so they reach the server together.
    const url = `http://127.0.0.1:${server.addr.port}/api/sync/enroll`;
    const answers = await Promise.all(attempts.map(async (a) => {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-forwarded-for": `198.51.100.${a.i + 1}`,
          [HEADERS.node]: String(node.id),
          [HEADERS.timestamp]: String(a.timestamp),
          [HEADERS.nonce]: a.nonce,
          [HEADERS.signature]: a.signature,
        },
        body: a.body,
      });
      return { a, status: res.status, text: await res.text() };
    }));

    const statuses = answers.map((r) => r.status).sort();
    const winners = answers.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `statuses: ${statuses.join(",")}`);
    // Enrollment is limited per token (10 a minute, so a fleet enrolling from one address is not held
    // back): the first 10 reach the token check and race for it, the rest are limited before it.
    const losers = answers.filter((r) => r.status !== 200);
    const refused = losers.filter((r) => r.status === 401);
    assert.equal(refused.length, 9, `9 losers raced for the token and were refused: ${statuses.join(",")}`);
    for (const loser of refused) assert.match(loser.text, /already used/);
    for (const loser of losers.filter((r) => r.status !== 401)) {
      assert.equal(loser.status, 429, `a loser is refused or rate limited: ${statuses.join(",")}`);
    }
    // The winner's secret and key are the node's: its heartbeat is accepted.
    const w = winners[0]!;
    const hb = await sendHeartbeat(m, {
      node,
      key: w.a.key,
      secret: JSON.parse(w.text).node_secret,
      token: node.enrollment_token,
    });
    assert.equal(hb.res.status, 200, hb.text);
    assert.equal(
      m.db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'node.enroll'")?.n,
      1,
      "one enrollment audited",
    );
  } finally {
    ac.abort();
    await server.finished;
    m.close();
  }
});
