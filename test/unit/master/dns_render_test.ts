// Blocklist parsing (hosts, plain domains, AdGuard rules), list fetching limits, and the Unbound
// configuration the master renders for its `local` node.
import assert from "node:assert/strict";
import {
  fetchList,
  normalizeDomain,
  parseBlocklist,
  requireDomains,
  skippedText,
} from "../../../src/master/service/dns_blocklists.ts";
import {
  blockedSet,
  type DnsDesiredInput,
  parseUpstream,
  renderUnbound,
} from "../../../src/master/service/dns_render.ts";
import { dnsLabel, peerLabels } from "../../../src/master/service/dns_desired.ts";
import { AppError } from "../../../src/core/errors.ts";

Deno.test("parseBlocklist() reads hosts files, plain domain lists and AdGuard rules, one line at a time", () => {
  const p = parseBlocklist([
    "# hosts",
    "127.0.0.1 localhost",
    "0.0.0.0 Ads.Example.com tracker.example.net # trailing comment",
    "::1 ip6-localhost",
    "plain.example.org",
    "[Adblock Plus 2.0]",
    "! adguard comment",
    "||adguard.example^",
    "||important.example^$important",
    "||thirdparty.example^$third-party",
    "@@||good.adguard.example^",
    "/regex.*/",
    "example.com##.banner",
    "",
  ].join("\n"));
  assert.deepEqual(p.domains, [
    "adguard.example",
    "ads.example.com",
    "important.example",
    "plain.example.org",
    "tracker.example.net",
  ]);
  assert.deepEqual(p.allow, ["good.adguard.example"]);
  assert.equal(p.invalidCount, 0);
  assert.equal(p.unsupported, 3); // a modifier DNS cannot apply, a regex, a cosmetic rule
});

Deno.test("parseBlocklist() names malformed lines with their numbers and keeps the good ones", () => {
  const p = parseBlocklist(
    "good.example\nnot a domain at all\n0.0.0.0 bad..name\n-bad-.example\n||ok.example^",
  );
  assert.deepEqual(p.domains, ["good.example", "ok.example"]);
  assert.equal(p.invalidCount, 3);
  assert.deepEqual(p.invalid.map((x) => x.line), [2, 3, 4]);
  assert.match(skippedText(p), /skipped 3 malformed lines \(line 2: "not a domain at all"\)/);
});

Deno.test("requireDomains() refuses a text with no domain, quoting its first lines", () => {
  const p = parseBlocklist("<html>\n<body>Not found</body>\n");
  assert.throws(() => requireDomains(p, "http://lists.test/x"), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "validation");
    assert.match(err.message, /has no domain in hosts, plain or AdGuard .* \(line 1: "<html>"/);
    return true;
  });
  assert.throws(() => requireDomains(parseBlocklist(""), "the file"), /it is empty/);
});

Deno.test("normalizeDomain() accepts names and refuses anything that could break a config line", () => {
  assert.equal(normalizeDomain("WWW.Example.COM."), "www.example.com");
  for (const bad of ['a"b.example', "a b.example", "single", "x.example\nserver:", "é.example", "a..b"]) {
    assert.equal(normalizeDomain(bad), null, bad);
  }
});

Deno.test("fetchList() stops at the size limit, the deadline and an error status, naming each", async () => {
  const big: typeof fetch = () =>
    Promise.resolve(
      new Response(
        new ReadableStream({
          pull(c) {
            c.enqueue(new Uint8Array(64 * 1024).fill(97));
          },
        }),
      ),
    );
  await assert.rejects(
    fetchList(big, "http://l.test/big", { maxBytes: 1024 * 1024, timeoutMs: 5000 }),
    /larger than the 1 MiB limit/,
  );
  const declared: typeof fetch = () =>
    Promise.resolve(new Response("x", { headers: { "content-length": String(50 * 1024 * 1024) } }));
  await assert.rejects(
    fetchList(declared, "http://l.test/50mb", { maxBytes: 20 * 1024 * 1024, timeoutMs: 5000 }),
    /it is 50 MiB, larger than the 20 MiB limit/,
  );
  const slow: typeof fetch = (_url, init) =>
    new Promise((_resolve, reject) =>
      init!.signal!.addEventListener("abort", () => reject(new Error("aborted")))
    );
  await assert.rejects(
    fetchList(slow, "http://l.test/slow", { maxBytes: 1000, timeoutMs: 30 }),
    /no answer within 0.03 s/,
  );
  const missing: typeof fetch = () =>
    Promise.resolve(new Response("gone", { status: 404, statusText: "Not Found" }));
  await assert.rejects(
    fetchList(missing, "http://l.test/404", { maxBytes: 1000, timeoutMs: 1000 }),
    /answered 404 Not Found/,
  );
  const ok: typeof fetch = () => Promise.resolve(new Response("a.example\n"));
  assert.equal(await fetchList(ok, "http://l.test/ok", { maxBytes: 1000, timeoutMs: 1000 }), "a.example\n");
});

