// Malformed input against this session's routes (failover pools, node WireGuard key rotation, the pool and
// rotation reports of a heartbeat): never a 5xx, the right 4xx with the problem named, and nothing changed.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat, signedRequest } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };
const VRRP = { kind: "vrrp", address: "192.0.2.10/24", vrid: 42 };
const POOL = { name: "wbp0", ipv4_pool: "10.77.0.0/24", listen_port: 51900, announce: VRRP };
const LONG = "x".repeat(10_240);
const CONTROL = "wb\u0000p\u202e\u{1F600}\n";
const BAD_NUMBERS: unknown[] = [
  -1,
  0,
  1.5,
  1e300,
  Number.MAX_SAFE_INTEGER + 2,
  "42",
  "NaN",
  "Infinity",
  "-0",
  true,
  null,
  [],
  {},
  LONG,
];
const BAD_IDS = ["abc", "-1", "1.5", "1e3", "99999999999999999999", "0x10", "%00", "NaN", "999999999"];

async function setup() {
  const m = await testMaster();
  const token = await m.token("write");
  const wg0 = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "alpha");
  await sendHeartbeat(m, a);
  const res = await m.api("/pools", { method: "POST", token, json: POOL });
  assert.equal(res.status, 201, await res.clone().text());
  const pool = await res.json();
  const added = await m.api(`/pools/${pool.id}/members`, {
    method: "POST",
    token,
    json: { node_id: a.node.id },
  });
  assert.equal(added.status, 201);
  await m.addUser("root", "admin");
  const admin = await m.login("root");
  return { m, token, a, pool, wg0Id: wg0.id as number, admin };
}

type M = Awaited<ReturnType<typeof testMaster>>;

/** What a refused request must leave as it was: pools, members, interfaces, audit, node keys. */
const snapshot = (m: M) =>
  JSON.stringify({
    tables: ["interfaces", "pool_members", "audit_log", "peers"].map((t) =>
      m.db.all(`SELECT * FROM ${t} ORDER BY rowid`)
    ),
    pools: m.services.pools.list().map((p) => ({
      ...p,
      members: p.members.map((x) => ({ ...x, report: null })),
    })),
  });

