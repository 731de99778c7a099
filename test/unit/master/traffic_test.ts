import assert from "node:assert/strict";
import {
  counterDelta,
  type CounterSample,
  runningTotals,
  slotRates,
  type StoredCounters,
  TrafficService,
} from "../../../src/master/service/traffic.ts";
import { testMaster } from "../../support/master.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const system = { kind: "system" as const, name: "test" };

/** A master with interface wg0 and peers "alice" (on the master) and "bob" (on node "tokyo"). */
async function setup() {
  const m = await testMaster();
  await m.services.interfaces.create(system, null, {
    name: "wg0",
    ipv4_pool: "10.13.13.0/24",
    listen_port: 51820,
  });
  const tokyo =
    (await m.services.nodes.create(system, null, { name: "tokyo", fqdn: "tokyo.example.com" })).node;
  const alice = await m.services.peers.create(system, null, { interface_id: 1, name: "alice" });
  const bob = await m.services.peers.create(system, null, {
    interface_id: 1,
    name: "bob",
    node_id: tokyo.id,
  });
  const traffic = new TrafficService(m.db, m.clock);
  return { m, traffic, alice, bob, tokyo };
}

/** Inserts a metrics row through SQL, as the heartbeat or the downsampling leave them. */
function insert(
  m: Awaited<ReturnType<typeof testMaster>>,
  r: { key: string; at: number; rx: number; tx: number; resolution?: number; nodeId?: number | null },
) {
  m.db.run(
    // Counters that only grow from zero: their running totals are the counters themselves.
    `INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
     VALUES (:key, :resolution, :at, :nodeId, :rx, :tx, :handshake, :endpoint, :rx, :tx)`,
    {
      key: r.key,
      resolution: r.resolution ?? 0,
      at: r.at,
      nodeId: r.nodeId ?? null,
      rx: r.rx,
      tx: r.tx,
      handshake: Math.floor(r.at / 1000) - 5,
      endpoint: "203.0.113.9:41000",
    },
  );
}

/** The rates of the slots that have data. */
const covered = (points: { rx: number | null; tx: number | null }[]) =>
  points.filter((p) => p.rx !== null).map((p) => ({ rx: Math.round(p.rx!), tx: Math.round(p.tx!) }));

// --- the pure computation -------------------------------------------------------------------------

Deno.test("counterDelta() counts a counter that went down from zero, never negative", () => {
  assert.equal(counterDelta(1000, 1500), 500);
  assert.equal(counterDelta(1000, 1000), 0);
  assert.equal(counterDelta(1_000_000, 300), 300);
});

Deno.test("slotRates() turns cumulative counters into bytes per second per slot", () => {
  const samples: CounterSample[] = [0, 1, 2, 3].map((k) => ({
    key: "a",
    at: k * 10 * MIN,
    rx: k * 600_000,
    tx: k * 60_000,
  }));
  const s = slotRates(samples, { from: 0, to: 40 * MIN, slotMs: 10 * MIN });
  assert.deepEqual(s.points.map((p) => [p.rx, p.tx]), [[1000, 100], [1000, 100], [1000, 100], [null, null]]);
  assert.deepEqual(s.totals, { rx: 1_800_000, tx: 180_000 });
  assert.equal(s.samples, 4);
});

Deno.test("slotRates() starts fresh after a counter reset instead of showing a negative rate", () => {
  const counters = [
    { key: "a", at: 0, rx: 5_000_000, tx: 9_000_000 },
    { key: "a", at: 10 * MIN, rx: 5_600_000, tx: 9_060_000 },
    { key: "a", at: 20 * MIN, rx: 120_000, tx: 6_000 }, // the interface was re-created
    { key: "a", at: 30 * MIN, rx: 720_000, tx: 66_000 },
  ];
  // Stored with their running totals (as the intake does), read by the chart.
  let previous: StoredCounters | null = null;
  const samples: CounterSample[] = counters.map((c) => {
    const t = runningTotals(previous, c);
    previous = { ...c, ...t };
    return { key: c.key, at: c.at, rx: t.rx_total, tx: t.tx_total };
  });
  const s = slotRates(samples, { from: 0, to: 30 * MIN, slotMs: 10 * MIN });
  assert.deepEqual(s.points.map((p) => [p.rx, p.tx]), [[1000, 100], [200, 10], [1000, 100]]);
  assert.ok(s.points.every((p) => p.rx! >= 0 && p.tx! >= 0));
  assert.deepEqual(s.totals, { rx: 600_000 + 120_000 + 600_000, tx: 60_000 + 6_000 + 60_000 });
});

Deno.test("slotRates() leaves a gap empty rather than spreading its bytes as a flat line", () => {
  const samples: CounterSample[] = [
    { key: "a", at: 0, rx: 0, tx: 0 },
    { key: "a", at: 10 * MIN, rx: 600_000, tx: 0 },
    // the node was unreachable for two hours; its counter kept going
    { key: "a", at: 130 * MIN, rx: 90_000_000, tx: 0 },
    { key: "a", at: 140 * MIN, rx: 90_600_000, tx: 0 },
  ];
  const s = slotRates(samples, { from: 0, to: 140 * MIN, slotMs: 10 * MIN });
  assert.equal(s.points[0]!.rx, 1000);
  assert.ok(s.points.slice(1, 13).every((p) => p.rx === null && p.tx === null), "the gap is empty");
  assert.equal(s.points[13]!.rx, 1000);
  assert.equal(s.totals.rx, 1_200_000, "bytes of the gap are not counted in any slot");
});

