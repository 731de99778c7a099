// Garbage against every JSON API route the OpenAPI document lists (new routes are covered as they are documented):
// malformed JSON, JSON of the wrong kind, each documented body field with the wrong type, 100 KB or control
// characters, unknown fields, an empty body, the wrong Content-Type, and path ids that name nothing. Never a 5xx,
// always a JSON error with a message, and the database (every table) as it was.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, signedRequest } from "../../support/signed_node.ts";

type M = Awaited<ReturnType<typeof testMaster>>;
type Schema = {
  type?: string | string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
};

const system = { kind: "system" as const, name: "test" };
const LONG = "x".repeat(100 * 1024);
const CONTROL = "wb\u0000\u0007\u001b[31m\u202e\n";
const BAD_IDS = ["-1", "0", "1e30", "abc", "9999999", "1.5", "%00"];
const BAD_QUERY = [
  "-1",
  "0",
  "1e30",
  "abc",
  "1.5",
  "",
  "x".repeat(8192),
  "\u0000\u001b\n",
  "[]",
  "99999999999999999999",
];
const RAW_BODIES = ["{", "", "not json", '{"a":1}}', "\u0000", "[", "nul"];
const WRONG_KINDS: unknown[] = [[], "string", null, 42, true];
const ALL_KINDS: [string, unknown][] = [
  ["string", "42"],
  ["number", 42],
  ["integer", 7],
  ["boolean", true],
  ["array", [1, "x", null]],
  ["object", { a: 1 }],
  ["null", null],
];

/** The JSON types a schema admits (empty: anything). */
function types(s: Schema): Set<string> {
  const out = new Set<string>();
  const t = s.type;
  if (typeof t === "string") out.add(t);
  if (Array.isArray(t)) t.forEach((x) => out.add(x));
  for (const sub of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) types(sub).forEach((x) => out.add(x));
  if (s.enum) s.enum.forEach((v) => out.add(v === null ? "null" : typeof v));
  if ("const" in s) out.add(s.const === null ? "null" : typeof s.const);
  if (out.has("integer")) out.add("number");
  return out;
}

/** Values of a field that no sane schema admits for it: other JSON types, 100 KB, control characters. */
function badValues(s: Schema): unknown[] {
  const allowed = types(s);
  if (allowed.size === 0) return [LONG];
  const out: unknown[] = ALL_KINDS
    .filter(([k]) => !allowed.has(k) && !(k === "integer" && allowed.has("number")))
    .map(([, v]) => v);
  if (allowed.has("string")) out.push(LONG, CONTROL);
  else out.push(LONG);
  if (allowed.has("integer") && !allowed.has("string")) out.push(1.5, 1e30);
  if (s.enum) out.push("zz-not-in-enum");
  return out;
}

/** Every table's rows: what a refused request must leave as it was. */
function checksum(m: M): string {
  const tables = m.db.all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  // Webhook deliveries of earlier events make progress in the background, whatever the request.
  return JSON.stringify(
    tables.filter(({ name }) => name !== "webhook_deliveries").map(({ name }) => {
      const rows = m.db.all<Record<string, unknown>>(`SELECT * FROM "${name}"`)
        .map((r) => {
          // A token's last use moves with every request it makes: not a change the request asked for.
          if (name === "api_tokens") return { ...r, last_used_at: null, last_used_ip: null };
          return r;
        })
        // A refused node credential on /api/sync/* is audited by design (throttled security log), and a burst
        // of them is an auth.failures event.
        .filter((r) =>
          !(name === "audit_log" && r.action === "node.auth_failed") &&
          !(name === "fleet_events" && r.type === "auth.failures")
        );
      return [name, rows.map((r) => JSON.stringify(r)).sort()];
    }),
  );
}

function changedTables(before: string, after: string): string {
  const a = new Map<string, string>(
    JSON.parse(before).map(([n, r]: [string, unknown]) => [n, JSON.stringify(r)]),
  );
  const b: [string, unknown][] = JSON.parse(after);
  return b.filter(([n, r]) => a.get(n) !== JSON.stringify(r)).map(([n]) => n).join(", ");
}

