import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { ProbeConn } from "../../../src/master/health_probe.ts";
import { type DnsExchange, parseServer, tcpDnsExchange } from "../../../src/master/dns_tcp.ts";
import { PoolDnsPublisher, type PoolDnsTarget } from "../../../src/master/service/pool_dns.ts";
import { FakeClock } from "../../support/fakes.ts";
import { FakeUpdateServer } from "../../support/fake_dns_update_server.ts";
import { testMaster } from "../../support/master.ts";

const SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
const OPTS = { timeoutMs: 1_000, retryMinMs: 2_000, retryMaxMs: 16_000, removeAttempts: 3 };

function world(addresses: string[] = ["192.0.2.1", "192.0.2.2"]) {
  const clock = new FakeClock(Date.UTC(2026, 11, 1, 6, 0, 0));
  const log = memoryLogger();
  const server = new FakeUpdateServer("example.com", {
    name: "wb-key",
    algorithm: "hmac-sha256",
    secret: Uint8Array.from(atob(SECRET), (c) => c.charCodeAt(0)),
  });
  server.now = () => Math.floor(clock.now() / 1000);
  const target: PoolDnsTarget = {
    interfaceId: 7,
    name: "vpn.example.com",
    zone: "example.com",
    server: "192.0.2.53:53",
    tsig: { name: "wb-key", algorithm: "hmac-sha256", secret: SECRET },
    ttl: 30,
    addresses,
  };
  const targets: PoolDnsTarget[] = [target];
  let down: string | null = null;
  const exchange: DnsExchange = (srv, message) => {
    assert.equal(srv, "192.0.2.53:53");
    return down ? Promise.reject(new Error(`${srv}: ${down}`)) : Promise.resolve(server.answer(message));
  };
  const pub = new PoolDnsPublisher(() => targets, exchange, clock, log, OPTS);
  return {
    clock,
    log,
    server,
    target,
    targets,
    pub,
    setDown: (why: string | null) => (down = why),
    records: () => server.records.get("vpn.example.com") ?? [],
  };
}

