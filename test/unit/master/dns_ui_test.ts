// The DNS screen through app.request(): the page with its status and sections, forms that work without
// JavaScript (a list from pasted text, a rule from a log row, a record), a 422 re-render naming the bad
// field, and a viewer who sees the page but no form.
import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";

Deno.test("DNS page: an admin adds a list, blocks a domain from the log and gets a bad record named", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    const cookie = await m.login("root");
    let page = await (await m.request("/ui/dns", { cookie })).text();
    assert.match(page, /<h1>DNS<\/h1>/);
    assert.match(page, /DNS is off\. Turn it on below/);
    assert.match(page, /href="\/ui\/dns"/, "the navigation has DNS");

    let r = await m.form("/ui/dns/settings", {
      enabled: "on",
      zone: "wg.internal",
      block_mode: "refuse",
      upstreams: "",
      insecure_domains: "",
      log_queries: "on",
      log_retention_days: "7",
      refresh_hours: "24",
      dnssec: "on",
    }, { cookie });
    assert.equal(r.status, 303, await r.clone().text());
    assert.equal(m.services.dns.settings().enabled, true);

    r = await m.form("/ui/dns/lists", {
      name: "pasted",
      url: "",
      content: "0.0.0.0 a.example\nb.example\n||c.example^\nnot a domain\n",
    }, { cookie });
    assert.equal(r.status, 303);
    page = await (await m.request("/ui/dns", {
      cookie: `${cookie}; ${r.headers.get("set-cookie")?.split(";")[0]}`,
    })).text();
    assert.match(
      page,
      /List pasted added: 3 domains \(skipped 1 malformed line \(line 4: &quot;not a domain&quot;\)\)/,
    );
    assert.match(page, /<td data-label="Domains" class="count">3<\/td>/);

    const local = m.services.nodes.list().find((n) => n.isLocal)!;
    m.services.dnsLog.intake({ id: local.id, name: local.name }, [{
      seq: 1,
      at: m.clock.now(),
      client: "10.9.9.9",
      qname: "tracker.example.",
      qtype: "A",
      rcode: "NOERROR",
      answer: "192.0.2.1",
    }], 0);
    page = await (await m.request("/ui/dns?q=tracker", { cookie })).text();
    assert.match(page, /tracker\.example/);
    assert.match(page, /<input type="hidden" name="kind" value="block"\/>/);
    r = await m.form("/ui/dns/rules", { kind: "block", domain: "tracker.example" }, { cookie });
    assert.equal(r.status, 303);
    assert.deepEqual(m.services.dns.rules().map((x) => [x.kind, x.domain]), [["block", "tracker.example"]]);

    r = await m.form("/ui/dns/records", { name: "nas.example", type: "A", value: "not-an-ip" }, { cookie });
    assert.equal(r.status, 422);
    assert.match(await r.text(), /a A record needs an IPv4 address, not &quot;not-an-ip&quot;/);
    assert.deepEqual(m.services.dns.records(), []);
  } finally {
    m.close();
  }
});

Deno.test("DNS page: a viewer sees it without forms and cannot post", async () => {
  const m = await testMaster();
  try {
    await m.addUser("root", "admin");
    await m.addUser("watcher", "viewer");
    const cookie = await m.login("watcher");
    const page = await (await m.request("/ui/dns", { cookie })).text();
    assert.match(page, /<h1>DNS<\/h1>/);
    assert.doesNotMatch(page, /id="dns-add-list"/);
    assert.doesNotMatch(page, /id="dns-settings"/);
    const r = await m.form("/ui/dns/rules", { kind: "block", domain: "x.example" }, { cookie });
    assert.equal(r.status, 403);
    assert.deepEqual(m.services.dns.rules(), []);
  } finally {
    m.close();
  }
});
