// The DNS path of failover pools against a real authoritative server (Debian's Knot DNS, RFC 2136 +
// TSIG), checked by querying it with kdig: the pool name lists exactly the healthy members within one
// check interval of a failure and of a recovery, and a wrong TSIG secret is a clear error that changes
// nothing on the server. knotd runs as this test's own process on a loopback port (no systemd unit).
import assert from "node:assert/strict";
import { memoryLogger } from "../../src/core/logger.ts";
import { realClock } from "../../src/core/ports/real.ts";
import { tcpDnsExchange } from "../../src/master/dns_tcp.ts";
import { PoolDnsPublisher, type PoolDnsTarget } from "../../src/master/service/pool_dns.ts";
import { type Knot, type KnotKey, startKnot } from "../support/knot.ts";
import { freePort } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";
import type { Probe } from "../../src/master/health_probe.ts";
import { masterJobs } from "../../src/master/scheduler.ts";
import { DEFAULT_HEALTH_INTERVALS, healthStep } from "../../src/master/service/health.ts";
import { testMaster } from "../support/master.ts";
import { enroll, type EnrolledNode, sendHeartbeat } from "../support/signed_node.ts";

const ZONE = "pool.test";
const NAME = `vpn.${ZONE}`;
const SECRET = btoa("wirebuddy-pool-dns-test-key-0123"); // 32 bytes
const KEY = { name: "wirebuddy-pool", algorithm: "hmac-sha256" as const, secret: SECRET };
/** The health check interval this test runs with (the master's default is 30 s). */
const CHECK_INTERVAL_MS = 3_000;
const A = "192.0.2.11";
const B = "192.0.2.12";
const V6 = "2001:db8::12";

async function withKnot(fn: (knot: Knot) => Promise<void>, key: KnotKey = KEY) {
  const dir = await Deno.makeTempDir({ prefix: "wb-knot-" });
  const knot = await startKnot(dir, ZONE, key, freePort(), "vpn");
  try {
    await fn(knot);
  } finally {
    await knot.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The master's loop as scheduler.ts runs it: a health round every second (a member's check is due once
 * per check interval), the publisher kicked right after each round. `healthy` is what the last checks
 * said; a member's state changes take effect at its next check, as with the real HealthService.
 */
function fleet(knot: Knot, secret = SECRET) {
  const members = new Map([[A, { up: true, checkedUp: true }], [B, { up: true, checkedUp: true }]]);
  let nextCheck = 0;
  const target = (): PoolDnsTarget => ({
    interfaceId: 1,
    name: NAME,
    zone: ZONE,
    server: knot.server,
    tsig: { ...KEY, secret },
    ttl: 15,
    addresses: [...members].filter(([, m]) => m.checkedUp).map(([a]) => a).concat(
      members.get(B)!.checkedUp ? [V6] : [],
    ),
  });
  const log = memoryLogger();
  const publisher = new PoolDnsPublisher(
    () => [target()],
    tcpDnsExchange((o) => Deno.connect(o)),
    realClock,
    log,
    { timeoutMs: 2_000, retryMinMs: 500, retryMaxMs: 2_000, removeAttempts: 3 },
  );
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      if (Date.now() >= nextCheck) {
        for (const m of members.values()) m.checkedUp = m.up; // the round's checks
        nextCheck = Date.now() + CHECK_INTERVAL_MS;
      }
      publisher.kick();
      await realClock.sleep(1_000, stop.signal).catch(() => {});
    }
    await publisher.idle();
  })();
  return {
    log,
    publisher,
    set: (addr: string, up: boolean) => (members.get(addr)!.up = up),
    close: async () => {
      stop.abort();
      await loop;
    },
  };
}

const records = async (knot: Knot) => [...await knot.query(NAME, "A"), ...await knot.query(NAME, "AAAA")];