Deno.test("slotRates() sums peers and does not dilute a half-covered slot", () => {
  const samples: CounterSample[] = [
    { key: "a", at: 0, rx: 0, tx: 0 },
    { key: "a", at: 10 * MIN, rx: 600_000, tx: 0 },
    { key: "a", at: 15 * MIN, rx: 900_000, tx: 0 }, // the newest sample, half-way through the slot
    { key: "b", at: 0, rx: 0, tx: 0 },
    { key: "b", at: 10 * MIN, rx: 1_200_000, tx: 600_000 },
  ];
  const s = slotRates(samples, { from: 0, to: 20 * MIN, slotMs: 10 * MIN });
  assert.deepEqual(s.points.map((p) => [p.rx, p.tx]), [[3000, 1000], [1000, 0]]);
});

// --- through SQL -----------------------------------------------------------------------------------

Deno.test("TrafficService reads rates from raw rows, keeps hosts apart and leaves node tunnels out", async () => {
  const { m, traffic, alice, bob, tokyo } = await setup();
  const now = m.clock.now();
  for (let t = now - 3 * HOUR; t <= now; t += 30_000) {
    const k = (t - (now - 3 * HOUR)) / 1000;
    insert(m, { key: alice.publicKey, at: t, rx: k * 1000, tx: k * 250 });
    insert(m, { key: bob.publicKey, at: t, rx: k * 2000, tx: k * 500, nodeId: tokyo.id });
    // the tunnel between tokyo and the master is no peer of anyone
    insert(m, { key: "T".repeat(43) + "=", at: t, rx: k * 1e6, tx: k * 1e6 });
  }
  const total = traffic.total("24h");
  assert.ok(total.samples <= 2 * 20, `one sample per peer and 10-minute slot is read, not ${total.samples}`);
  const rates = covered(total.points);
  assert.ok(rates.length >= 17, `${rates.length} slots with data`);
  for (const r of rates) assert.deepEqual(r, { rx: 3000, tx: 750 });
  assert.equal(total.points.slice(0, -20).filter((p) => p.rx !== null).length, 0, "nothing before the data");

  for (const r of covered(traffic.forHost(null, "24h").points)) assert.deepEqual(r, { rx: 1000, tx: 250 });
  for (const r of covered(traffic.forHost(tokyo.id, "24h").points)) {
    assert.deepEqual(r, { rx: 2000, tx: 500 });
  }
  for (const r of covered(traffic.forPeer(bob.publicKey, "24h").points)) {
    assert.deepEqual(r, { rx: 2000, tx: 500 });
  }
  assert.equal(traffic.forPeer("nobody", "24h").samples, 0);
  m.close();
});

Deno.test("TrafficService reads downsampled rows at the end of their bucket: steady traffic stays steady", async () => {
  const { m, traffic, alice } = await setup();
  const now = m.clock.now();
  const start = now - 32 * DAY;
  // Counters sampled every minute at 1000 B/s rx and 100 B/s tx, stored as housekeeping leaves them:
  // hourly rows before 7 days, 5-minute rows before 24 hours, raw after. A downsampled row sits at its
  // bucket's start and holds the bucket's last counters.
  const counters = (t: number) => ({ rx: ((t - start) / 1000) * 1000, tx: ((t - start) / 1000) * 100 });
  m.db.tx(() => {
    for (let t = start; t < now - 7 * DAY; t += HOUR) {
      insert(m, { key: alice.publicKey, at: t, resolution: 2, ...counters(t + HOUR - MIN) });
    }
    for (let t = now - 7 * DAY; t < now - DAY; t += 5 * MIN) {
      insert(m, { key: alice.publicKey, at: t, resolution: 1, ...counters(t + 4 * MIN) });
    }
    for (let t = now - DAY; t <= now; t += MIN) insert(m, { key: alice.publicKey, at: t, ...counters(t) });
  });

  for (const range of ["24h", "7d", "30d"] as const) {
    const s = traffic.forPeer(alice.publicKey, range);
    const full = s.points.slice(0, -1); // the newest slot is still filling
    assert.ok(full.every((p) => p.rx !== null), `${range}: no holes`);
    for (const p of full) {
      assert.ok(Math.abs(p.rx! - 1000) <= 20, `${range}: rx ${p.rx} at ${new Date(p.at).toISOString()}`);
      assert.ok(Math.abs(p.tx! - 100) <= 2, `${range}: tx ${p.tx}`);
    }
  }
  m.close();
});

Deno.test("TrafficService.latest() gives the newest handshake and endpoint, or nothing", async () => {
  const { m, traffic, alice, bob } = await setup();
  const now = m.clock.now();
  insert(m, { key: alice.publicKey, at: now - 60_000, rx: 1, tx: 1 });
  insert(m, { key: alice.publicKey, at: now - 30_000, rx: 2, tx: 2 });
  assert.deepEqual(traffic.latest(alice.publicKey), {
    at: now - 30_000,
    handshakeAt: now - 35_000,
    endpoint: "203.0.113.9:41000",
  });
  assert.equal(traffic.latest(bob.publicKey), null);
  m.close();
});
