// The DNS API through app.request(): settings, lists (by URL and from text), rules, records and
// per-peer choices reach the `local` node's signed config as Unbound include files; bad input is
// refused with the field named and leaves that config untouched; the query log stores every entry
// once whatever the node resends, named by peer and node; audit entries and /metrics.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import type { DnsLogEntry } from "../../../src/core/sync.ts";

const LISTS: Record<string, string> = {
  "http://lists.test/ads.txt": "0.0.0.0 ads.example\n0.0.0.0 tracker.example\n",
  "http://lists.test/adguard.txt": "! title\n||adguard.example^\n@@||fine.adguard.example^\n",
};

async function setup() {
  const fetchFn: typeof fetch = (input) => {
    const url = String(input);
    if (url === "http://lists.test/slow") return new Promise(() => {});
    const body = LISTS[url];
    return Promise.resolve(body === undefined ? new Response("no", { status: 404 }) : new Response(body));
  };
  const m = await testMaster({
    services: { dns: { fetch: fetchFn, fetchLimits: { maxBytes: 4096, timeoutMs: 200 } } },
  });
  const token = await m.token("write");
  const api = (path: string, method = "GET", json?: unknown) =>
    m.api(path, { method, token, ...(json !== undefined ? { json } : {}) });
  const iface = await (await api("/interfaces", "POST", {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    listen_port: 51820,
    dns: "10.13.13.1",
  })).json();
  const local = m.services.nodes.list().find((n) => n.isLocal)!;
  const dnsConfig = async () => (await m.services.sync.config(local.id)).dns ?? null;
  const file = async (name: string) => (await dnsConfig())?.files.find((f) => f.name === name)?.text ?? "";
  return { m, api, iface, local, dnsConfig, file };
}

Deno.test("DNS API: settings, lists, rules, records and peer choices reach the local node's config", async () => {
  const { m, api, iface, local, dnsConfig, file } = await setup();
  try {
    assert.equal(await dnsConfig(), null, "DNS is off by default: no dns section");
    const phone = await (await api("/peers", "POST", { interface_id: iface.id, name: "Phone" })).json();
    const kid = await (await api("/peers", "POST", { interface_id: iface.id, name: "kid" })).json();

    let r = await api("/dns/settings", "PATCH", {
      enabled: true,
      upstreams: ["198.51.100.53"],
      block_mode: "refuse",
      insecure_domains: ["lab.example"],
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).block_mode, "refuse");

    r = await api("/dns/lists", "POST", { name: "ads", url: "http://lists.test/ads.txt" });
    assert.equal(r.status, 201, await r.clone().text());
    const ads = await r.json();
    assert.equal(ads.domain_count, 2);
    assert.equal(ads.last_status, "ok");
    r = await api("/dns/lists", "POST", { name: "adguard", content: LISTS["http://lists.test/adguard.txt"] });
    assert.equal(r.status, 201);
    const adguard = await r.json();

    assert.equal((await api("/dns/rules", "POST", { kind: "block", domain: "Custom.Example." })).status, 201);
    assert.equal(
      (await api("/dns/records", "POST", { name: "nas.home.example", type: "A", value: "10.13.13.50" }))
        .status,
      201,
    );
    r = await api(`/dns/peers/${kid.id}`, "PATCH", { lists: [adguard.id] });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).dns_name, "kid.wg.internal");

    const server = await file("wb-server.conf");
    assert.match(server, /interface: 10\.13\.13\.1@53/);
    assert.match(server, /forward-addr: 198\.51\.100\.53/);
    assert.match(server, /domain-insecure: "lab\.example\."/);
    assert.match(
      server,
      new RegExp(
        `local-data: "phone\\.wg\\.internal\\. 300 IN A ${phone.ipv4.split("/")[0].replaceAll(".", "\\.")}"`,
      ),
    );
    assert.match(server, /local-data: "nas\.home\.example\. 300 IN A 10\.13\.13\.50"/);
    const kidHost = `${kid.ipv4.split("/")[0].replaceAll(".", "\\.")}/32`;
    const view = `wb_l${adguard.id}_custom`;
    assert.match(server, new RegExp(`access-control-view: ${kidHost} "${view}"`));
    assert.match(server, new RegExp(`view:\n  name: "${view}"\n  view-first: no\n`));
    const viewText = server.slice(server.indexOf(`name: "${view}"`));
    assert.match(viewText, /local-zone: "adguard\.example\." always_refuse/, "the kid's list in its view");
    assert.match(viewText, /local-zone: "custom\.example\." always_refuse/);
    assert.doesNotMatch(viewText, /local-zone: "ads\.example\."/, "a list the kid did not choose");
    const blocklist = await file("wb-blocklist.conf");
    assert.match(blocklist, /local-zone: "ads\.example\." always_refuse/);
    assert.match(blocklist, /local-zone: "custom\.example\." always_refuse/);
    assert.match(blocklist, /local-zone: "adguard\.example\." always_refuse/);

    const status = await (await api("/dns/status")).json();
    assert.equal(status.enabled, true);
    assert.equal(status.running, null);
    assert.match(status.detail, /has not reported/);
    assert.deepEqual(status.listen, ["10.13.13.1"]);

    const actions = m.services.audit.list({ action: "dns" }).map((e) => e.action);
    for (const a of ["dns.settings", "dns.list.add", "dns.rule.block", "dns.record.add", "dns.peer"]) {
      assert.ok(actions.includes(a), `audit has ${a}: ${actions}`);
    }
    const doc = await (await m.api("/openapi.json")).json();
    assert.ok(doc.paths["/api/dns/lists"].post.requestBody, "the DNS API is in the OpenAPI document");
    void local;
  } finally {
    m.close();
  }
});