Deno.test("RFC 2136: knot lists exactly the healthy members within one check interval of a failure and a recovery", async () => {
  await withKnot(async (knot) => {
    const f = fleet(knot);
    try {
      const t0 = Date.now();
      await waitFor("A and B published", async () => (await records(knot)).length === 3, {
        timeoutMs: 10_000,
      });
      assert.deepEqual(await records(knot), [`15 ${A}`, `15 ${B}`, `15 ${V6}`]);
      const first = Date.now() - t0;

      // A fails: after its next check (at most one interval) only B is published.
      const failedAt = Date.now();
      f.set(A, false);
      await waitFor("only B published", async () => !(await records(knot)).includes(`15 ${A}`), {
        timeoutMs: CHECK_INTERVAL_MS + 1_500,
        intervalMs: 20,
      });
      const failover = Date.now() - failedAt;
      assert.deepEqual(await records(knot), [`15 ${B}`, `15 ${V6}`]);

      const recoveredAt = Date.now();
      f.set(A, true);
      await waitFor("A published again", async () => (await records(knot)).includes(`15 ${A}`), {
        timeoutMs: CHECK_INTERVAL_MS + 1_500,
        intervalMs: 20,
      });
      const recovery = Date.now() - recoveredAt;
      assert.deepEqual(await records(knot), [`15 ${A}`, `15 ${B}`, `15 ${V6}`]);
      // Within one check interval, plus the one-second round the publisher runs after.
      assert.ok(failover <= CHECK_INTERVAL_MS + 1_000, `failover took ${failover} ms`);
      assert.ok(recovery <= CHECK_INTERVAL_MS + 1_000, `recovery took ${recovery} ms`);
      const status = f.publisher.status(1)!;
      assert.equal(status.lastError, null);
      assert.deepEqual(status.published, [A, B, V6]);
      // deno-lint-ignore no-console
      console.log(
        `pool DNS on knot: first publish ${first} ms, failure→only B ${failover} ms, recovery→both ${recovery} ms ` +
          `(check interval ${CHECK_INTERVAL_MS} ms)`,
      );
    } finally {
      await f.close();
    }
  });
});

Deno.test("RFC 2136: a wrong TSIG secret is a clear error and changes nothing on knot", async () => {
  await withKnot(async (knot) => {
    const good = fleet(knot);
    await waitFor("A and B published", async () => (await records(knot)).length === 3);
    await good.close();
    const serial = await knot.serial();

    const bad = fleet(knot, btoa("not-the-secret-the-server-holds!"));
    try {
      bad.set(A, false);
      const error = await waitFor(
        "the failure on the pool's status",
        () => bad.publisher.status(1)?.lastError,
      );
      assert.equal(
        error,
        `${knot.server}: the server rejected our TSIG signature (BADSIG): the secret of key "wirebuddy-pool" differs from the server's`,
      );
      assert.ok(
        bad.log.lines.some((l) => /^<4>pool DNS update failed pool=vpn\.pool\.test .* rcode=BADSIG /.test(l)),
      );
      assert.deepEqual(await records(knot), [`15 ${A}`, `15 ${B}`, `15 ${V6}`], "nothing changed");
      assert.equal(await knot.serial(), serial, "the zone's serial did not move");
      assert.equal(bad.publisher.status(1)!.published, null);
    } finally {
      await bad.close();
    }
  });
});

Deno.test("RFC 2136: an hmac-sha512 key publishes; a name outside the key's ACL is refused, said plainly", async () => {
  const key: KnotKey = { ...KEY, algorithm: "hmac-sha512" };
  await withKnot(async (knot) => {
    const target = (name: string): PoolDnsTarget => ({
      interfaceId: 1,
      name,
      zone: ZONE,
      server: knot.server,
      tsig: key,
      ttl: 15,
      addresses: [A],
    });
    let current = target(NAME);
    const publisher = new PoolDnsPublisher(
      () => [current],
      tcpDnsExchange((o) => Deno.connect(o)),
      realClock,
      memoryLogger(),
    );
    await publisher.publishDue();
    assert.equal(publisher.status(1)!.lastError, null);
    assert.deepEqual(await records(knot), [`15 ${A}`]);

    current = { ...target(`other.${ZONE}`), interfaceId: 2 };
    await publisher.publishDue();
    assert.equal(
      publisher.status(2)!.lastError,
      // Knot answers an ACL denial of a known key with NOTAUTH and the TSIG error BADKEY.
      `${knot.server}: the server does not accept TSIG key "wirebuddy-pool" (hmac-sha512) for this update (BADKEY): ` +
        `it does not know the key, or its ACL does not let the key update "other.pool.test" in zone "pool.test"`,
    );
    assert.deepEqual(await knot.query(`other.${ZONE}`, "A"), []);
  }, key);
});

