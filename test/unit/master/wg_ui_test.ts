import assert from "node:assert/strict";
import { generateKeyPair } from "../../../src/core/wg_keys.ts";
import { testMaster } from "../../support/master.ts";

type M = Awaited<ReturnType<typeof testMaster>>;

const IFACE = {
  name: "wg0",
  ipv4_pool: "10.13.13.0/24",
  ipv6_pool: "",
  listen_port: "51820",
  mtu: "",
  dns: "1.1.1.1",
  keepalive: "25",
  endpoint_host: "",
};

const PEER = {
  interface_id: "1",
  name: "alice-phone",
  node_id: "",
  routing: "full",
  allowed_ips: "",
  public_key: "",
  expires_at: "",
  preshared_key: "on",
  enabled: "on",
};

/** A master with an admin (and a viewer) logged in and, unless told otherwise, interface wg0. */
async function setup(opts: { iface?: boolean } = {}) {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.addUser("vera", "viewer");
  const admin = await m.login("root");
  const viewer = await m.login("vera");
  if (opts.iface !== false) {
    const res = await m.form("/ui/interfaces", IFACE, { cookie: admin });
    assert.equal(res.status, 303, await res.text());
  }
  return { m, admin, viewer };
}

const addPeer = (m: M, cookie: string, fields: Record<string, string> = {}) =>
  m.form("/ui/peers", { ...PEER, ...fields }, { cookie });

const peerCount = (m: M) => m.db.get<{ n: number }>("SELECT count(*) AS n FROM peers")!.n;
const ifaceCount = (m: M) => m.db.get<{ n: number }>("SELECT count(*) AS n FROM interfaces")!.n;
const audits = (m: M, action: string) => m.services.audit.list({ action }).length;

async function flashOf(m: M, res: Response, cookie: string): Promise<string> {
  const flash = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
  const page = await m.request(res.headers.get("location")!, { cookie: `${cookie}; ${flash}` });
  const html = await page.text();
  return html.match(/id="flash">([^<]*)</)?.[1] ?? "";
}

/** The message of the field named in a 422/409 re-render. */
const fieldError = (html: string, field: string) =>
  html.match(new RegExp(`data-field="${field}">([^<]*)<`))?.[1];

// --- interfaces ---------------------------------------------------------------------------------