const base: DnsDesiredInput = {
  listen: ["10.13.13.1", "fd00:13::1"],
  port: 53,
  pools: ["10.13.13.0/24", "fd00:13::/64"],
  upstreams: [],
  dnssec: true,
  insecureDomains: [],
  zone: "wg.internal",
  blockMode: "refuse",
  paused: false,
  peers: [],
  lists: [],
  blockRules: [],
  allowRules: [],
  records: [],
};

const file = (input: DnsDesiredInput, name: string) =>
  renderUnbound(input).find((f) => f.name === name)!.text;

Deno.test("renderUnbound() listens on the tunnel addresses, allows the pools and names every peer", () => {
  const text = file({
    ...base,
    upstreams: ["198.51.100.53", "198.51.100.54@5353"],
    insecureDomains: ["lab.example"],
    peers: [{ label: "phone", addresses: ["10.13.13.2", "fd00:13::2"], blocking: null }],
  }, "wb-server.conf");
  for (
    const line of [
      "  interface: 10.13.13.1@53",
      "  interface: fd00:13::1@53",
      "  ip-freebind: yes",
      '  module-config: "validator iterator"',
      '  domain-insecure: "lab.example."',
      "  access-control: 10.13.13.0/24 allow",
      "  access-control: fd00:13::/64 allow",
      '  local-zone: "wg.internal." static',
      '  local-data: "phone.wg.internal. 300 IN A 10.13.13.2"',
      '  local-data: "phone.wg.internal. 300 IN AAAA fd00:13::2"',
      '  local-data-ptr: "10.13.13.2 phone.wg.internal."',
      "forward-zone:",
      "  forward-addr: 198.51.100.53",
      "  forward-addr: 198.51.100.54@5353",
    ]
  ) assert.ok(text.split("\n").includes(line), `missing ${line}\n${text}`);
  assert.ok(!file({ ...base }, "wb-blocklist.conf").includes("local-zone:"), "nothing blocked without lists");
  assert.ok(!text.includes("view:"), "no view while every peer has the default");
  assert.ok(!text.includes("forward-tls-upstream"));
});