Deno.test("DNS API: bad input is refused with a clear error and the resolver's config stays as it was", async () => {
  const { m, api, local } = await setup();
  try {
    await api("/dns/settings", "PATCH", { enabled: true });
    const before = JSON.stringify((await m.services.sync.config(local.id)).dns);
    const version = m.services.nodes.list().find((n) => n.isLocal)!;
    const cases: [string, unknown, RegExp][] = [
      [
        "/dns/lists",
        { name: "junk", content: "<html>\nnot a list\n" },
        /no domain in hosts, plain or AdGuard.*line 1: "<html>"/,
      ],
      ["/dns/lists", { name: "big", url: "http://lists.test/big" }, /answered 404/],
      ["/dns/lists", { name: "slow", url: "http://lists.test/slow" }, /no answer within 0.2 s/],
      [
        "/dns/records",
        { name: "x.example", type: "A", value: "fd00::1" },
        /a A record needs an IPv4 address/,
      ],
      ["/dns/records", { name: "bad name!", type: "A", value: "10.0.0.1" }, /is not a domain name/],
      ["/dns/rules", { kind: "block", domain: 'x.example"\nserver:' }, /is not a domain name/],
      [
        "/dns/settings",
        { upstreams: ["9.9.9.9@853#dns.quad9.net", "1.1.1.1"] },
        /DNS-over-TLS .* for every upstream or for none/,
      ],
    ];
    for (const [path, body, want] of cases) {
      const r = await api(path, path === "/dns/settings" ? "PATCH" : "POST", body);
      assert.equal(r.status, 422, `${path} ${JSON.stringify(body)}: ${r.status}`);
      const err = (await r.json()).error;
      assert.match(err.message, want);
    }
    assert.equal(JSON.stringify((await m.services.sync.config(local.id)).dns), before, "config untouched");
    assert.equal(m.services.nodes.list().find((n) => n.isLocal)!.configVersion, version.configVersion);
    assert.deepEqual((await (await api("/dns/lists")).json()).lists, []);
  } finally {
    m.close();
  }
});

Deno.test("DNS query log: every entry stored once across resent batches, with peer, node and blocked", async () => {
  const { m, api, iface, local } = await setup();
  try {
    await api("/dns/settings", "PATCH", { enabled: true, block_mode: "refuse" });
    await api("/dns/lists", "POST", { name: "ads", url: "http://lists.test/ads.txt" });
    const phone = await (await api("/peers", "POST", { interface_id: iface.id, name: "phone" })).json();
    const quiet = await (await api("/peers", "POST", { interface_id: iface.id, name: "quiet" })).json();
    await api(`/dns/peers/${quiet.id}`, "PATCH", { log: false });
    const ip = (p: { ipv4: string }) => p.ipv4.split("/")[0];
    const entry = (seq: number, client: string, qname: string, rcode = "NOERROR"): DnsLogEntry => ({
      seq,
      at: m.clock.now(),
      client,
      qname,
      qtype: "A",
      rcode,
      answer: rcode === "NOERROR" ? "192.0.2.10" : "",
    });
    const node = { id: local.id, name: local.name };
    const batch = [
      entry(1, ip(phone), "allowed.example."),
      entry(2, ip(phone), "ads.example.", "REFUSED"),
      entry(3, ip(quiet), "secret.example."),
    ];
    assert.equal(m.services.dnsLog.intake(node, batch, 0), 3);
    assert.equal(m.services.dnsLog.intake(node, batch, 0), 3, "a resent batch: acked again, stored once");
    assert.equal(
      m.services.dnsLog.intake(node, [...batch, entry(4, ip(phone), "x.ads.example.", "REFUSED")], 0),
      4,
    );
    assert.equal(m.services.dnsLog.count(), 3, "quiet opted out; four entries, one skipped, none twice");

    const q = (await (await api("/dns/queries?q=ads")).json()).queries;
    assert.deepEqual(
      q.map((
        x: { name: string; peer: string; node: string; blocked: boolean },
      ) => [x.name, x.peer, x.node, x.blocked]),
      [
        ["x.ads.example", "phone", "master", true],
        ["ads.example", "phone", "master", true],
      ],
    );
    const stats = await (await api("/dns/stats?hours=1")).json();
    assert.equal(stats.total, 3);
    assert.equal(stats.blocked, 2);
    assert.deepEqual(stats.top_blocked.map((t: { qname: string }) => t.qname).sort(), [
      "ads.example",
      "x.ads.example",
    ]);

    // Block a domain from a log row: the allowed name becomes a rule and reaches the config.
    assert.equal((await api("/dns/rules", "POST", { kind: "block", domain: "allowed.example" })).status, 201);
    const bl = (await m.services.sync.config(local.id)).dns!.files.find((f) =>
      f.name === "wb-blocklist.conf"
    )!.text;
    assert.match(bl, /local-zone: "allowed\.example\." always_refuse/);
    const metrics = await m.services.prom.render();
    assert.match(metrics, /wirebuddy_dns_log_queries 3/);
    assert.match(metrics, /wirebuddy_dns_blocklist_domains\{list="ads"\} 2/);
  } finally {
    m.close();
  }
});