Deno.test("the interfaces page lists interfaces and an admin creates one through the form", async () => {
  const { m, admin } = await setup({ iface: false });
  const empty = await m.request("/ui/interfaces", { cookie: admin });
  assert.equal(empty.status, 200);
  assert.match(await empty.text(), /No interfaces yet/);

  const res = await m.form("/ui/interfaces", { ...IFACE, ipv6_pool: "fd42:13::/64", mtu: "1420" }, {
    cookie: admin,
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/ui/interfaces");
  assert.match(await flashOf(m, res, admin), /Interface wg0 created \(10\.13\.13\.1\/24, port 51820\)/);
  const html = await (await m.request("/ui/interfaces", { cookie: admin })).text();
  assert.match(html, /<tr id="interface-1">/);
  assert.match(html, /10\.13\.13\.1\/24/);
  assert.match(html, /fd42:13::1\/64/);
  const i = m.services.interfaces.get(1);
  assert.equal(i.mtu, 1420);
  assert.equal(i.keepalive, 25);
  assert.deepEqual(i.dns, ["1.1.1.1"]);
  assert.match(html, new RegExp(i.publicKey.replace(/[+/]/g, "\\$&")));
  assert.equal(audits(m, "interface.create"), 1);
  m.close();
});

Deno.test("the interface form answers bad input with a 4xx naming the field and creates nothing", async () => {
  const { m, admin } = await setup();
  const cases: [Record<string, string>, string, number][] = [
    [{ name: "wg1", ipv4_pool: "10.99.0.0/33" }, "ipv4_pool", 422],
    [{ name: "wg1", ipv4_pool: "not-a-cidr" }, "ipv4_pool", 422],
    [{ name: "wg1", ipv4_pool: "10.99.0.0/24", listen_port: "eighty" }, "listen_port", 422],
    [{ name: "wg1", ipv4_pool: "10.99.0.0/24", listen_port: "70000" }, "listen_port", 422],
    [{ name: "wg1", ipv4_pool: "10.99.0.0/24", listen_port: "51821", mtu: "big" }, "mtu", 422],
    [{ name: "wg1", ipv4_pool: "10.99.0.0/24", listen_port: "51821", dns: "1.1.1" }, "dns", 422],
    [{ name: "wg0", ipv4_pool: "10.99.0.0/24", listen_port: "51821" }, "name", 409],
    [{ name: "wg1", ipv4_pool: "10.13.13.128/25", listen_port: "51821" }, "ipv4_pool", 409],
    [{ name: "x".repeat(5000), ipv4_pool: "10.99.0.0/24", listen_port: "51821" }, "name", 422],
  ];
  for (const [fields, field, status] of cases) {
    const res = await m.form("/ui/interfaces", { ...IFACE, ...fields }, { cookie: admin });
    const html = await res.text();
    assert.equal(res.status, status, `${JSON.stringify(fields).slice(0, 80)} → ${res.status}`);
    assert.ok(fieldError(html, field), `the error names ${field}`);
    assert.match(html, /<form method="post" action="\/ui\/interfaces"/, "the form is shown again");
  }
  assert.equal(ifaceCount(m), 1);
  m.close();
});

Deno.test("an admin edits an interface; a bad port re-renders the edit form with 422", async () => {
  const { m, admin } = await setup();
  const page = await m.request("/ui/interfaces/1/edit", { cookie: admin });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /name="listen_port" type="text" value="51820"/);
  assert.match(html, /name="name" value="wg0" readonly/);

  const bad = await m.form("/ui/interfaces/1", { ...IFACE, listen_port: "80a" }, { cookie: admin });
  assert.equal(bad.status, 422);
  assert.match(fieldError(await bad.text(), "listen_port") ?? "", /port/);
  assert.equal(m.services.interfaces.get(1).listenPort, 51820);

  const ok = await m.form("/ui/interfaces/1", { ...IFACE, listen_port: "51900", keepalive: "" }, {
    cookie: admin,
  });
  assert.equal(ok.status, 303);
  const i = m.services.interfaces.get(1);
  assert.equal(i.listenPort, 51900);
  assert.equal(i.keepalive, null, "an emptied field clears the value");
  assert.equal(audits(m, "interface.update"), 1);
  assert.equal((await m.request("/ui/interfaces/9/edit", { cookie: admin })).status, 404);
  m.close();
});

Deno.test("deleting an interface is refused with a clear message while it has peers", async () => {
  const { m, admin } = await setup();
  assert.equal((await addPeer(m, admin)).status, 303);
  const refused = await m.form("/ui/interfaces/1/delete", {}, { cookie: admin });
  assert.equal(refused.status, 303);
  assert.match(await flashOf(m, refused, admin), /Interface wg0 still has 1 peer\(s\); delete them first/);
  assert.equal(ifaceCount(m), 1);

  assert.equal((await m.form("/ui/peers/1/delete", {}, { cookie: admin })).status, 303);
  const ok = await m.form("/ui/interfaces/1/delete", {}, { cookie: admin });
  assert.match(await flashOf(m, ok, admin), /Interface wg0 deleted/);
  assert.equal(ifaceCount(m), 0);
  assert.equal(audits(m, "interface.delete"), 1);
  m.close();
});

// --- peers --------------------------------------------------------------------------------------

Deno.test("an admin adds a peer through the form; form strings become the service's types", async () => {
  const { m, admin } = await setup();
  const res = await addPeer(m, admin, { expires_at: "2031-05-01T10:30", preshared_key: "" });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/ui/peers");
  assert.match(await flashOf(m, res, admin), /Peer alice-phone added \(10\.13\.13\.2\/32\)/);
  const p = m.services.peers.get(1);
  assert.equal(p.interfaceId, 1);
  assert.equal(p.nodeId, null);
  assert.equal(p.enabled, true);
  assert.equal(p.hasPresharedKey, false, "an unchecked box is false");
  assert.equal(p.hasPrivateKey, true);
  assert.equal(p.expiresAt, Date.parse("2031-05-01T10:30:00Z"), "datetime-local is read as UTC");
  assert.equal(audits(m, "peer.create"), 1);

  const own = await generateKeyPair();
  await addPeer(m, admin, {
    name: "bob laptop",
    public_key: own.publicKey,
    routing: "custom",
    allowed_ips: "10.13.13.0/24, 192.168.7.0/24",
  });
  const b = m.services.peers.get(2);
  assert.equal(b.publicKey, own.publicKey);
  assert.equal(b.hasPrivateKey, false);
  assert.equal(b.hasPresharedKey, true, "the preshared key is on by default");
  assert.deepEqual(b.allowedIps, ["10.13.13.0/24", "192.168.7.0/24"]);

  const html = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.match(html, /<tr id="peer-1">/);
  assert.match(html, /alice-phone/);
  assert.match(html, /bob laptop/);
  assert.match(html, /<span class="badge local">Master<\/span>/);
  assert.match(html, /<dialog id="modal"/);
  assert.match(html, /<head>[\s\S]*<script src="\/static\/app.js" defer=""><\/script>[\s\S]*<\/head>/);
  assert.match(html, /hx-trigger="input changed delay:300ms, search"/);
  m.close();
});

Deno.test("the peer form answers bad input with a 4xx naming the field and creates nothing", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin);
  const cases: [Record<string, string>, string, number][] = [
    [{ name: "p2", public_key: "not-a-key" }, "public_key", 422],
    [{ name: "p2", routing: "custom", allowed_ips: "10.0.0.0/99" }, "allowed_ips", 422],
    [{ name: "p2", routing: "custom", allowed_ips: "" }, "allowed_ips", 422],
    [{ name: "p2", routing: "sideways" }, "routing", 422],
    [{ name: "p2", interface_id: "one" }, "interface_id", 422],
    [{ name: "p2", interface_id: "7" }, "interface_id", 422],
    [{ name: "p2", node_id: "abc" }, "node_id", 422],
    [{ name: "p2", node_id: "999" }, "node_id", 422],
    [{ name: "p2", expires_at: "tomorrow" }, "expires_at", 422],
    [{ name: "p2", expires_at: "2001-01-01T00:00" }, "expires_at", 422],
    [{ name: "p2", enabled: "maybe" }, "enabled", 422],
    [{ name: "<script>" }, "name", 422],
    [{ name: "y".repeat(5000) }, "name", 422],
    [{ name: "alice-phone" }, "name", 409],
  ];
  for (const [fields, field, status] of cases) {
    const res = await addPeer(m, admin, fields);
    const html = await res.text();
    assert.equal(res.status, status, `${JSON.stringify(fields).slice(0, 80)} → ${res.status}`);
    assert.ok(fieldError(html, field), `${JSON.stringify(fields).slice(0, 60)} names ${field}`);
    assert.match(html, /<html/, "a plain POST gets the form as a page");
    assert.ok(!html.includes("<script>&"), "nothing is echoed unescaped");
  }
  assert.equal(peerCount(m), 1);
  const huge = await addPeer(m, admin, { name: "z".repeat(20_000) });
  assert.equal(huge.status, 422, "a field over the form limit is refused");
  assert.match(await huge.text(), /name is too long/);
  assert.equal(peerCount(m), 1);
  m.close();
});

