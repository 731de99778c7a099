// Rotating a peer's credentials from the UI: the QR code offers "Rotate keys…" (server-held keys only) and
// "Rotate PSK…", each asks first (a page, or the dialog), and the confirmation rotates, audits and leads
// to the fresh QR code saying what the client has to do; viewers cannot, a client-held key cannot.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";

type M = Awaited<ReturnType<typeof testMaster>>;

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

async function setup() {
  const m = await testMaster();
  await m.addUser("root", "admin");
  await m.addUser("vera", "viewer");
  const admin = await m.login("root");
  const viewer = await m.login("vera");
  const system = { kind: "system" as const, name: "test" };
  await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  assert.equal((await m.form("/ui/peers", PEER, { cookie: admin })).status, 303);
  return { m, admin, viewer };
}

const line = (conf: string, key: string) => conf.match(new RegExp(`^${key} = (.+)$`, "m"))?.[1];
const conf = async (m: M, cookie: string, id = 1) =>
  await (await m.request(`/ui/peers/${id}/config`, { cookie })).text();
const audits = (m: M) => m.services.audit.list({ action: "peer.rotate" });

Deno.test("ui: rotate a peer's keys from its QR code: asked first, then the fresh QR code and config", async () => {
  const { m, admin } = await setup();
  try {
    const qr = await (await m.request("/ui/peers/1/qr", { cookie: admin })).text();
    assert.match(qr, /id="rotate-keys" href="\/ui\/peers\/1\/rotate\?keys=1"/);
    assert.match(qr, /id="rotate-psk" href="\/ui\/peers\/1\/rotate"/);
    assert.doesNotMatch(qr, /id="rotated-notice"/);

    const before = await conf(m, admin);
    // The question, as a page and in the dialog; asking changes nothing.
    const ask = await m.request("/ui/peers/1/rotate?keys=1", { cookie: admin });
    assert.equal(ask.status, 200);
    const page = await ask.text();
    assert.match(page, /<h1>Rotate the keys of alice-phone\?<\/h1>/);
    assert.match(page, /at most 2 minutes/);
    assert.match(page, /<form method="post" action="\/ui\/peers\/1\/rotate"/);
    assert.match(page, /name="keys" value="1"/);
    const dialog = await (await m.request("/ui/peers/1/rotate?keys=1", {
      cookie: admin,
      headers: { "hx-request": "true", "hx-target": "modal" },
    })).text();
    assert.match(dialog, /id="rotate-peer"/);
    assert.doesNotMatch(dialog, /<html/);
    assert.equal(audits(m).length, 0, "asking rotates nothing");
    assert.equal(await conf(m, admin), before);

    const res = await m.form("/ui/peers/1/rotate", { keys: "1" }, { cookie: admin });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/ui/peers/1/qr?rotated=keys");
    const fresh = await (await m.request(res.headers.get("location")!, { cookie: admin })).text();
    assert.match(fresh, /id="rotated-notice" role="status">New keys and PSK: install this config/);
    assert.match(fresh, /src="\/ui\/peers\/1\/qr.svg"/);
    const after = await conf(m, admin);
    assert.notEqual(line(after, "PrivateKey"), line(before, "PrivateKey"));
    assert.notEqual(line(after, "PresharedKey"), line(before, "PresharedKey"));
    assert.equal(line(after, "Address"), line(before, "Address"));
    const svg = await m.request("/ui/peers/1/qr.svg", { cookie: admin });
    assert.equal(svg.headers.get("cache-control"), "no-store", "the fresh QR code is never cached");
    await svg.body?.cancel();
    const a = audits(m);
    assert.equal(a.length, 1);
    assert.equal(a[0]!.target, "alice-phone");
    assert.match(a[0]!.detail, /^keys and PSK/);
  } finally {
    m.close();
  }
});

Deno.test("ui: a PSK-only rotation keeps the keys; a client-held key offers only the PSK; viewers cannot rotate", async () => {
  const { m, admin, viewer } = await setup();
  try {
    const before = await conf(m, admin);
    const ask = await (await m.request("/ui/peers/1/rotate", { cookie: admin })).text();
    assert.match(ask, /Rotate the PSK of alice-phone\?/);
    assert.match(ask, /name="keys" value="0"/);
    const res = await m.form("/ui/peers/1/rotate", { keys: "0" }, { cookie: admin });
    assert.equal(res.headers.get("location"), "/ui/peers/1/qr?rotated=psk");
    const after = await conf(m, admin);
    assert.equal(line(after, "PrivateKey"), line(before, "PrivateKey"));
    assert.notEqual(line(after, "PresharedKey"), line(before, "PresharedKey"));
    assert.equal(audits(m)[0]!.detail, "PSK");

    // Viewers: neither the question nor the rotation.
    assert.equal((await m.request("/ui/peers/1/rotate", { cookie: viewer })).status, 403);
    assert.equal((await m.form("/ui/peers/1/rotate", { keys: "0" }, { cookie: viewer })).status, 403);
    assert.equal(await conf(m, admin), after);
    assert.equal(audits(m).length, 1);

    // A peer whose client holds its own key: its PSK rotates, its keys cannot.
    const own = { ...PEER, name: "own-key", public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" };
    assert.equal((await m.form("/ui/peers", own, { cookie: admin })).status, 303);
    const qr = await (await m.request("/ui/peers/2/qr", { cookie: admin })).text();
    assert.doesNotMatch(qr, /id="rotate-keys"/);
    assert.match(qr, /id="rotate-psk"/);
    assert.equal((await m.request("/ui/peers/2/rotate?keys=1", { cookie: admin })).status, 409);
    const refused = await m.form("/ui/peers/2/rotate", { keys: "1" }, { cookie: admin });
    assert.equal(refused.status, 409);
    await refused.body?.cancel();
    assert.equal(audits(m).length, 1);
    assert.equal((await m.form("/ui/peers/2/rotate", { keys: "0" }, { cookie: admin })).status, 303);
    assert.equal(audits(m).length, 2);
  } finally {
    m.close();
  }
});