Deno.test("renderUnbound() blocks the default globally, gives a peer's own choice a view, and lets the allowlist win", () => {
  const input: DnsDesiredInput = {
    ...base,
    lists: [{ id: 1, domains: ["ads.example", "both.example", "good.example"] }, {
      id: 2,
      domains: ["both.example", "track.example"],
    }],
    blockRules: ["custom.example"],
    allowRules: ["good.example", "ok.ads.example"],
    peers: [
      { label: "kid", addresses: ["10.13.13.3"], blocking: { enabled: true, lists: [2] } },
      { label: "admin", addresses: ["10.13.13.4"], blocking: { enabled: false, lists: null } },
      { label: "same", addresses: ["10.13.13.5"], blocking: { enabled: true, lists: [1, 2] } },
    ],
  };
  const text = file(input, "wb-server.conf");
  const server = text.split("\n");
  assert.ok(!text.includes("access-control-tag") && !text.includes("define-tag"), "no tags: views");
  assert.ok(server.includes("  access-control: 10.13.13.3/32 allow"));
  assert.ok(server.includes('  access-control-view: 10.13.13.3/32 "wb_l2_custom"'));
  assert.ok(server.includes('  access-control-view: 10.13.13.4/32 "wb_off"'));
  assert.ok(!text.includes("10.13.13.5/32"), "a choice equal to the default needs no view");
  const view = (name: string) => {
    const at = text.indexOf(`view:\n  name: "${name}"\n  view-first: no\n`);
    assert.ok(at >= 0, `view ${name}\n${text}`);
    const end = text.indexOf("view:", at + 5);
    return text.slice(at, end < 0 ? undefined : end).split("\n");
  };
  const kid = view("wb_l2_custom");
  assert.deepEqual(kid.filter((l) => l.includes("always_refuse")), [
    '  local-zone: "both.example." always_refuse',
    '  local-zone: "custom.example." always_refuse',
    '  local-zone: "track.example." always_refuse',
  ]);
  assert.ok(kid.includes('  local-data: "kid.wg.internal. 300 IN A 10.13.13.3"'), "peer names in a view");
  const off = view("wb_off");
  assert.ok(!off.some((l) => l.includes("always_refuse")), "blocking off: nothing blocked");
  assert.ok(off.includes('  local-zone: "wg.internal." static'), "a view always has a zone of its own");
  const blocklist = file(input, "wb-blocklist.conf").split("\n");
  assert.deepEqual(blocklist.filter((l) => l.startsWith("  ")), [
    '  local-zone: "ads.example." always_refuse',
    '  local-zone: "both.example." always_refuse',
    '  local-zone: "custom.example." always_refuse',
    '  local-zone: "track.example." always_refuse',
    '  local-zone: "ok.ads.example." transparent',
  ], "only global local-zone lines, the allowed name under a blocked one a transparent hole");
  assert.ok(!blocklist.some((l) => l.includes("good.example")), "the allowlist wins");
});

Deno.test("renderUnbound() while paused blocks nothing and needs no view", () => {
  const input = {
    ...base,
    paused: true,
    lists: [{ id: 1, domains: ["ads.example"] }],
    peers: [{ label: "kid", addresses: ["10.13.13.3"], blocking: { enabled: false, lists: null } }],
  };
  assert.ok(!file(input, "wb-server.conf").includes("view"));
  assert.ok(!file(input, "wb-blocklist.conf").includes("local-zone:"));
});

Deno.test("renderUnbound() forwards over TLS with each upstream's name, and refuses a bad value", () => {
  const text = file(
    { ...base, upstreams: ["9.9.9.9@853#dns.quad9.net", "149.112.112.112#dns.quad9.net"] },
    "wb-server.conf",
  );
  assert.match(
    text,
    /forward-tls-upstream: yes\n {2}forward-addr: 9\.9\.9\.9@853#dns\.quad9\.net\n {2}forward-addr: 149\.112\.112\.112@853#dns\.quad9\.net/,
  );
  assert.throws(
    () => renderUnbound({ ...base, records: [{ name: "x.example", type: "A", value: '1.2.3.4"\nserver:' }] }),
    /record value/,
  );
  assert.throws(() => renderUnbound({ ...base, upstreams: ["1.2.3.4\nserver:"] }), /upstream/);
  assert.equal(parseUpstream("1.2.3.4@70000"), null);
});

Deno.test("blockedSet() merges tags of one name across lists and drops names under an allowed one", () => {
  const set = blockedSet({
    lists: [{ id: 1, domains: ["a.example", "x.good.example"] }, { id: 2, domains: ["a.example"] }],
    blockRules: [],
    allowRules: ["good.example"],
  });
  assert.deepEqual([...set.keys()], ["a.example"]);
  assert.deepEqual([...set.get("a.example")!], ["wb_l1", "wb_l2"]);
});

Deno.test("peer names become unique DNS labels", () => {
  assert.equal(dnsLabel("Bob's Phone!"), "bob-s-phone");
  assert.equal(dnsLabel("***"), "");
  const labels = peerLabels([{ id: 1, name: "Laptop" }, { id: 2, name: "laptop" }, { id: 3, name: "--" }]);
  assert.deepEqual([...labels], [[1, "laptop"], [2, "laptop-2"]]);
});