Deno.test("the add and edit forms load into the dialog for htmx and work as pages without it", async () => {
  const { m, admin } = await setup();
  const hx = { "hx-request": "true", "hx-target": "modal" };
  const page = await m.request("/ui/peers/new", { cookie: admin });
  const pageHtml = await page.text();
  assert.match(pageHtml, /<html/);
  assert.match(pageHtml, /<form method="post" action="\/ui\/peers"/);
  assert.match(
    pageHtml,
    /<option value="" selected="">Master \(local\) — not running \(never started\)<\/option>/,
  );
  assert.match(pageHtml, /name="preshared_key" value="on" checked=""/, "preshared key on by default");

  const fragment = await (await m.request("/ui/peers/new", { cookie: admin, headers: hx })).text();
  assert.ok(!fragment.includes("<html"), "htmx gets only the fragment");
  assert.match(fragment, /<form method="dialog">/);
  assert.match(fragment, /hx-post="\/ui\/peers" hx-target="#modal"/);

  const bad = await m.form("/ui/peers", { ...PEER, name: "" }, { cookie: admin, headers: hx });
  assert.equal(bad.status, 422);
  const badHtml = await bad.text();
  assert.ok(!badHtml.includes("<html"), "a 422 from the dialog re-renders the dialog");
  assert.ok(fieldError(badHtml, "name"));

  const ok = await m.form("/ui/peers", PEER, { cookie: admin, headers: hx });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.headers.get("hx-location")!), { path: "/ui/peers", target: "body" });
  assert.match(ok.headers.get("set-cookie") ?? "", /wb_flash=/);

  const edit = await (await m.request("/ui/peers/1/edit", { cookie: admin, headers: hx })).text();
  assert.match(edit, /hx-post="\/ui\/peers\/1"/);
  assert.match(edit, /value="alice-phone"/);
  assert.match(await (await m.request("/ui/peers/1/edit", { cookie: admin })).text(), /<html/);
  m.close();
});

Deno.test("an admin edits a peer; an untouched past expiry does not block a rename", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin, { expires_at: "2026-12-01T00:00" });
  const res = await m.form("/ui/peers/1", {
    ...PEER,
    name: "alice-tablet",
    routing: "split",
    preshared_key: "",
    expires_at: "2026-12-01T00:00",
  }, { cookie: admin });
  assert.equal(res.status, 303, await res.text());
  let p = m.services.peers.get(1);
  assert.equal(p.name, "alice-tablet");
  assert.equal(p.routing, "split");
  assert.equal(p.hasPresharedKey, false);

  m.clock.advance(Date.parse("2026-12-15T00:00:00Z") - m.clock.now());
  const admin2 = await m.login("root"); // the old session expired with the years
  const edit = await (await m.request("/ui/peers/1/edit", { cookie: admin2 })).text();
  assert.match(edit, /name="expires_at" type="datetime-local" value="2026-12-01T00:00"/);
  const rename = await m.form("/ui/peers/1", {
    ...PEER,
    name: "alice-old",
    expires_at: "2026-12-01T00:00",
  }, { cookie: admin2 });
  assert.equal(rename.status, 303);
  p = m.services.peers.get(1);
  assert.equal(p.name, "alice-old");
  assert.equal(p.expired, true);
  assert.match(await (await m.request("/ui/peers", { cookie: admin2 })).text(), /status-expired/);

  const bad = await m.form("/ui/peers/1", { ...PEER, name: "ok", public_key: "short" }, { cookie: admin2 });
  assert.equal(bad.status, 422);
  assert.ok(fieldError(await bad.text(), "public_key"));
  assert.equal(m.services.peers.get(1).name, "alice-old");
  m.close();
});

Deno.test("toggle and delete return to the same page of the list and are audited", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin);
  const back = "/ui/peers?q=alice&page=1";
  const off = await m.form("/ui/peers/1/toggle", { back }, { cookie: admin });
  assert.equal(off.status, 303);
  assert.equal(off.headers.get("location"), back);
  assert.match(await flashOf(m, off, admin), /Peer alice-phone disabled/);
  assert.equal(m.services.peers.get(1).enabled, false);
  assert.match(await (await m.request("/ui/peers", { cookie: admin })).text(), />Enable</);
  const evil = await m.form("/ui/peers/1/toggle", { back: "https://evil.example/" }, { cookie: admin });
  assert.equal(evil.headers.get("location"), "/ui/peers", "never redirects off the list");
  assert.equal(m.services.peers.get(1).enabled, true);
  const del = await m.form("/ui/peers/1/delete", { back }, { cookie: admin });
  assert.match(await flashOf(m, del, admin), /Peer alice-phone deleted/);
  assert.equal(peerCount(m), 0);
  assert.equal(audits(m, "peer.update"), 2);
  assert.equal(audits(m, "peer.delete"), 1);
  assert.equal((await m.form("/ui/peers/1/delete", {}, { cookie: admin })).status, 404);
  m.close();
});