Deno.test("RFC 2136 end to end in the master: a member's failed tunnel check takes it out of knot's records within one check interval, a passing one brings it back", async () => {
  await withKnot(async (knot) => {
    const down = new Set<number>();
    const probe: Probe = (t) =>
      Promise.resolve(
        down.has(t.nodeId)
          ? { ok: false, latencyMs: 3_000, error: "no answer within 3000 ms", applied: null }
          : { ok: true, latencyMs: 1, error: null, applied: 0 },
      );
    const m = await testMaster({
      services: {
        nodes: { staleAfterMs: 3_600_000 },
        ports: { probe, dnsExchange: tcpDnsExchange((o) => Deno.connect(o)) },
      },
    });
    try {
      // The master's clock is a fake one (health intervals by hand), set to now: TSIG is signed with it.
      m.clock.advance(Date.now() - m.clock.now());
      const system = { kind: "system" as const, name: "test" };
      await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
      const token = await m.token("write");
      const nodes: EnrolledNode[] = [];
      for (const [name, fqdn] of [["alpha", A], ["bravo", B]]) {
        const res = await m.api("/nodes", { method: "POST", token, json: { name, fqdn } });
        assert.equal(res.status, 201);
        const n = await enroll(m, await res.json(), name!);
        assert.equal((await sendHeartbeat(m, n)).res.status, 200);
        nodes.push(n);
      }
      const alpha = nodes[0]!;
      const pool = await m.services.pools.create(system, null, {
        name: "wbp0",
        ipv4_pool: "10.77.0.0/24",
        listen_port: 51900,
        announce: { kind: "dns", name: NAME, zone: ZONE, server: knot.server, tsig: KEY, ttl: 15 },
      });
      for (const n of nodes) m.services.pools.addMember(system, null, pool.id, { node_id: n.node.id });

      // The scheduler's own job: a health round, then the publisher (awaited here, not in the background).
      const round = async () => {
        await masterJobs(m.services, { staleCheckMs: 60_000 }).find((j) => j.name === "node health checks")!
          .run();
        await m.services.poolDns.idle();
      };
      const interval = DEFAULT_HEALTH_INTERVALS[0];
      await round();
      assert.deepEqual(await records(knot), [`15 ${A}`, `15 ${B}`]);

      // alpha's tunnel stops answering: by its next check (one interval later) knot lists only bravo.
      down.add(alpha.node.id);
      let waited = 0;
      while (waited < interval && (await records(knot)).includes(`15 ${A}`)) {
        m.clock.advance(1_000);
        waited += 1_000;
        await round();
      }
      assert.deepEqual(await records(knot), [`15 ${B}`], `after ${waited} ms of master time`);
      assert.ok(waited <= interval, `failover after ${waited} ms, interval ${interval} ms`);
      assert.equal(m.services.health.view(alpha.node.id).failures, 1);
      const failedAfter = waited;

      down.delete(alpha.node.id);
      const failing = healthStep(1).intervalMs; // a failed node is checked again on the table's interval
      waited = 0;
      while (waited < failing && !(await records(knot)).includes(`15 ${A}`)) {
        m.clock.advance(1_000);
        waited += 1_000;
        await round();
      }
      assert.deepEqual(await records(knot), [`15 ${A}`, `15 ${B}`], `after ${waited} ms of master time`);
      assert.ok(waited <= failing, `recovery after ${waited} ms, interval ${failing} ms`);
      assert.equal(m.services.poolDns.status(pool.id)?.lastError, null);
      // deno-lint-ignore no-console
      console.log(
        `in the master: failure→only bravo after ${failedAfter} ms, recovery→both after ${waited} ms ` +
          `of master time (check intervals ${interval} and ${failing} ms)`,
      );
    } finally {
      await m.services.poolDns.idle();
      m.close();
    }
  });
});
