// The node's sync session: the real agent against the real in-memory master. After enrollment it signs
// one request (opening the session) and MACs the rest; a master without sessions gets signatures; one
// session is shared by both loops and opened again, once, when the master refuses it.
import assert from "node:assert/strict";
import { HEADERS } from "../../../src/core/sync.ts";
import { SESSION_HEADERS } from "../../../src/core/sync_session.ts";
import { type Opened, SessionKeeper } from "../../../src/node/session_keeper.ts";
import type { HttpFetch } from "../../../src/node/sync_client.ts";
import { DATA_DIR, startNode, waitFor, world } from "./agent_harness.ts";

type Seen = { path: string; signed: boolean; maced: boolean };

function recording(seen: Seen[], refuseSessions = false) {
  return (inner: HttpFetch): HttpFetch => (url, init) => {
    const h = init.headers as Record<string, string>;
    const path = new URL(url).pathname;
    seen.push({ path, signed: HEADERS.signature in h, maced: SESSION_HEADERS.mac in h });
    if (refuseSessions && path === "/api/sync/session") {
      return Promise.resolve(new Response('{"error":{"message":"Not found"}}', { status: 404 }));
    }
    return inner(url, init);
  };
}

Deno.test("after enrollment the node signs only the request that opens its session; the rest carry its MAC", async () => {
  const { m, node } = await world();
  const seen: Seen[] = [];
  const n = startNode(m, node.enrollment_token, { wrap: recording(seen) });
  await waitFor("config", () => n.engine.last?.interfaces.length);
  await waitFor("a heartbeat", () => seen.some((s) => s.path === "/api/sync/heartbeat"));
  await waitFor("saved", () => n.fs.readText(`${DATA_DIR}/last-config.json`));
  await n.stop();
  const signed = seen.filter((s) => s.signed).map((s) => s.path);
  assert.deepEqual(signed, ["/api/sync/enroll", "/api/sync/session"]);
  assert.ok(seen.filter((s) => !s.signed).every((s) => s.maced));
  const saved = JSON.parse((await n.fs.readText(`${DATA_DIR}/last-config.json`))!);
  assert.match(saved.signature, /^hmac1\./, "the saved config is proven by the session");
  // The next start reuses the session from disk: no signature at all.
  seen.length = 0;
  const again = startNode(m, null, { fs: n.fs, wrap: recording(seen) });
  await waitFor("a heartbeat", () => seen.some((s) => s.path === "/api/sync/heartbeat"));
  await again.stop();
  assert.deepEqual(seen.filter((s) => s.signed), []);
  m.close();
});

Deno.test("against a master without sessions (404) the node signs every request and works as before", async () => {
  const { m, node } = await world();
  const seen: Seen[] = [];
  const n = startNode(m, node.enrollment_token, { wrap: recording(seen, true) });
  await waitFor("config", () => n.engine.last?.interfaces.length);
  await waitFor("a heartbeat", () => seen.some((s) => s.path === "/api/sync/heartbeat"));
  await n.stop();
  assert.ok(seen.every((s) => s.signed && !s.maced));
  assert.equal(seen.filter((s) => s.path === "/api/sync/session").length, 1, "asked once");
  m.close();
});

Deno.test("SessionKeeper opens one session for concurrent callers and a new one after a refusal", async () => {
  let opened = 0;
  const saved: string[] = [];
  const keeper = new SessionKeeper({
    loadSession: () => Promise.resolve(null),
    saveSession: (s) => (saved.push(s.id), Promise.resolve()),
  }, (): Promise<Opened> => {
    opened++;
    return Promise.resolve({ id: `session-${opened}`.padEnd(22, "x"), key: btoa("k".repeat(32)) });
  });
  const [a, b] = await Promise.all([keeper.current(), keeper.current()]);
  assert.equal(opened, 1);
  assert.equal(a, b);
  keeper.refused("some-older-session-idx"); // not the current one: kept
  assert.equal(await keeper.current(), a);
  keeper.refused(a!.id);
  const c = await keeper.current();
  assert.equal(opened, 2);
  assert.notEqual(c!.id, a!.id);
  assert.deepEqual(saved, [a!.id, c!.id]);
});

Deno.test("in a session the node takes a one-peer change as a delta, applies it, and restores it from disk offline", async () => {
  const { m, token, iface, node } = await world();
  const kinds: string[] = [];
  const watch = (inner: HttpFetch): HttpFetch => async (url, init) => {
    const res = await inner(url, init);
    if (url.includes("/api/sync/config")) kinds.push(JSON.parse(await res.clone().text()).kind);
    return res;
  };
  const n = startNode(m, node.enrollment_token, { wrap: watch });
  await waitFor("config", () => n.engine.last?.interfaces.length);
  await waitFor("a session", () => n.fs.readText(`${DATA_DIR}/session.json`));
  const peers = () => n.engine.last?.interfaces[0]?.peers.length ?? 0;
  for (const name of ["p1", "p2"]) {
    const before = peers();
    const res = await m.api("/peers", {
      method: "POST",
      token,
      json: { interface_id: iface.id, name, node_id: node.id },
    });
    assert.equal(res.status, 201);
    await waitFor(`${name} applied`, () => peers() === before + 1);
  }
  assert.ok(kinds.includes("delta"), `answers: ${kinds.join(",")}`);
  const applied = n.engine.last;
  await waitFor("saved", async () => {
    const saved = JSON.parse((await n.fs.readText(`${DATA_DIR}/last-config.json`)) ?? "{}");
    return saved.body?.includes(`"config_version":${m.services.nodes.get(node.id).configVersion}`);
  });
  await n.stop();
  const offline = startNode(m, null, { fs: n.fs, wrap: () => () => Promise.reject(new Error("down")) });
  const restored = await waitFor("restored", () => offline.engine.states[0]);
  assert.deepEqual(restored, applied);
  await offline.stop();
  m.close();
});