Deno.test("search, filters and page links work on the server, fragment for htmx", async () => {
  const { m, admin } = await setup();
  await m.form("/ui/interfaces", { ...IFACE, name: "wg1", ipv4_pool: "10.14.0.0/16", listen_port: "51821" }, {
    cookie: admin,
  });
  const actor = { kind: "system" as const, name: "test" };
  for (let n = 0; n < 120; n++) {
    await m.services.peers.create(actor, null, {
      interface_id: n < 100 ? 1 : 2,
      name: `dev-${String(n).padStart(3, "0")}`,
      preshared_key: false,
    });
  }
  const page1 = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.match(page1, /1–50 of 120 peers/);
  assert.match(page1, /href="\/ui\/peers\?page=2" hx-get="\/ui\/peers\?page=2" hx-target="#peer-table"/);
  assert.ok(page1.includes("dev-049") && !page1.includes("dev-050"));

  const hx = { "hx-request": "true", "hx-target": "peer-table" };
  const page3 = await (await m.request("/ui/peers?page=3", { cookie: admin, headers: hx })).text();
  assert.ok(page3.startsWith('<div id="peer-table">'), "htmx gets the table fragment only");
  assert.match(page3, /101–120 of 120 peers/);
  assert.ok(page3.includes("dev-119") && !page3.includes("dev-099"));

  const searchRes = await m.request("/ui/peers?q=dev-11&interface_id=&node=", { cookie: admin, headers: hx });
  assert.equal(
    searchRes.headers.get("hx-push-url"),
    "/ui/peers?q=dev-11",
    "the address bar gets the clean URL",
  );
  const search = await searchRes.text();
  assert.match(search, /1–10 of 10 peers/);
  const byIface = await (await m.request("/ui/peers?interface_id=2", { cookie: admin, headers: hx })).text();
  assert.match(byIface, /1–20 of 20 peers/);
  assert.match(byIface, /href="\/ui\/peers\?interface_id=2&amp;page=1"|1–20 of 20/);
  const local = await (await m.request("/ui/peers?node=local&q=dev-00", { cookie: admin, headers: hx }))
    .text();
  assert.match(local, /1–10 of 10 peers/);
  const none = await (await m.request("/ui/peers?q=nobody", { cookie: admin, headers: hx })).text();
  assert.match(none, /No peers match/);
  const past = await (await m.request("/ui/peers?page=999", { cookie: admin, headers: hx })).text();
  assert.match(past, /101–120 of 120 peers/, "past the end shows the last page");
  const junk = await m.request(`/ui/peers?page=abc&interface_id=-1&node=x&q=${"q".repeat(300)}`, {
    cookie: admin,
  });
  assert.equal(junk.status, 200, "junk in the query string is ignored, not an error");
  m.close();
});

// --- config, QR code and nodes ------------------------------------------------------------------

Deno.test("the config download is an attachment, never cached, and audited", async () => {
  const { m, admin, viewer } = await setup();
  await addPeer(m, admin);
  const res = await m.request("/ui/peers/1/config", { cookie: admin, ip: "203.0.113.9" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-disposition"), 'attachment; filename="alice-phone.conf"');
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await res.text();
  assert.match(text, /^\[Interface\]\nPrivateKey = /);
  assert.match(text, /Endpoint = vpn\.example\.com:51820/);
  const entry = m.services.audit.list({ action: "peer.config" })[0]!;
  assert.equal(entry.target, "alice-phone");
  assert.equal(entry.actor, "root");
  assert.equal(entry.ip, "203.0.113.9");
  // A config holds private keys: a viewer cannot download it (and nothing is audited as a download).
  assert.equal((await m.request("/ui/peers/1/config", { cookie: viewer })).status, 403);
  assert.equal((await m.request("/ui/peers/1/qr.svg", { cookie: viewer })).status, 403);
  assert.equal(audits(m, "peer.config"), 1);
  assert.equal((await m.request("/ui/peers/77/config", { cookie: admin })).status, 404);
  m.close();
});

Deno.test("the QR code is an SVG route that is never cached and audited; its dialog links the .conf", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin);
  const res = await m.request("/ui/peers/1/qr.svg", { cookie: admin });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/svg+xml");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const svg = await res.text();
  assert.match(svg, /^<svg|^<\?xml/);
  assert.equal(audits(m, "peer.qr"), 1);

  const dialog = await (await m.request("/ui/peers/1/qr", {
    cookie: admin,
    headers: { "hx-request": "true", "hx-target": "modal" },
  })).text();
  assert.ok(!dialog.includes("<html"));
  assert.match(dialog, /<img class="qr" id="peer-qr" src="\/ui\/peers\/1\/qr.svg"/);
  assert.match(dialog, /href="\/ui\/peers\/1\/config" hx-boost="false" download/);
  const page = await (await m.request("/ui/peers/1/qr", { cookie: admin })).text();
  assert.match(page, /<html/);
  assert.match(page, /src="\/ui\/peers\/1\/qr.svg"/);
  assert.equal(audits(m, "peer.qr"), 1, "only the image itself is audited");
  m.close();
});

Deno.test("a peer served by a node shows the node as a badge in its row, its form and its QR image", async () => {
  const { m, admin } = await setup();
  const node = m.db.run(
    "INSERT INTO nodes (name, fqdn, wg_port, created_at, updated_at) VALUES ('edge-fra', 'fra.example.net', 51820, 0, 0)",
  ).lastInsertRowid;
  // The node has reported its key for wg0 (what the nodes sync does), so its peers' configs are ready.
  const nodeKey = (await generateKeyPair()).publicKey;
  m.db.run(
    "INSERT INTO node_interfaces (node_id, interface_id, address4, public_key) VALUES (:node, 1, '10.13.13.254/32', :key)",
    { node, key: nodeKey },
  );
  const form = await (await m.request("/ui/peers/new", { cookie: admin })).text();
  assert.match(form, new RegExp(`<option value="${node}">edge-fra — waiting to enroll</option>`));
  assert.equal((await addPeer(m, admin, { node_id: String(node) })).status, 303);
  await addPeer(m, admin, { name: "local-one" });
  assert.equal(m.services.peers.get(1).nodeId, node);

  const list = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.match(list, /<span class="badge node">edge-fra<\/span>/);
  const filtered = await (await m.request(`/ui/peers?node=${node}`, { cookie: admin })).text();
  assert.match(filtered, /1–1 of 1 peers/);
  assert.match(
    filtered,
    new RegExp(`<option value="${node}" selected="">edge-fra — waiting to enroll</option>`),
  );

  const svg = await (await m.request("/ui/peers/1/qr.svg", { cookie: admin })).text();
  assert.match(svg, />edge-fra</, "the badge label is in the SVG");
  const localSvg = await (await m.request("/ui/peers/2/qr.svg", { cookie: admin })).text();
  assert.ok(!localSvg.includes("edge-fra"), "a local peer gets no badge");
  const conf = await (await m.request("/ui/peers/1/config", { cookie: admin })).text();
  assert.match(conf, /Endpoint = fra\.example\.net:51820/);
  assert.ok(conf.includes(`PublicKey = ${nodeKey}`), "the node's own interface key");
  m.close();
});