/** Plausible values of the required fields by name (the rest of a body is left out). */
function baseBody(
  schema: { required?: string[]; properties?: object },
  ids: Record<string, number>,
  nodeId: number,
) {
  const known: Record<string, unknown> = {
    username: "fz-user",
    password: "correct horse battery staple",
    role: "viewer",
    name: "fz1",
    scope: "read",
    ipv4_pool: "10.99.0.0/24",
    interface_id: ids.interfaces,
    fqdn: "fz.example.com",
    url: "https://hooks.example.com/fz",
    kind: "block",
    domain: "fz.example.com",
    type: "A",
    value: "192.0.2.1",
    announce: { kind: "vrrp", address: "192.0.2.20/24", vrid: 43 },
    node_id: nodeId,
    priority: 100,
    enabled: true,
  };
  const required = schema.required ?? [];
  if (!required.every((f) => f in known)) return {};
  // A blocklist needs a url or its content: the content, so nothing is fetched.
  const extra = schema.properties && "content" in schema.properties ? { content: "ads.example.com\n" } : {};
  return { ...extra, ...Object.fromEntries(required.map((f) => [f, known[f]])) };
}

async function setup() {
  const m = await testMaster();
  const token = await m.token("write");
  const wg0 = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "alpha");
  const peer = await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: wg0.id, name: "laptop" },
  });
  assert.equal(peer.status, 201, await peer.clone().text());
  const pool = await m.api("/pools", {
    method: "POST",
    token,
    json: {
      name: "wbp0",
      ipv4_pool: "10.77.0.0/24",
      listen_port: 51900,
      announce: { kind: "vrrp", address: "192.0.2.10/24", vrid: 42 },
    },
  });
  assert.equal(pool.status, 201, await pool.clone().text());
  const poolId = (await pool.json()).id;
  assert.equal(
    (await m.api(`/pools/${poolId}/members`, { method: "POST", token, json: { node_id: a.node.id } })).status,
    201,
  );
  const hook = await m.api("/webhooks", {
    method: "POST",
    token,
    json: { url: "https://hooks.example.com/wb", events: ["node.offline"] },
  });
  const user = await m.addUser("bob", "viewer");
  const ids: Record<string, number> = {
    users: user.id,
    interfaces: wg0.id,
    peers: (await peer.json()).id,
    nodes: a.node.id,
    pools: poolId,
    webhooks: hook.status === 201 ? (await hook.json()).id : 1,
    tokens: m.services.tokens.list().at(-1)?.id ?? 1,
  };
  return { m, token, ids, nodeId: a.node.id as number, node: a };
}

/** The path with real ids, or with `bad` in place of the `which`-th parameter. */
function fill(
  path: string,
  ids: Record<string, number>,
  nodeId: number,
  bad?: { index: number; value: string },
) {
  let i = 0;
  return path.replace(/^\/api/, "").replace(
    /\{(\w+)\}/g,
    (_all, name: string, offset: number, whole: string) => {
      const index = i++;
      if (bad && bad.index === index) return encodeURIComponent(bad.value);
      if (name === "node") return String(nodeId);
      const kind = whole.slice(0, offset).split("/").filter(Boolean).at(-1) ?? "";
      return String(ids[kind] ?? 1);
    },
  );
}