Deno.test("publishDue() publishes once at start and again only when the healthy set changes", async () => {
  const w = world(["192.0.2.2", "2001:db8::1", "192.0.2.1"]);
  assert.equal(await w.pub.publishDue(), 1);
  assert.deepEqual(w.records(), ["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
  assert.equal(await w.pub.publishDue(), 0, "nothing changed: no update");
  assert.equal(w.server.requests.length, 1);

  w.target.addresses = ["192.0.2.2", "2001:db8::1"]; // 192.0.2.1 failed its check
  assert.equal(await w.pub.publishDue(), 1);
  assert.deepEqual(w.records(), ["192.0.2.2", "2001:db8::1"]);
  w.target.addresses = ["2001:db8::1", "192.0.2.1", "192.0.2.2"]; // recovered, another order
  assert.equal(await w.pub.publishDue(), 1);
  assert.deepEqual(w.records(), ["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
  assert.deepEqual(w.pub.status(7), {
    name: "vpn.example.com",
    server: "192.0.2.53:53",
    published: ["192.0.2.1", "192.0.2.2", "2001:db8::1"],
    publishedAt: w.clock.now(),
    wanted: ["192.0.2.1", "192.0.2.2", "2001:db8::1"],
    lastAttemptAt: w.clock.now(),
    lastError: null,
    failures: 0,
    nextAttemptAt: null,
  });
  assert.ok(
    w.log.lines.some((l) =>
      /^<6>pool DNS records published pool=vpn\.example\.com server=192\.0\.2\.53:53 addresses=192\.0\.2\.2,2001:db8::1 ttl=30 ms=\d+$/
        .test(l)
    ),
    w.log.lines.join("\n"),
  );
  assert.ok(!w.log.lines.join("\n").includes(SECRET), "the TSIG secret is never logged");
});

Deno.test("a failed update is retried with backoff, shown in status(), and sooner when the set changes", async () => {
  const w = world();
  w.setDown("connection refused");
  assert.equal(await w.pub.publishDue(), 1);
  const s = w.pub.status(7)!;
  assert.equal(s.published, null);
  assert.equal(s.lastError, "192.0.2.53:53: connection refused");
  assert.equal(s.failures, 1);
  assert.equal(s.nextAttemptAt, w.clock.now() + 2_000);
  assert.ok(
    w.log.lines.some((l) =>
      l.startsWith("<4>pool DNS update failed pool=vpn.example.com") && /retry_in=2s/.test(l)
    ),
  );

  w.clock.advance(1_000);
  assert.equal(await w.pub.publishDue(), 0, "not before the backoff");
  w.clock.advance(1_000);
  assert.equal(await w.pub.publishDue(), 1);
  assert.equal(w.pub.status(7)!.nextAttemptAt, w.clock.now() + 4_000, "doubled");
  for (let i = 0; i < 5; i++) {
    w.clock.advance(20_000);
    await w.pub.publishDue();
  }
  assert.equal(w.pub.status(7)!.nextAttemptAt, w.clock.now() + 16_000, "capped at retryMaxMs");

  w.target.addresses = ["192.0.2.2"]; // what the pool wants changed: try at once
  w.setDown(null);
  assert.equal(await w.pub.publishDue(), 1);
  assert.deepEqual(w.records(), ["192.0.2.2"]);
  const ok = w.pub.status(7)!;
  assert.deepEqual([ok.lastError, ok.failures, ok.nextAttemptAt, ok.published], [null, 0, null, [
    "192.0.2.2",
  ]]);
  assert.ok(w.log.lines.some((l) => l.startsWith("<6>pool DNS update succeeded again pool=vpn.example.com")));
});

Deno.test("a wrong TSIG secret is a clear error and changes nothing on the server", async () => {
  const w = world();
  await w.pub.publishDue();
  const before = w.records();
  w.target.tsig = { ...w.target.tsig, secret: btoa("not the server's secret, 32 bytes") };
  w.target.addresses = ["192.0.2.2"];
  await w.pub.publishDue();
  assert.deepEqual(w.records(), before);
  assert.equal(
    w.pub.status(7)!.lastError,
    '192.0.2.53:53: the server rejected our TSIG signature (BADSIG): the secret of key "wb-key" differs from the server\'s',
  );
  assert.ok(w.log.lines.some((l) => /pool DNS update failed .* rcode=BADSIG /.test(l)));
  assert.deepEqual(w.pub.status(7)!.published, ["192.0.2.1", "192.0.2.2"], "still what the server holds");
});

Deno.test("a pool that leaves DNS mode has its records deleted; a renamed pool its former name", async () => {
  const w = world();
  await w.pub.publishDue();
  w.target.name = "edge.example.com";
  await w.pub.publishDue();
  assert.deepEqual(w.records(), [], "the former name lists nothing");
  assert.deepEqual(w.server.records.get("edge.example.com"), ["192.0.2.1", "192.0.2.2"]);
  w.targets.length = 0;
  assert.equal(await w.pub.publishDue(), 1);
  assert.deepEqual(w.server.records.get("edge.example.com"), []);
  assert.equal(w.pub.status(7), null);
  assert.equal(await w.pub.publishDue(), 0, "forgotten once deleted");
  assert.ok(w.log.lines.some((l) => l.startsWith("<6>pool DNS records removed pool=edge.example.com")));

  // A pool whose name already lists nothing (no healthy member) has nothing to delete when it leaves.
  w.targets.push({ ...w.target, addresses: [] });
  assert.equal(await w.pub.publishDue(), 1);
  assert.ok(w.log.lines.some((l) => l.startsWith("<4>pool DNS name lists no address: no healthy member")));
  const sent = w.server.requests.length;
  w.targets.length = 0;
  assert.equal(await w.pub.publishDue(), 0);
  assert.equal(w.server.requests.length, sent);
  assert.equal(w.pub.status(7), null);
});

Deno.test("bad settings (an unknown algorithm, a secret that is not base64) fail the pool, not the round", async () => {
  const w = world();
  w.target.tsig = { ...w.target.tsig, algorithm: "hmac-md5" };
  await w.pub.publishDue();
  assert.match(
    w.pub.status(7)!.lastError ?? "",
    /TSIG algorithm "hmac-md5" is not one of hmac-sha256, hmac-sha512/,
  );
  w.target.tsig = { ...w.target.tsig, algorithm: "hmac-sha256", secret: "%%%" };
  await w.pub.publishDue();
  assert.match(w.pub.status(7)!.lastError ?? "", /TSIG secret is not base64/);
});

Deno.test("members known by a host name are published with the addresses it resolves to, cached a while", async () => {
  const w = world(["192.0.2.1"]);
  w.target.hostnames = ["bravo.example.net"];
  const answers: (string[] | Error)[] = [["192.0.2.2", "2001:DB8::2"], new Error("SERVFAIL"), ["192.0.2.3"]];
  const asked: string[] = [];
  const exchange: DnsExchange = (_srv, message) => Promise.resolve(w.server.answer(message));
  const pub = new PoolDnsPublisher(() => w.targets, exchange, w.clock, w.log, {
    ...OPTS,
    resolveEveryMs: 60_000,
  }, (h) => {
    asked.push(h);
    const a = answers.shift()!;
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  });
  await pub.publishDue();
  assert.deepEqual(w.records(), ["192.0.2.1", "192.0.2.2", "2001:db8::2"]);
  w.clock.advance(59_000);
  assert.equal(await pub.publishDue(), 0);
  assert.deepEqual(asked, ["bravo.example.net"], "cached for resolveEveryMs");
  w.clock.advance(1_000);
  assert.equal(await pub.publishDue(), 0, "a failed resolution keeps the last addresses");
  assert.ok(
    w.log.lines.some((l) =>
      l.startsWith("<4>cannot resolve a pool member's host name host=bravo.example.net")
    ),
  );
  w.clock.advance(60_000);
  assert.equal(await pub.publishDue(), 1);
  assert.deepEqual(w.records(), ["192.0.2.1", "192.0.2.3"]);
  assert.equal(asked.length, 3);
});

Deno.test("without a resolver, members known by a host name are named in the log as not published", async () => {
  const w = world(["192.0.2.1"]);
  w.target.hostnames = ["bravo.example.net"];
  await w.pub.publishDue();
  assert.deepEqual(w.records(), ["192.0.2.1"]);
  assert.ok(
    w.log.lines.some((l) =>
      /pool DNS records published .* not_published_host_names=bravo\.example\.net ms=\d+$/.test(l)
    ),
  );
});

Deno.test("kick() runs one round at a time and one more after it when kicked meanwhile", async () => {
  const clock = new FakeClock();
  let calls = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const pub = new PoolDnsPublisher(
    async () => {
      calls++;
      if (calls === 1) await gate;
      return [];
    },
    () => Promise.reject(new Error("unused")),
    clock,
    memoryLogger(),
    OPTS,
  );
  pub.kick();
  pub.kick();
  pub.kick();
  release();
  await pub.idle();
  assert.equal(calls, 2);
});

Deno.test("parseServer() reads host, host:port and [v6]:port", () => {
  assert.deepEqual(parseServer("ns1.example.net"), { hostname: "ns1.example.net", port: 53 });
  assert.deepEqual(parseServer("192.0.2.53:5353"), { hostname: "192.0.2.53", port: 5353 });
  assert.deepEqual(parseServer("[2001:db8::53]:53"), { hostname: "2001:db8::53", port: 53 });
  assert.deepEqual(parseServer("2001:db8::53"), { hostname: "2001:db8::53", port: 53 });
  assert.throws(() => parseServer("ns1:99999"), /not host, host:port/);
});

/** A connection whose peer answers `reply` (split into chunks) after reading one framed message. */
function fakeConn(reply: (msg: Uint8Array) => Uint8Array[], sent: Uint8Array[]): ProbeConn {
  let push: (chunks: Uint8Array[]) => void = () => {};
  const answer = new Promise<Uint8Array[]>((r) => (push = r));
  let buf = new Uint8Array(0);
  return {
    writable: new WritableStream({
      write(chunk) {
        buf = new Uint8Array([...buf, ...chunk]);
        const len = (buf[0]! << 8) | buf[1]!;
        if (buf.length >= 2 + len) {
          sent.push(buf.slice(2, 2 + len));
          push(reply(buf.slice(2, 2 + len)));
        }
      },
    }),
    readable: new ReadableStream({
      async pull(c) {
        for (const chunk of await answer) c.enqueue(chunk);
        c.close();
      },
    }),
    close() {},
  };
}

Deno.test("tcpDnsExchange() frames with a 2-byte length and reads an answer that arrives in pieces", async () => {
  const sent: Uint8Array[] = [];
  const exchange = tcpDnsExchange((o) => {
    assert.deepEqual(o, { hostname: "192.0.2.53", port: 5353 });
    return Promise.resolve(
      fakeConn(() => [new Uint8Array([0]), new Uint8Array([3, 9]), new Uint8Array([8, 7])], sent),
    );
  });
  assert.deepEqual(
    await exchange("192.0.2.53:5353", new Uint8Array([1, 2, 3, 4]), 1_000),
    new Uint8Array([9, 8, 7]),
  );
  assert.deepEqual(sent, [new Uint8Array([1, 2, 3, 4])]);
});

Deno.test("tcpDnsExchange() fails at its deadline and when the server closes early", async () => {
  const silent = tcpDnsExchange(() =>
    Promise.resolve({
      writable: new WritableStream(),
      readable: new ReadableStream({ pull: () => new Promise(() => {}) }),
      close() {},
    })
  );
  await assert.rejects(
    silent("192.0.2.53", new Uint8Array([1]), 50),
    /^Error: 192\.0\.2\.53: no answer within 50 ms$/,
  );
  const early = tcpDnsExchange(() => Promise.resolve(fakeConn(() => [new Uint8Array([0, 5, 1])], [])));
  await assert.rejects(
    early("192.0.2.53", new Uint8Array([1]), 1_000),
    /connection closed after 3 of 7 bytes/,
  );
});

Deno.test("the pools page shows what the master published in DNS and why its last update failed", async () => {
  let answer: "refuse" | "serve" = "refuse";
  const m = await testMaster({
    services: {
      ports: {
        dnsExchange: (server, message) => {
          if (answer === "refuse") return Promise.reject(new Error(`${server}: connection refused`));
          const fake = new FakeUpdateServer("example.com", {
            name: "wb-key",
            algorithm: "hmac-sha256",
            secret: Uint8Array.from(atob(SECRET), (c) => c.charCodeAt(0)),
          });
          fake.now = () => Math.floor(m.clock.now() / 1000);
          return Promise.resolve(fake.answer(message));
        },
      },
    },
  });
  try {
    await m.addUser("root", "admin");
    const admin = await m.login("root");
    const system = { kind: "system" as const, name: "test" };
    await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
    const node = (await m.services.nodes.create(system, null, { name: "alpha", fqdn: "203.0.113.1" })).node;
    m.db.run("UPDATE nodes SET status = 'online', enrolled_at = 1 WHERE id = :id", { id: node.id });
    const pool = await m.services.pools.create(system, null, {
      name: "wbp0",
      ipv4_pool: "10.77.0.0/24",
      listen_port: 51900,
      announce: {
        kind: "dns",
        name: "vpn.example.com",
        zone: "example.com",
        server: "192.0.2.53:53",
        tsig: { name: "wb-key", algorithm: "hmac-sha256", secret: SECRET },
      },
    });
    m.services.pools.addMember(system, null, pool.id, { node_id: node.id });
    const page = async () => await (await m.request("/ui/pools", { cookie: admin })).text();
    assert.doesNotMatch(await page(), /DNS records:/, "nothing tried yet");

    await m.services.poolDns.publishDue();
    const failed = await page();
    assert.match(failed, /DNS records:\s*none published yet/);
    assert.match(
      failed,
      /DNS update failed: 192\.0\.2\.53:53: connection refused\. Next try\s*2026-11-22 10:00 UTC\./,
    );

    answer = "serve";
    m.clock.advance(2_000);
    await m.services.poolDns.publishDue();
    const ok = await page();
    assert.match(ok, /DNS records:\s*203\.0\.113\.1, published 2026-11-22 10:00 UTC/);
    assert.doesNotMatch(ok, /DNS update failed/);

    const token = await m.token("read");
    const api = await (await m.api(`/pools/${pool.id}`, { token })).json();
    assert.deepEqual(api.dns_publish, {
      published: ["203.0.113.1"],
      published_at: new Date(m.clock.now()).toISOString(),
      wanted: ["203.0.113.1"],
      last_attempt_at: new Date(m.clock.now()).toISOString(),
      last_error: null,
      failures: 0,
      next_attempt_at: null,
    });
    const list = await (await m.api("/pools", { token })).json();
    assert.deepEqual(list.pools[0].dns_publish, api.dns_publish);
  } finally {
    m.close();
  }
});