// --- permissions --------------------------------------------------------------------------------

Deno.test("a viewer sees interfaces and peers but gets no forms, and every mutation is refused with 403", async () => {
  const { m, admin, viewer } = await setup();
  await addPeer(m, admin);
  const ifaces = await m.request("/ui/interfaces", { cookie: viewer });
  assert.equal(ifaces.status, 200);
  const ifHtml = await ifaces.text();
  assert.match(ifHtml, /wg0/);
  assert.ok(!ifHtml.includes('method="post" action="/ui/interfaces'), "no interface forms");
  const peers = await (await m.request("/ui/peers", { cookie: viewer })).text();
  assert.match(peers, /alice-phone/);
  for (const absent of ["/ui/peers/new", 'action="/ui/peers/1/', "/ui/peers/1/edit"]) {
    assert.ok(!peers.includes(absent), `no ${absent} for a viewer`);
  }
  for (const path of ["/ui/peers/new", "/ui/peers/1/edit", "/ui/interfaces/1/edit"]) {
    assert.equal((await m.request(path, { cookie: viewer })).status, 403, path);
  }
  const before = m.db.all("SELECT * FROM peers");
  const posts: [string, Record<string, string>][] = [
    ["/ui/interfaces", { ...IFACE, name: "wg9", ipv4_pool: "10.50.0.0/24", listen_port: "51899" }],
    ["/ui/interfaces/1", { ...IFACE, listen_port: "51999" }],
    ["/ui/interfaces/1/delete", {}],
    ["/ui/peers", { ...PEER, name: "sneaky" }],
    ["/ui/peers", { ...PEER, name: "" }],
    ["/ui/peers/1", { ...PEER, name: "renamed" }],
    ["/ui/peers/1/toggle", {}],
    ["/ui/peers/1/delete", {}],
  ];
  for (const [path, fields] of posts) {
    const res = await m.form(path, fields, { cookie: viewer });
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /Not allowed/);
  }
  assert.deepEqual(m.db.all("SELECT * FROM peers"), before);
  assert.equal(ifaceCount(m), 1);
  assert.equal(m.services.interfaces.get(1).listenPort, 51820);
  m.close();
});

Deno.test("csrf rejects a cross-site POST to /ui/peers and /ui/interfaces and changes nothing", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin);
  const evil = { cookie: admin, origin: "https://evil.example" };
  const posts: [string, Record<string, string>][] = [
    ["/ui/peers", { ...PEER, name: "csrf" }],
    ["/ui/peers/1/toggle", {}],
    ["/ui/peers/1/delete", {}],
    ["/ui/interfaces", { ...IFACE, name: "wg7", ipv4_pool: "10.70.0.0/24", listen_port: "51870" }],
    ["/ui/interfaces/1/delete", {}],
  ];
  for (const [path, fields] of posts) {
    assert.equal((await m.form(path, fields, evil)).status, 403, path);
  }
  assert.equal(
    (await m.form("/ui/peers", { ...PEER, name: "no-origin" }, { cookie: admin, origin: null })).status,
    403,
  );
  assert.equal(peerCount(m), 1);
  assert.equal(m.services.peers.get(1).enabled, true);
  assert.equal(ifaceCount(m), 1);
  m.close();
});

Deno.test("/ui interface and peer pages need a session", async () => {
  const m = await testMaster();
  for (const path of ["/ui/peers", "/ui/interfaces", "/ui/peers/1/config", "/ui/peers/1/qr.svg"]) {
    const res = await m.request(path);
    assert.equal(res.status, 303, path);
    assert.match(res.headers.get("location") ?? "", /^\/login\?next=/);
  }
  m.close();
});

// --- dashboard ----------------------------------------------------------------------------------

Deno.test("the dashboard counts interfaces and peers and is honest about handshakes", async () => {
  const { m, admin } = await setup();
  const node = m.db.run(
    "INSERT INTO nodes (name, fqdn, wg_port, created_at, updated_at) VALUES ('edge-1', 'e1.example.net', 51820, 0, 0)",
  ).lastInsertRowid;
  await addPeer(m, admin);
  await addPeer(m, admin, { name: "off", enabled: "" });
  assert.equal((await addPeer(m, admin, { name: "remote", node_id: String(node) })).status, 303);
  await addPeer(m, admin, { name: "soon", expires_at: "2026-12-01T00:00" });
  m.clock.advance(Date.parse("2026-12-15T00:00:00Z") - m.clock.now());
  const html = await (await m.request("/ui/dashboard", { cookie: await m.login("root") })).text();
  const stat = (id: string) =>
    html.match(new RegExp(`id="${id}"><h2>[^<]*</h2><p class="big">(?:<a[^>]*>)?(\\d+)`))?.[1];
  assert.equal(stat("stat-interfaces"), "1");
  assert.equal(stat("stat-peers"), "4");
  assert.equal(stat("stat-enabled"), "3");
  assert.equal(stat("stat-expired"), "1");
  assert.equal(stat("stat-local"), "3");
  assert.equal(stat("stat-nodes"), "1");
  assert.match(html, /Latest handshakes/);
  assert.match(html, /No handshakes reported in the last 24 hours/);
  m.close();
});