const send = (m: M, method: string, path: string, token: string, body?: string, type = "application/json") =>
  m.app.request(`https://wb.test:8443/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": type }) },
    ...(body === undefined || method === "GET" || method === "HEAD" ? {} : { body }),
  }, { remoteAddr: "198.51.100.8" });

/**
 * Known defects, marked so the suite stays green while they are open: "METHOD /path what" -> the defect.
 * Each entry names the route and input; remove it when the defect is fixed.
 */
const KNOWN: Record<string, string> = {};

Deno.test("every documented API route refuses garbage with a JSON 4xx and changes nothing", async () => {
  const { m, token, ids, nodeId } = await setup();
  const doc = await (await m.api("/openapi.json")).json() as {
    paths: Record<
      string,
      Record<string, { requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> } }>
    >;
  };
  const failures: string[] = [];
  let sent = 0;
  const check = async (what: string, res: Response, before: string, mustRefuse: boolean) => {
    sent++;
    const text = await res.text();
    const problems: string[] = [];
    if (res.status >= 500) problems.push(`status ${res.status}`);
    if (/\bat [\w.<>]+ \(|file:\/\/|\.ts:\d+/.test(text)) problems.push("a stack trace in the body");
    if (res.status >= 400) {
      try {
        const msg = JSON.parse(text).error?.message;
        if (typeof msg !== "string" || msg.length === 0) problems.push("no error.message");
      } catch {
        problems.push("not JSON");
      }
    } else if (mustRefuse) problems.push(`accepted (${res.status})`);
    const after = checksum(m);
    if (res.status >= 400 && after !== before) {
      problems.push(`the database changed (${changedTables(before, after)})`);
    }
    if (problems.length > 0) {
      const line = `${what}: ${problems.join(", ")}: ${text.slice(0, 200)}`;
      if (!Object.keys(KNOWN).some((k) => what.startsWith(k))) failures.push(line);
    }
    return after;
  };

  let state = checksum(m);
  for (const [docPath, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const M = method.toUpperCase();
      const params = [...docPath.matchAll(/\{\w+\}/g)].length;
      const schema = op.requestBody?.content["application/json"]?.schema;
      const safe = M === "GET" || M === "HEAD";
      // Bad ids, with a plausible body: nothing to find, nothing changed.
      for (let index = 0; index < params; index++) {
        for (const value of BAD_IDS) {
          const path = fill(docPath, ids, nodeId, { index, value });
          const res = await send(m, M, path, token, safe ? undefined : "{}");
          state = await check(`${M} ${docPath} id ${value}`, res, state, !safe);
        }
      }
      // Each documented query parameter with values no parameter takes.
      const query = (op as { parameters?: { name: string; in: string }[] }).parameters?.filter((p) =>
        p.in === "query"
      );
      for (const { name } of query ?? []) {
        for (const value of BAD_QUERY) {
          const path = `${fill(docPath, ids, nodeId)}?${name}=${encodeURIComponent(value)}`;
          const res = await send(m, M, path, token);
          state = await check(
            `${M} ${docPath} ?${name}=${JSON.stringify(value).slice(0, 30)}`,
            res,
            state,
            false,
          );
        }
      }
      // Bodies only where a body is documented: a body-less POST with real ids does what it says.
      if (!schema || safe) continue;
      const path = fill(docPath, ids, nodeId);
      const what = (x: string) => `${M} ${docPath} ${x}`;
      for (const raw of RAW_BODIES) {
        state = await check(
          what(`raw ${JSON.stringify(raw)}`),
          await send(m, M, path, token, raw),
          state,
          true,
        );
      }
      // A body the document calls optional may be left out: the request then does what it says.
      state = await check(
        what("no body"),
        await send(m, M, path, token),
        state,
        op.requestBody?.required !== false,
      );
      for (
        const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
      ) {
        const res = await send(m, M, path, token, '{"name":"x"}', type);
        state = await check(what(`content-type ${type}`), res, state, true);
      }
      for (const body of WRONG_KINDS) {
        const res = await send(m, M, path, token, JSON.stringify(body));
        state = await check(what(`body ${JSON.stringify(body)}`), res, state, true);
      }
      // An empty object: refused, or a no-op that changes nothing (no audit row, no config version).
      const empty = await send(m, M, path, token, "{}");
      const emptyText = await empty.clone().text();
      if (
        empty.status < 300 && checksum(m) !== state && !(M === "POST" && op.requestBody?.required === false)
      ) {
        const changed = changedTables(state, checksum(m));
        const line = `${what("{}")}: accepted (${empty.status}) and changed ${changed}: ${
          emptyText.slice(0, 100)
        }`;
        if (!(what("{}") in KNOWN)) failures.push(line);
        state = checksum(m);
      } else state = await check(what("{}"), empty, state, false);
      const unknown = await send(m, M, path, token, JSON.stringify({ zz_unknown_field: 1 }));
      state = await check(what("unknown field only"), unknown, state, true);
      // The same with the required fields filled in plausibly, so a bad field is not hidden by a missing one.
      const base = baseBody(schema as Schema & { required?: string[] }, ids, nodeId);
      if (Object.keys(base).length > 0) {
        const res = await send(m, M, path, token, JSON.stringify({ ...base, zz_unknown_field: 1 }));
        state = await check(what("required fields and an unknown field"), res, state, true);
      }
      for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
        if (Object.keys(base).length === 0) break;
        const values = (field === "password" || field === "secret")
          ? badValues(fieldSchema).filter((v) => v !== CONTROL)
          : badValues(fieldSchema);
        for (const value of values) {
          const res = await send(m, M, path, token, JSON.stringify({ ...base, [field]: value }));
          const shown = JSON.stringify(value).slice(0, 40);
          state = await check(what(`required fields, ${field}=${shown}`), res, state, true);
        }
      }
      for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
        // A password or webhook secret: any characters of the allowed length are the user's choice.
        const values = (field === "password" || field === "secret")
          ? badValues(fieldSchema).filter((v) => v !== CONTROL)
          : badValues(fieldSchema);
        for (const value of values) {
          const res = await send(m, M, path, token, JSON.stringify({ [field]: value }));
          const shown = JSON.stringify(value).slice(0, 40);
          state = await check(what(`${field}=${shown}`), res, state, true);
        }
      }
    }
  }
  assert.ok(sent > 500, `requests sent: ${sent}`);
  assert.deepEqual(failures, [], `${failures.length} failures:\n${failures.join("\n")}`);
  m.close();
});

/** The database as a form with an id that names nothing must leave it (sessions move on every request). */
const uiState = (m: M) =>
  JSON.stringify(JSON.parse(checksum(m)).filter(([name]: [string]) => name !== "sessions"));

Deno.test("every HTML form route answers garbage with less than a 5xx and no stack trace", async () => {
  const { m, ids, nodeId } = await setup();
  await m.addUser("root", "admin");
  const fresh = () => m.login("root");
  let cookie = await fresh();
  const routes = m.app.routes.filter((r) => r.path.startsWith("/ui/") && !r.path.includes("*"));
  const fill = (path: string, bad?: string) =>
    path.replace(/:(\w+)/g, (_all, name: string, offset: number, whole: string) => {
      if (bad !== undefined) return encodeURIComponent(bad);
      if (name === "node") return String(nodeId);
      const kind = whole.slice(0, offset).split("/").filter(Boolean).at(-1) ?? "";
      return String(ids[kind] ?? 1);
    });
  // The field names of every form the UI renders, so new forms are covered as they appear.
  const names = new Set<string>([
    "name",
    "id",
    "node_id",
    "interface_id",
    "username",
    "password",
    "role",
    "url",
  ]);
  for (const r of routes.filter((r) => r.method === "GET")) {
    const res = await m.request(fill(r.path), { cookie });
    for (const [, n] of (await res.text()).matchAll(/name="([\w.\-\[\]]+)"/g)) names.add(n!);
  }
  const failures: string[] = [];
  const check = async (what: string, res: Response) => {
    const text = await res.text();
    // The test master has no backup service: /ui/backup answers 503 "not available in this process" by design.
    const noBackups = res.status === 503 && what.startsWith("POST /ui/backup") && !m.services.backups;
    if (res.status >= 500 && !noBackups) {
      failures.push(`${what}: status ${res.status}: ${text.slice(0, 200)}`);
    } else if (/\bat [\w.<>]+ \(|file:\/\/|\.tsx?:\d+:\d+/.test(text)) {
      failures.push(`${what}: a stack trace`);
    }
  };
  // Routes that end the session or delete what later routes use go last, each with a fresh session.
  const last = /logout|delete|remove|revoke|account|second-factor|restore|reset/;
  const posts = routes.filter((r) => r.method === "POST")
    .sort((a, b) => Number(last.test(a.path)) - Number(last.test(b.path)));
  const values = [LONG.slice(0, 20_000), CONTROL, "-1", "1e30", "abc", "", "9999999"];
  for (const r of posts) {
    cookie = await fresh();
    for (const bad of r.path.includes(":") ? BAD_IDS : []) {
      const path = fill(r.path, bad);
      const before = uiState(m);
      await check(`POST ${r.path} id ${bad}`, await m.form(path, { name: "x" }, { cookie }));
      if (uiState(m) !== before) failures.push(`POST ${r.path} id ${bad}: the database changed`);
    }
    const path = fill(r.path);
    for (const value of values) {
      const fields = Object.fromEntries([...names].map((n) => [n, value]));
      await check(
        `POST ${r.path} all fields ${JSON.stringify(value).slice(0, 20)}`,
        await m.form(path, fields, { cookie }),
      );
    }
    await check(`POST ${r.path} empty`, await m.form(path, {}, { cookie }));
    for (
      const [type, body] of [
        ["application/x-www-form-urlencoded", "%%%&=&a=%zz&name=%E0%A4%A"],
        ["multipart/form-data; boundary=zz", "--zz\r\nnot a part"],
        ["application/json", '{"name":'],
        ["text/plain", "\u0000\u0001"],
      ]
    ) {
      const res = await m.request(path, { method: "POST", cookie, body, headers: { "content-type": type! } });
      await check(`POST ${r.path} ${type}`, res);
    }
  }
  assert.ok(posts.length > 40, `form routes: ${posts.length}`);
  assert.deepEqual(failures, [], `${failures.length} failures:\n${failures.join("\n")}`);
  m.close();
});

Deno.test("every documented node sync route refuses a signed garbage body with a JSON 4xx and changes nothing", async () => {
  const { m, node } = await setup();
  const doc = await (await m.api("/openapi.json")).json() as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  };
  // What a well-formed request of each carries, so one bad field is not hidden by a missing one.
  const bases: Record<string, Record<string, unknown>> = {
    "/api/sync/heartbeat": { status: "online", applied_version: 0, interfaces: [], metrics: [] },
  };
  const failures: string[] = [];
  // An authenticated request spends its nonce whatever its body (replay protection): sync_nonces may grow.
  const syncState = () =>
    JSON.stringify(JSON.parse(checksum(m)).filter(([name]: [string]) => name !== "sync_nonces"));
  let state = syncState();
  for (const [path, methods] of Object.entries(doc.paths)) {
    const schema = methods.post?.requestBody?.content["application/json"]?.schema;
    if (!path.startsWith("/api/sync/") || !schema || path === "/api/sync/enroll") continue;
    const bodies: unknown[] = [...WRONG_KINDS, { zz_unknown_field: 1 }, {
      ...bases[path],
      zz_unknown_field: 1,
    }];
    for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
      for (const value of badValues(fieldSchema)) {
        // A node's apply error is the text its commands printed: several lines, escapes, whatever they were.
        if (path === "/api/sync/heartbeat" && field === "error" && value === CONTROL) continue;
        bodies.push({ ...bases[path], [field]: value });
      }
    }
    for (const body of bodies) {
      const what = `POST ${path} ${JSON.stringify(body).slice(0, 80)}`;
      const { res, text } = await signedRequest(m, "POST", path, body, {
        nodeId: node.node.id,
        key: node.key,
        bearer: node.secret,
      });
      let message: unknown;
      try {
        message = JSON.parse(text).error?.message;
      } catch { /* not JSON */ }
      if (res.status >= 500) failures.push(`${what}: status ${res.status}: ${text.slice(0, 200)}`);
      else if (res.status < 400) failures.push(`${what}: accepted (${res.status})`);
      else if (typeof message !== "string" || message === "") failures.push(`${what}: no JSON error message`);
      const after = syncState();
      if (after !== state) failures.push(`${what}: the database changed (${changedTables(state, after)})`);
      state = after;
    }
  }
  assert.deepEqual(failures, [], `${failures.length} failures:\n${failures.join("\n")}`);
  m.close();
});
