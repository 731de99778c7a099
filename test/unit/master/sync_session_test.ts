// Sync sessions against the in-memory master: a session is opened only with the node's identity key,
// then requests and answers carry the session's HMAC. What a replay, a forged or misplaced MAC, a stolen
// bearer with a session id, or an old session gets.
import assert from "node:assert/strict";
import { HEADERS, newNonce, requestSigningText, responseSigningText } from "../../../src/core/sync.ts";
import {
  deriveSessionKey,
  ecdhKeyPair,
  importSessionKey,
  macText,
  macTextSync,
  rawSessionKey,
  requestTextSync,
  responseTextSync,
  SESSION_HEADERS,
  SessionAnswerSchema,
  verifyMac,
} from "../../../src/core/sync_session.ts";
import { ORIGIN, type TestMaster, testMaster } from "../../support/master.ts";
import { createApp } from "../../../src/master/app.tsx";
import { createServices } from "../../../src/master/service/services.ts";
import { enroll, enrolled, type EnrolledNode, signedRequest } from "../../support/signed_node.ts";

type Session = { id: string; key: CryptoKey };

async function openSession(m: TestMaster, n: EnrolledNode): Promise<Session> {
  const mine = await ecdhKeyPair();
  const { res, text } = await signedRequest(m, "POST", "/api/sync/session", { ecdh_public: mine.publicKey }, {
    nodeId: n.node.id,
    key: n.key,
    bearer: n.secret,
  });
  assert.equal(res.status, 200, text);
  const answer = SessionAnswerSchema.parse(JSON.parse(text));
  assert.equal(answer.kind, "session");
  if (answer.kind !== "session") throw new Error("unreachable");
  const raw = await deriveSessionKey(mine.privateKey, answer.ecdh_public, {
    nodeId: n.node.id,
    sessionId: answer.session_id,
  });
  return { id: answer.session_id, key: await importSessionKey(raw!) };
}

/** A request MAC'd with a session (each part overridable, to forge or replay one). */
async function macRequest(
  m: TestMaster,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  s: {
    nodeId: number;
    bearer: string;
    session: Session;
    nonce?: string;
    macFor?: { path?: string; body?: string };
  },
) {
  const text = body === null ? "" : JSON.stringify(body);
  const nonce = s.nonce ?? newNonce();
  const timestamp = m.clock.now();
  const mac = await macText(
    s.session.key,
    await requestSigningText({
      method,
      path: s.macFor?.path ?? path,
      timestamp,
      nonce,
      nodeId: s.nodeId,
      body: s.macFor?.body ?? text,
    }),
  );
  const res = await m.app.request(`https://wb.test:8443${path}`, {
    method,
    headers: {
      [HEADERS.node]: String(s.nodeId),
      [HEADERS.timestamp]: String(timestamp),
      [HEADERS.nonce]: nonce,
      [SESSION_HEADERS.session]: s.session.id,
      [SESSION_HEADERS.mac]: mac,
      authorization: `Bearer ${s.bearer}`,
      ...(body !== null ? { "content-type": "application/json" } : {}),
    },
    ...(body !== null ? { body: text } : {}),
  }, { remoteAddr: "198.51.100.30" });
  return { res, nonce, text: await res.text() };
}

const heartbeat = { status: "online", applied_version: 0, interfaces: [], metrics: [] };

async function withSession(name = "a") {
  const m = await testMaster();
  const n = await enrolled(m, name);
  const session = await openSession(m, n);
  return { m, n, session, as: { nodeId: n.node.id, bearer: n.secret, session } };
}

Deno.test("session: a MAC'd request is accepted and its answer carries the session's MAC, not a signature", async () => {
  const { m, n, session, as } = await withSession();
  const { res, nonce, text } = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, as);
  assert.equal(res.status, 200, text);
  assert.equal(res.headers.get(HEADERS.signature), null);
  const mac = res.headers.get(SESSION_HEADERS.mac)!;
  assert.ok(await verifyMac(session.key, mac, await responseSigningText(n.node.id, nonce, 200, text)));
  const cfg = await macRequest(m, "GET", "/api/sync/config?have=0&wait=0", null, as);
  assert.equal(JSON.parse(cfg.text).kind, "config");
  m.close();
});

Deno.test("session: a replayed MAC'd request is refused", async () => {
  const { m, as } = await withSession();
  const nonce = newNonce();
  assert.equal(
    (await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, { ...as, nonce })).res.status,
    200,
  );
  const again = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, { ...as, nonce });
  assert.equal(again.res.status, 401);
  assert.match(again.text, /Replayed/);
  m.close();
});