Deno.test("the dialog script is served as a static file (no inline script under the CSP)", async () => {
  const m = await testMaster();
  const res = await m.request("/static/app.js");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /javascript/);
  assert.match(await res.text(), /showModal\(\)/);
  m.close();
});

Deno.test("the dashboard lists the latest handshakes reported in metrics, newest first", async () => {
  const m = await testMaster();
  const token = await m.token("write");
  await m.addUser("root", "admin");
  const cookie = await m.login("root");
  const iface = await (await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.9.0.0/24" },
  })).json();
  const a = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "old-phone" },
  })).json();
  const b = await (await m.api("/peers", {
    method: "POST",
    token,
    json: { interface_id: iface.id, name: "new-laptop" },
  })).json();
  const now = m.clock.now();
  for (const [peer, ago] of [[a, 3 * 3_600_000], [b, 5 * 60_000]] as const) {
    m.db.run(
      "INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint) VALUES (:k, 0, :at, NULL, 1, 1, :h, '198.51.100.9:40000')",
      { k: peer.public_key, at: now - 1000, h: Math.floor((now - ago) / 1000) },
    );
  }
  const html = await (await m.request("/ui/dashboard", { cookie })).text();
  const section = html.slice(html.indexOf('id="handshakes"'));
  assert.ok(section.indexOf("new-laptop") < section.indexOf("old-phone"));
  assert.match(section, /5 min ago/);
  assert.match(section, /3 h ago/);
  m.close();
});

// --- defects found walking the UI as a new user (issue 12) ---------------------------------------

Deno.test("a viewer's QR page is a 403 page, not a page with a broken image", async () => {
  const { m, admin, viewer } = await setup();
  await addPeer(m, admin);
  const asHtmx: Record<string, string> = { "hx-request": "true", "hx-target": "modal" };
  for (const headers of [{}, asHtmx]) {
    const res = await m.request("/ui/peers/1/qr", { cookie: viewer, headers });
    assert.equal(res.status, 403);
    const html = await res.text();
    assert.doesNotMatch(html, /<img class="qr"/);
    assert.match(html, /Only admins can see a peer&#39;s QR code: it holds the peer&#39;s private key\./);
  }
  assert.equal((await m.request("/ui/peers/1/qr.svg", { cookie: viewer })).status, 403);
  m.close();
});

Deno.test("after a 409 the edit heading keeps the peer's saved name, the form keeps the rejected one", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin);
  await addPeer(m, admin, { name: "bob" });
  const res = await m.form("/ui/peers/2", { ...PEER, name: "alice-phone" }, { cookie: admin });
  assert.equal(res.status, 409);
  const html = await res.text();
  assert.match(html, /<h1>Edit peer bob<\/h1>/);
  assert.match(html, /name="name" type="text" value="alice-phone"/);
  assert.equal(fieldError(html, "name"), "Name: is already taken on this interface");
  m.close();
});

Deno.test("a bad AllowedIPs entry is named, once, whatever else is in the list", async () => {
  const { m, admin } = await setup();
  const res = await addPeer(m, admin, { routing: "custom", allowed_ips: "10.0.0.0/8, 10.0.0.999/8, nope" });
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.equal(
    fieldError(html, "allowed_ips"),
    "Custom AllowedIPs: &quot;10.0.0.999/8&quot;, &quot;nope&quot; are not address/prefix entries (like 10.0.0.0/8)",
  );
  const one = await (await addPeer(m, admin, { routing: "custom", allowed_ips: "192.168.1.0/24 banana" }))
    .text();
  assert.equal(
    fieldError(one, "allowed_ips"),
    "Custom AllowedIPs: &quot;banana&quot; is not an address/prefix (like 10.0.0.0/8)",
  );
  assert.equal(peerCount(m), 0);
  m.close();
});

Deno.test("every bad field of a form is named in one answer, not one round per check", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin, { name: "taken" });
  // A bad key (schema), custom routing without AllowedIPs and a past expiry (checks after the schema),
  // and a taken name (a conflict): all four at once.
  const res = await addPeer(m, admin, {
    name: "taken",
    public_key: "not-a-key",
    routing: "custom",
    allowed_ips: "",
    expires_at: "2001-01-01T00:00",
  });
  assert.equal(res.status, 422);
  const html = await res.text();
  for (const field of ["name", "public_key", "allowed_ips", "expires_at"]) {
    assert.ok(fieldError(html, field), `${field} is named`);
  }
  assert.equal(peerCount(m), 1);

  // Interfaces: a taken name, a taken port and an overlapping pool, together.
  const dup = await m.form("/ui/interfaces", { ...IFACE, mtu: "99" }, { cookie: admin });
  assert.equal(dup.status, 422);
  const dupHtml = await dup.text();
  for (const field of ["mtu", "name", "listen_port", "ipv4_pool"]) {
    assert.ok(fieldError(dupHtml, field), `${field} is named`);
  }
  const conflicts = await m.form("/ui/interfaces", IFACE, { cookie: admin });
  assert.equal(conflicts.status, 409);
  const cHtml = await conflicts.text();
  for (const field of ["name", "listen_port", "ipv4_pool"]) assert.ok(fieldError(cHtml, field), field);
  assert.equal(ifaceCount(m), 1);
  m.close();
});