const raw = (m: M, method: string, path: string, token: string, body: string, type = "application/json") =>
  m.app.request(`https://wb.test:8443/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": type },
    body,
  }, { remoteAddr: "198.51.100.8" });

async function expectRefused(res: Response, allowed: number[], what: string) {
  const text = await res.text();
  assert.ok(res.status < 500, `${what}: ${res.status} ${text.slice(0, 300)}`);
  assert.ok(
    allowed.includes(res.status),
    `${what}: status ${res.status} not in ${allowed}: ${text.slice(0, 300)}`,
  );
  return text;
}

async function expectJsonError(res: Response, allowed: number[], what: string) {
  const text = await expectRefused(res, allowed, what);
  const body = JSON.parse(text);
  assert.equal(typeof body.error?.message, "string", `${what}: ${text.slice(0, 300)}`);
  assert.ok(body.error.message.length > 0, what);
  return body;
}

/** Each JSON body route with a valid body, and the bad bodies to send it. */
function bodyCases(poolId: number, nodeId: number) {
  const fieldCases = (base: Record<string, unknown>, fields: string[]) =>
    fields.flatMap((f) => BAD_NUMBERS.map((v) => ({ ...base, [f]: v })));
  return [
    {
      method: "POST",
      path: "/pools",
      bodies: [
        {},
        { ...POOL, extra: 1 },
        { ...POOL, name: LONG },
        { ...POOL, name: CONTROL },
        { ...POOL, name: 42 },
        { ...POOL, ipv4_pool: LONG },
        { ...POOL, ipv4_pool: "10.77.0.0/99" },
        { ...POOL, announce: null },
        { ...POOL, announce: "vrrp" },
        { ...POOL, announce: [] },
        { ...POOL, announce: { kind: "bgp" } },
        { ...POOL, announce: { ...VRRP, extra: true } },
        { ...POOL, announce: { ...VRRP, address: LONG } },
        { ...POOL, announce: { ...VRRP, link: CONTROL } },
        { ...POOL, announce: { kind: "dns", name: CONTROL, zone: LONG, server: "[::1", tsig: { name: 1 } } },
        {
          ...POOL,
          announce: {
            kind: "dns",
            name: "vpn.example.com",
            zone: "example.com",
            server: "192.0.2.53:99999",
            tsig: { name: "wb", secret: "!!!!" },
          },
        },
        {
          ...POOL,
          announce: {
            kind: "dns",
            name: "vpn.example.com",
            zone: "example.com",
            server: "192.0.2.53",
            tsig: { name: "wb", secret: "AAAA" },
          },
        },
        ...fieldCases(POOL, ["listen_port"]),
        ...BAD_NUMBERS.map((v) => ({ ...POOL, announce: { ...VRRP, vrid: v } })),
        ...BAD_NUMBERS.map((v) => ({ ...POOL, announce: { ...VRRP, advert_ms: v } })),
      ],
    },
    {
      method: "PATCH",
      path: `/pools/${poolId}`,
      bodies: [
        {}, // nothing to change: refused, no audit row or config bump
        { extra: 1 },
        { name: "renamed" },
        { announce: null },
        { announce: { ...VRRP, vrid: 0 } },
        ...fieldCases({}, ["listen_port"]),
      ],
    },
    {
      method: "POST",
      path: `/pools/${poolId}/members`,
      bodies: [
        {},
        { node_id: nodeId, extra: 1 },
        { node_id: nodeId },
        { node_id: 999_999 },
        ...fieldCases({}, ["node_id"]),
        ...fieldCases({ node_id: nodeId }, ["priority"]),
      ],
    },
    {
      method: "PATCH",
      path: `/pools/${poolId}/members/${nodeId}`,
      bodies: [{}, { priority: 100, extra: 1 }, ...fieldCases({}, ["priority"])],
    },
  ];
}

Deno.test("the pool API refuses malformed JSON bodies with a 4xx naming the problem and changes nothing", async () => {
  const { m, token, a, pool } = await setup();
  const before = snapshot(m);
  for (const route of bodyCases(pool.id, a.node.id)) {
    const what = (x: string) => `${route.method} ${route.path} ${x}`;
    for (const body of ["{", "", "not json", '{"a":1}}', "\u0000"]) {
      await expectJsonError(await raw(m, route.method, route.path, token, body), [400], what(`raw ${body}`));
    }
    await expectJsonError(
      await raw(m, route.method, route.path, token, "name=x", "application/x-www-form-urlencoded"),
      [400, 415],
      what("form body"),
    );
    for (const body of [[], "string", null, 42, true, ...route.bodies]) {
      const res = await m.api(route.path, { method: route.method, token, json: body });
      await expectJsonError(res, [400, 404, 409, 413, 422], what(JSON.stringify(body).slice(0, 120)));
    }
  }
  assert.equal(snapshot(m), before);
  m.close();
});

Deno.test("pool and node rotation paths with ids that are not numbers, too large, negative or another kind answer 404", async () => {
  const { m, token, a, pool, wg0Id } = await setup();
  const before = snapshot(m);
  const keysBefore = JSON.stringify(m.services.wgKeys.status(a.node.id));
  // wg0's id on a pool route: an interface that is not a pool (node ids are another sequence: no node rows here).
  for (const id of [...BAD_IDS, String(wg0Id), "0"]) {
    const e = encodeURIComponent(id);
    const routes: [string, string, unknown][] = [
      ["GET", `/pools/${e}`, undefined],
      ["PATCH", `/pools/${e}`, { listen_port: 51901 }],
      ["DELETE", `/pools/${e}`, undefined],
      ["POST", `/pools/${e}/members`, { node_id: a.node.id }],
      ["PATCH", `/pools/${e}/members/${a.node.id}`, { priority: 100 }],
      ["DELETE", `/pools/${e}/members/${a.node.id}`, undefined],
      ["POST", `/pools/${e}/members/${a.node.id}/drain`, undefined],
      ["POST", `/pools/${e}/members/${a.node.id}/undrain`, undefined],
      ["PATCH", `/pools/${pool.id}/members/${e}`, { priority: 100 }],
      ["DELETE", `/pools/${pool.id}/members/${e}`, undefined],
      ["POST", `/pools/${pool.id}/members/${e}/drain`, undefined],
      ["POST", `/pools/${pool.id}/members/${e}/undrain`, undefined],
      ...(id === String(wg0Id) ? [] : [
        ["GET", `/nodes/${e}/rotate-wireguard-key`, undefined],
        ["POST", `/nodes/${e}/rotate-wireguard-key`, undefined],
        ["POST", `/nodes/${e}/rotate-wireguard-key/finish`, undefined],
      ] as [string, string, unknown][]),
    ];
    for (const [method, path, json] of routes) {
      const res = await m.api(path, { method, token, ...(json === undefined ? {} : { json }) });
      await expectJsonError(res, [404], `${method} ${path}`);
    }
  }
  // Finishing a rotation that never started is a conflict, and a body on these routes is ignored.
  await expectJsonError(
    await m.api(`/nodes/${a.node.id}/rotate-wireguard-key/finish`, { method: "POST", token }),
    [409],
    "finish without a rotation",
  );
  await expectJsonError(
    await raw(m, "POST", `/nodes/${a.node.id}/rotate-wireguard-key/finish`, token, "{"),
    [409],
    "finish with a malformed body",
  );
  assert.equal(snapshot(m), before);
  assert.equal(JSON.stringify(m.services.wgKeys.status(a.node.id)), keysBefore);
  m.close();
});

Deno.test("the pool forms re-render with the error (422) or answer 404 for malformed fields and ids, changing nothing", async () => {
  const { m, a, pool, wg0Id, admin } = await setup();
  const before = snapshot(m);
  const form = {
    name: "wbp1",
    ipv4_pool: "10.78.0.0/24",
    listen_port: "51901",
    announce_kind: "vrrp",
    vrrp_address: "192.0.2.11/24",
    vrrp_vrid: "43",
    vrrp_advert_ms: "",
    vrrp_link: "",
  };
  const edit = { ...form, listen_port: "51900", vrrp_address: "192.0.2.10/24", vrrp_vrid: "42" };
  const values = ["", "-1", "1.5", "1e300", "99999999999999999999", "NaN", "Infinity", "0x10", LONG, CONTROL];
  const cases: [string, Record<string, string>][] = [
    ...["name", "ipv4_pool", "vrrp_address", "vrrp_link"].flatMap((f) =>
      ["", "a b", "10.0.0.0/99", LONG, CONTROL].filter((v) => v !== form[f as keyof typeof form]).map((v) =>
        ["/ui/pools", { ...form, [f]: v }] as [string, Record<string, string>]
      )
    ),
    ...["listen_port", "vrrp_vrid", "vrrp_advert_ms"].flatMap((f) =>
      values.filter((v) => v !== "" || f !== "vrrp_advert_ms").map((v) =>
        ["/ui/pools", { ...form, [f]: v }] as [string, Record<string, string>]
      )
    ),
    ["/ui/pools", { ...form, announce_kind: "dns", dns_name: CONTROL, dns_ttl: "1e300", dns_server: LONG }],
    ["/ui/pools", { ...form, announce_kind: CONTROL }],
    ["/ui/pools", {}],
    ...["listen_port", "vrrp_vrid"].flatMap((f) =>
      // The edit form as it stands (a blank port keeps the port), one field broken.
      values.filter((v) => v !== "").map((v) =>
        [`/ui/pools/${pool.id}`, { ...edit, [f]: v }] as [string, Record<string, string>]
      )
    ),
    ...["node_id", "priority"].flatMap((f) =>
      values.map((v) =>
        [`/ui/pools/${pool.id}/members`, { node_id: "999999", priority: "", [f]: v }] as [
          string,
          Record<string, string>,
        ]
      )
    ),
  ];
  for (const [path, fields] of cases) {
    const changed = Object.entries(fields).filter(([k, v]) => form[k as keyof typeof form] !== v);
    const what = `${path} ${JSON.stringify(Object.fromEntries(changed)).slice(0, 150)}`;
    const res = await m.form(path, fields, { cookie: admin });
    const text = await expectRefused(res, [409, 422], what);
    // The project's form convention: 422 (409 for a conflict) with the page again and its error flash; a field longer than any
    // form takes is refused by formBody (ui_kit.tsx) before the form, on the error page naming the field.
    assert.match(
      text,
      /class="flash flash-error" role="alert">[^<]+|class="error-message" role="alert">\w+ is too long/,
      `${what}: ${text.slice(0, 300)}`,
    );
  }
  for (const id of [...BAD_IDS, String(wg0Id)]) {
    const e = encodeURIComponent(id);
    for (
      const [method, path] of [
        ["GET", `/ui/pools/${e}/edit`],
        ["POST", `/ui/pools/${e}`],
        ["POST", `/ui/pools/${e}/members`],
        ["POST", `/ui/pools/${e}/members/${a.node.id}/drain`],
        ["POST", `/ui/pools/${e}/members/${a.node.id}/undrain`],
        ["GET", `/ui/pools/${e}/members/${a.node.id}/remove`],
        ["POST", `/ui/pools/${e}/members/${a.node.id}/remove`],
        ["POST", `/ui/pools/${pool.id}/members/${e}/drain`],
        ["POST", `/ui/pools/${pool.id}/members/${e}/remove`],
        ...(id === String(wg0Id) ? [] : [
          ["GET", `/ui/nodes/${e}/wg-keys`],
          ["GET", `/ui/nodes/${e}/wg-keys/rotate`],
          ["POST", `/ui/nodes/${e}/wg-keys/rotate`],
          ["GET", `/ui/nodes/${e}/wg-keys/finish`],
          ["POST", `/ui/nodes/${e}/wg-keys/finish`],
        ]),
      ]
    ) {
      const res = method === "GET"
        ? await m.request(path, { cookie: admin })
        : await m.form(path, { node_id: String(a.node.id), priority: "100" }, { cookie: admin });
      await expectRefused(res, [404], `${method} ${path}`);
    }
  }
  await expectRefused(
    await m.form(`/ui/nodes/${a.node.id}/wg-keys/finish`, {}, { cookie: admin }),
    [409],
    "finish without a rotation",
  );
  assert.equal(snapshot(m), before);
  m.close();
});

Deno.test("a heartbeat with malformed pool or rotation reports is refused (400) and records nothing", async () => {
  const { m, a, pool } = await setup();
  const good = { id: pool.id, state: "serving", detail: null, sessions: 1 };
  const pools: unknown[] = [
    "serving",
    null,
    {},
    [null],
    ["x"],
    [{}],
    [{ ...good, state: "leader" }],
    [{ ...good, detail: LONG }],
    [{ ...good, detail: 42 }],
    ...BAD_NUMBERS.map((v) => [{ ...good, id: v }]),
    ...BAD_NUMBERS.filter((v) => v !== 0).map((v) => [{ ...good, sessions: v }]),
    Array.from({ length: 10_000 }, () => good),
    [good, { ...good, state: "fault", detail: "x" }], // one pool twice: contradictory, refused
  ];
  const rotations: unknown[] = [
    "wg0",
    null,
    {},
    [null],
    [{}],
    [{ name: LONG, moved: 1, pending: 0 }],
    [{ name: CONTROL, moved: 1, pending: 0 }],
    [{ name: "wg0", moved: 1, pending: 0 }, { name: "wg0", moved: 0, pending: 1 }],
    ...BAD_NUMBERS.filter((v) => v !== 0).map((v) => [{ name: "wg0", moved: v, pending: 0 }]),
    ...BAD_NUMBERS.filter((v) => v !== 0).map((v) => [{ name: "wg0", moved: 0, pending: v }]),
  ];
  const before = snapshot(m);
  const sent = (body: unknown) =>
    signedRequest(m, "POST", "/api/sync/heartbeat", body, {
      nodeId: a.node.id,
      key: a.key,
      bearer: a.secret,
    });
  for (const body of ["x", [], null, 42]) {
    const { res, text } = await sent(body);
    assert.ok([400, 413, 422].includes(res.status), `${JSON.stringify(body)}: ${res.status} ${text}`);
  }
  for (const [field, list] of [["pools", pools], ["wg_rotation", rotations]] as const) {
    for (const value of list) {
      const { res, text } = await sendHeartbeat(m, a, { [field]: value } as never);
      const what = `${field} ${JSON.stringify(value).slice(0, 120)}`;
      assert.ok([400, 413, 422].includes(res.status), `${what}: ${res.status} ${text.slice(0, 300)}`);
      assert.equal(typeof JSON.parse(text).error?.message, "string", what);
    }
  }
  assert.equal(snapshot(m), before);
  assert.equal(m.services.pools.get(pool.id).members[0]!.report, null);
  m.close();
});

Deno.test("a heartbeat's well-formed reports about pools and devices the node does not have change nothing", async () => {
  const { m, a, pool, wg0Id } = await setup();
  const before = snapshot(m);
  const reports = [
    [{ id: wg0Id, state: "serving", detail: null, sessions: 3 }],
    [{ id: 999_999, state: "fault", detail: CONTROL, sessions: 0 }],
    [{ id: Number.MAX_SAFE_INTEGER, state: "backup", detail: null, sessions: Number.MAX_SAFE_INTEGER }],
  ];
  for (const r of reports) {
    const { res, text } = await sendHeartbeat(m, a, { pools: r } as never);
    assert.equal(res.status, 200, `${JSON.stringify(r)}: ${text.slice(0, 300)}`);
  }
  const rotations = [
    [{ name: "wg9", moved: 5, pending: 1 }],
    [{ name: "wg0", moved: Number.MAX_SAFE_INTEGER, pending: Number.MAX_SAFE_INTEGER }],
  ];
  for (const r of rotations) {
    const { res, text } = await sendHeartbeat(m, a, { wg_rotation: r } as never);
    assert.equal(res.status, 200, `${JSON.stringify(r)}: ${text.slice(0, 300)}`);
  }
  assert.equal(snapshot(m), before);
  assert.equal(m.services.pools.get(pool.id).members[0]!.report, null);
  m.close();
});