Deno.test("session: it ends with the master process; after a restart a replay of its requests is refused and the node opens a new one", async () => {
  const { m, n, as } = await withSession();
  const nonce = newNonce();
  assert.equal(
    (await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, { ...as, nonce })).res.status,
    200,
  );
  // The same database and keys in a new process: sessions (and the nonces of their requests) were in memory.
  const services = await createServices(m.db, m.clock, m.keys, m.log, {
    sessionTtlMs: 12 * 3_600_000,
    scryptCost: { N: 1024, r: 8, p: 1 },
    publicHost: "vpn.example.com",
    publicUrl: new URL(ORIGIN),
    tls: null,
  });
  const restarted = {
    ...m,
    services,
    app: createApp(services, { publicUrl: new URL(ORIGIN), trustProxy: false }),
  };
  const replay = await macRequest(restarted, "POST", "/api/sync/heartbeat", heartbeat, { ...as, nonce });
  assert.equal(replay.res.status, 401);
  assert.match(replay.text, /Unknown sync session/);
  const fresh = await macRequest(restarted, "POST", "/api/sync/heartbeat", heartbeat, as);
  assert.equal(fresh.res.status, 401, "no request of the old session is taken, new nonce or not");
  const session = await openSession(restarted, n);
  const ok = await macRequest(restarted, "POST", "/api/sync/heartbeat", heartbeat, { ...as, session });
  assert.equal(ok.res.status, 200, ok.text);
  const again = await macRequest(restarted, "POST", "/api/sync/heartbeat", heartbeat, {
    ...as,
    session,
    nonce: ok.nonce,
  });
  assert.equal(again.res.status, 401);
  assert.match(again.text, /Replayed/);
  m.close();
});

Deno.test("session: a MAC is bound to the request: another path or body is refused", async () => {
  const { m, as } = await withSession();
  const path = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    ...as,
    macFor: { path: "/api/sync/config?have=0&wait=0" },
  });
  assert.equal(path.res.status, 401);
  const body = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    ...as,
    macFor: { body: JSON.stringify({ ...heartbeat, status: "error" }) },
  });
  assert.equal(body.res.status, 401);
  assert.match(body.text, /Bad request MAC/);
  m.close();
});

Deno.test("session: a stolen bearer and session id without the key get nothing; nor does another node's session", async () => {
  const { m, n, session } = await withSession();
  const guessed = { id: session.id, key: await importSessionKey(btoa("x".repeat(32))) };
  const forged = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: n.node.id,
    bearer: n.secret,
    session: guessed,
  });
  assert.equal(forged.res.status, 401);
  const b = await enrolled(m, "b");
  const other = await openSession(m, b);
  const crossed = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: n.node.id,
    bearer: n.secret,
    session: other,
  });
  assert.equal(crossed.res.status, 401);
  assert.match(crossed.text, /Unknown sync session/);
  m.close();
});

Deno.test("session: it is opened only with the identity key, not with a session", async () => {
  const { m, as } = await withSession();
  const mine = await ecdhKeyPair();
  const r = await macRequest(m, "POST", "/api/sync/session", { ecdh_public: mine.publicKey }, as);
  assert.equal(r.res.status, 401);
  m.close();
});

Deno.test("session: a new session replaces the old; enrolling again ends it", async () => {
  const { m, n, as } = await withSession();
  const second = await openSession(m, n);
  const old = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, as);
  assert.equal(old.res.status, 401);
  assert.match(old.text, /Unknown sync session/);
  const cur = { ...as, session: second };
  assert.equal((await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, cur)).res.status, 200);
  const token = await m.token("write");
  const fresh = await (await m.api(`/nodes/${n.node.id}/token`, { method: "POST", token })).json();
  const again = await enroll(m, { id: n.node.id, enrollment_token: fresh.enrollment_token });
  const after = await macRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    ...cur,
    bearer: again.secret,
  });
  assert.equal(after.res.status, 401, "the session of the old identity ended");
  m.close();
});

Deno.test("session: a node without a session (signatures, as before sessions) keeps working", async () => {
  const { m, n } = await withSession();
  const r = await signedRequest(m, "POST", "/api/sync/heartbeat", heartbeat, {
    nodeId: n.node.id,
    key: n.key,
    bearer: n.secret,
  });
  assert.equal(r.res.status, 200);
  assert.ok(r.res.headers.get(HEADERS.signature));
  m.close();
});

Deno.test("session: the master's synchronous texts and MACs are the protocol's", async () => {
  const r = {
    method: "post",
    path: "/api/sync/heartbeat?x=1",
    timestamp: 1,
    nonce: "n".repeat(22),
    nodeId: 3,
    body: "{}",
  };
  assert.equal(requestTextSync(r), await requestSigningText(r));
  assert.equal(responseTextSync(3, "abc", 200, "body"), await responseSigningText(3, "abc", 200, "body"));
  const raw = btoa("k".repeat(32));
  assert.equal(macTextSync(rawSessionKey(raw), "text"), await macText(await importSessionKey(raw), "text"));
});