Deno.test("the interface name hint says what the rule takes", async () => {
  const { m, admin } = await setup({ iface: false });
  const html = await (await m.request("/ui/interfaces", { cookie: admin })).text();
  assert.match(html, /Like wg0: 1-15 letters, digits or _ \. = \+ -/);
  const ok = await m.form("/ui/interfaces", { ...IFACE, name: "wg.a_b=c+d-e" }, { cookie: admin });
  assert.equal(ok.status, 303, "every character the hint names is taken");
  const bad = await m.form("/ui/interfaces", { ...IFACE, name: "wg/0", listen_port: "51821" }, {
    cookie: admin,
  });
  assert.equal(fieldError(await bad.text(), "name"), "Name: must be 1-15 letters, digits or _.=+-");
  m.close();
});

Deno.test("the QR dialog's download link says the file name the download really gets, and the endpoint", async () => {
  const { m, admin } = await setup();
  await addPeer(m, admin, { name: "bob laptop (work)" });
  const conf = await m.request("/ui/peers/1/config", { cookie: admin });
  const filename = conf.headers.get("content-disposition")?.match(/filename="([^"]+)"/)?.[1];
  assert.ok(filename);
  await conf.body?.cancel();
  const dialog = await (await m.request("/ui/peers/1/qr", {
    cookie: admin,
    headers: { "hx-request": "true", "hx-target": "modal" },
  })).text();
  assert.match(
    dialog,
    new RegExp(
      `download="${filename.replace(/[.()]/g, "\\$&")}" id="qr-download">Download ${
        filename.replace(/[.()]/g, "\\$&")
      }<`,
    ),
  );
  assert.match(dialog, /at <code>vpn\.example\.com:51820<\/code>/);
  assert.doesNotMatch(dialog, /id="endpoint-warning"/);
  m.close();
});

Deno.test("a client config whose endpoint is loopback is warned about in the QR dialog", async () => {
  const { m, admin } = await setup();
  await m.form("/ui/interfaces/1", { ...IFACE, endpoint_host: "127.0.0.1" }, { cookie: admin });
  await addPeer(m, admin);
  const page = await (await m.request("/ui/peers/1/qr", { cookie: admin })).text();
  assert.match(
    page,
    /id="endpoint-warning">This config connects to 127\.0\.0\.1:51820, an address only the master&#39;s own machine can reach/,
  );
  m.close();
});

Deno.test("an address with a bad id shows a plain not-found page, not an internal message", async () => {
  const { m, admin } = await setup();
  const res = await m.request("/ui/peers/abc/edit", { cookie: admin });
  assert.equal(res.status, 404);
  const html = await res.text();
  assert.doesNotMatch(html, /No such id/);
  assert.match(html, /There is nothing at this address/);
  m.close();
});

// --- live status, sorting, bulk actions ------------------------------------------------------------

/** A sample as a node's heartbeat stores it. */
function sample(
  m: M,
  key: string,
  at: number,
  rx: number,
  tx: number,
  handshakeAt: number | null,
  endpoint: string,
) {
  m.db.run(
    `INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint)
     VALUES (:key, 0, :at, NULL, :rx, :tx, :hs, :endpoint)`,
    { key, at, rx, tx, hs: handshakeAt === null ? 0 : Math.floor(handshakeAt / 1000), endpoint },
  );
}

const liveOf = (html: string, id: number) =>
  html.match(new RegExp(`<div class="live" id="live-${id}"[^>]*>([\\s\\S]*?)</div>`))?.[1] ?? "";

Deno.test("each peer shows whether it is online, its latest handshake, rx/tx and endpoint; the list refreshes them in place", async () => {
  const { m, admin } = await setup();
  for (const name of ["alice", "bob", "carol"]) await addPeer(m, admin, { name });
  const now = m.clock.now();
  const [a, b] = [m.services.peers.get(1), m.services.peers.get(2)];
  sample(m, a.publicKey, now - 20_000, 5 * 1024 * 1024, 300 * 1024, now - 30_000, "198.51.100.7:41000");
  sample(m, b.publicKey, now - 20_000, 1024, 2048, now - 10 * 60_000, "198.51.100.8:5000");

  const html = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.match(liveOf(html, 1), /<strong class="online">online<\/strong>/);
  assert.match(liveOf(html, 1), /last handshake 30 s ago/);
  assert.match(liveOf(html, 1), /rx 5 MiB · tx 300 KiB/);
  assert.match(liveOf(html, 1), /from <code>198\.51\.100\.7:41000<\/code>/);
  assert.match(html, /<span id="dot-1" class="dot online" role="img" aria-label="online"/);
  assert.match(liveOf(html, 2), /<strong>offline<\/strong><small>last handshake 10 min ago/);
  assert.match(html, /<span id="dot-2" class="dot" role="img" aria-label="offline"/);
  assert.match(liveOf(html, 3), /<strong>never connected<\/strong>/);
  assert.match(
    html,
    /id="peer-live-poll" hx-get="\/ui\/peers\/live\?ids=1,2,3" hx-trigger="every 10s" hx-swap="none" data-quiet/,
  );

  // The poll answers only the status elements, marked for an out-of-band swap (the rows stay put).
  m.clock.advance(60_000);
  sample(m, b.publicKey, m.clock.now(), 4096, 4096, m.clock.now() - 5_000, "198.51.100.8:5000");
  const poll = await (await m.request("/ui/peers/live?ids=1,2,3,999", {
    cookie: admin,
    headers: { "hx-request": "true" },
  })).text();
  assert.doesNotMatch(poll, /<tr|<html/);
  assert.match(
    poll,
    /<span id="dot-2" class="dot online" role="img" aria-label="online" title="online" hx-swap-oob="true">/,
  );
  assert.match(
    poll,
    /<div class="live" id="live-2" hx-swap-oob="true"><strong class="online">online<\/strong>/,
  );
  assert.match(
    poll,
    /<div class="live" id="live-1" hx-swap-oob="true"><strong class="online">online<\/strong><small>last handshake 1 min ago/,
  );
  assert.match(poll, /id="live-3" hx-swap-oob="true"><strong>never connected/);
  m.clock.advance(3 * 60_000);
  const later = await (await m.request("/ui/peers/live?ids=1", { cookie: admin })).text();
  assert.match(
    later,
    /<strong>offline<\/strong><small>last handshake 4 min ago/,
    "no handshake for 3 minutes: offline",
  );
  m.close();
});

Deno.test("the columns sort both ways on the server, and search and paging keep the order", async () => {
  const { m, admin } = await setup();
  for (const name of ["bob", "alice", "carol"]) await addPeer(m, admin, { name });
  const order = (html: string) => [...html.matchAll(/<tr id="peer-(\d+)"/g)].map((x) => Number(x[1]));
  assert.deepEqual(order(await (await m.request("/ui/peers", { cookie: admin })).text()), [1, 2, 3]);
  const byName = await (await m.request("/ui/peers?sort=name", { cookie: admin })).text();
  assert.deepEqual(order(byName), [2, 1, 3]);
  assert.match(byName, /<th aria-sort="ascending"><a href="\/ui\/peers\?sort=-name"/);
  assert.match(byName, /<input type="hidden" name="sort" value="name"\/>/, "the search keeps the order");
  assert.deepEqual(order(await (await m.request("/ui/peers?sort=-name", { cookie: admin })).text()), [
    3,
    1,
    2,
  ]);
  assert.deepEqual(order(await (await m.request("/ui/peers?sort=-address", { cookie: admin })).text()), [
    3,
    2,
    1,
  ]);
  const frag = await m.request("/ui/peers?sort=-name&q=10.13.13.&page=1", {
    cookie: admin,
    headers: { "hx-request": "true", "hx-target": "peer-table" },
  });
  assert.equal(frag.headers.get("hx-push-url"), "/ui/peers?q=10.13.13.&sort=-name");
  assert.deepEqual(order(await frag.text()), [3, 1, 2]);
  // An unknown order is the default, never an error.
  assert.equal((await m.request("/ui/peers?sort=password", { cookie: admin })).status, 200);
  const api = await m.api("/peers?sort=-name", { token: await m.token("read") });
  assert.deepEqual((await api.json()).peers.map((p: { name: string }) => p.name), ["carol", "bob", "alice"]);
  m.close();
});

Deno.test("bulk: enable, disable, move to a node and delete (after asking) the ticked peers; viewers cannot", async () => {
  const { m, admin, viewer } = await setup();
  for (const name of ["a", "b", "c"]) await addPeer(m, admin, { name });
  const node = (await m.services.nodes.create(
    { kind: "system", name: "t" },
    null,
    { name: "fra", fqdn: "fra.example.com" },
  )).node;
  const bulk = (body: string, cookie = admin) =>
    m.request("/ui/peers/bulk", {
      method: "POST",
      cookie,
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  const page = await (await m.request("/ui/peers", { cookie: admin })).text();
  assert.match(page, /<form method="post" action="\/ui\/peers\/bulk" id="peer-bulk"/);
  assert.match(page, /<input type="checkbox" name="ids" value="2" form="peer-bulk" aria-label="Select b"\/>/);

  let res = await bulk("ids=1&ids=3&action=disable&back=%2Fui%2Fpeers%3Fsort%3Dname");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/ui/peers?sort=name");
  assert.deepEqual([1, 2, 3].map((id) => m.services.peers.get(id).enabled), [false, true, false]);
  await bulk("ids=1&ids=2&ids=3&action=enable");
  assert.deepEqual([1, 2, 3].map((id) => m.services.peers.get(id).enabled), [true, true, true]);
  await bulk(`ids=2&ids=3&action=move&node_id=${node.id}`);
  assert.deepEqual([1, 2, 3].map((id) => m.services.peers.get(id).nodeId), [null, node.id, node.id]);
  await bulk("ids=3&action=move&node_id=");
  assert.equal(m.services.peers.get(3).nodeId, null);

  // Delete asks first (a page, or the dialog), naming the peers; the confirmation deletes them.
  res = await bulk("ids=1&ids=2&action=delete");
  assert.equal(res.status, 200);
  const ask = await res.text();
  assert.match(ask, /<h1>Delete 2 peers\?<\/h1>/);
  assert.match(ask, /: a, b\./);
  assert.match(ask, /<input type="hidden" name="ids" value="1,2"\/>/);
  assert.equal(m.services.peers.stats().total, 3, "nothing deleted yet");
  res = await bulk("action=delete&confirmed=yes&ids=1%2C2&back=%2Fui%2Fpeers");
  assert.equal(res.status, 303);
  assert.equal(m.services.peers.stats().total, 1);
  assert.equal(audits(m, "peer.delete"), 2, "each one audited");

  // Nothing ticked: told so; a viewer: refused, nothing changes.
  res = await bulk("action=disable");
  assert.match(await flashOf(m, res, admin), /Select one or more peers first/);
  assert.equal((await bulk("ids=3&action=disable", viewer)).status, 403);
  assert.equal(m.services.peers.get(3).enabled, true);
  const viewerPage = await (await m.request("/ui/peers", { cookie: viewer })).text();
  assert.doesNotMatch(viewerPage, /peer-bulk/);
  m.close();
});
