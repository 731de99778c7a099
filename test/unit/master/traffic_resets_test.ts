// A peer's bytes on the chart are the sum of each host's deltas between consecutive samples (a counter
// that went down counts from zero), taken as the samples are stored: a reset inside a minute, at a minute
// boundary, two hosts interleaved, out-of-order and duplicate samples, and the downsampling to 5-minute
// and hourly buckets all keep every byte, once.
import assert from "node:assert/strict";
import { metricsRepo } from "../../../src/master/db/nodes_repo.ts";
import {
  counterDelta,
  runningTotals,
  slotRates,
  TrafficService,
} from "../../../src/master/service/traffic.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const system = { kind: "system" as const, name: "test" };

/** One sample as a node sends it: seconds after the test's minute, and the counters (tx = rx / 10). */
type S = { host: "a" | "b"; s: number; rx: number; seq?: number };

/** What the sum of each host's deltas says, samples taken in the order given (the reference). */
function counted(samples: S[]): number {
  const last = new Map<string, number>();
  let sum = 0;
  for (const x of samples) {
    const before = last.get(x.host);
    if (before !== undefined) sum += counterDelta(before, x.rx);
    last.set(x.host, x.rx);
  }
  return sum;
}

const TABLE: { name: string; beats: S[][]; bytes: number }[] = [
  {
    name: "a reset mid-minute whose counter climbs past the old value within the minute",
    beats: [
      [{ host: "a", s: -30, rx: 0 }, { host: "a", s: 10, rx: 1_000 }, { host: "a", s: 20, rx: 5_000 }],
      [
        { host: "a", s: 30, rx: 200 }, // the pool's other member took the client over: the peer re-added
        { host: "a", s: 50, rx: 9_000 },
        { host: "a", s: 80, rx: 10_000 },
      ],
    ],
    bytes: 5_000 + 200 + 8_800 + 1_000,
  },
  {
    name: "a reset at a minute boundary",
    beats: [[{ host: "a", s: -30, rx: 0 }, { host: "a", s: 59.999, rx: 5_000 }], [
      { host: "a", s: 60, rx: 100 },
      { host: "a", s: 90, rx: 6_000 },
    ]],
    bytes: 5_000 + 100 + 5_900,
  },
  {
    name: "two hosts interleaved, one of them reset",
    beats: [
      [{ host: "a", s: -30, rx: 0 }, { host: "b", s: -20, rx: 50_000 }],
      [{ host: "a", s: 5, rx: 3_000 }, { host: "b", s: 6, rx: 51_000 }, { host: "a", s: 20, rx: 7_000 }],
      [{ host: "b", s: 25, rx: 400 }, { host: "a", s: 40, rx: 8_000 }, { host: "b", s: 45, rx: 60_000 }],
      [{ host: "a", s: 70, rx: 9_000 }, { host: "b", s: 75, rx: 61_000 }],
    ],
    bytes: 9_000 + 1_000 + 400 + 59_600 + 1_000,
  },
  {
    name: "out-of-order times (a node's clock stepped back) and a duplicate sample",
    beats: [
      [{ host: "a", s: -30, rx: 0 }, { host: "a", s: 10, rx: 1_000 }, { host: "a", s: 40, rx: 3_000 }],
      [
        { host: "a", s: 30, rx: 4_000 }, // taken after the one dated 40
        { host: "a", s: 35, rx: 4_000 }, // the same counters again
        { host: "a", s: 70, rx: 6_000 },
      ],
    ],
    bytes: 6_000,
  },
  {
    name: "out-of-order times across a reset",
    beats: [[{ host: "a", s: -30, rx: 0 }, { host: "a", s: 40, rx: 8_000 }], [
      { host: "a", s: 20, rx: 500 }, // reset, dated before the one above
      { host: "a", s: 90, rx: 2_500 },
    ]],
    bytes: 8_000 + 500 + 2_000,
  },
];

for (const row of TABLE) {
  Deno.test(`the chart counts every byte once: ${row.name}`, async () => {
    assert.equal(counted(row.beats.flat()), row.bytes, "the table's own sum");
    const m = await testMaster();
    // The master's tunnel key: every node reports it (two hosts of one key, like a pool's client).
    const iface = await m.services.interfaces.create(system, null, {
      name: "wg0",
      ipv4_pool: "10.13.13.0/24",
    });
    const hosts = { a: await enrolled(m, "alpha"), b: await enrolled(m, "beta") };
    // A minute (and 10-minute slot) that began well before now; each host's first sample lies in the
    // slot before (the chart counts from the last sample of its first slot).
    const minute = Math.floor(m.clock.now() / (10 * MIN)) * 10 * MIN - 20 * MIN;
    const seq = { a: 0, b: 0 };
    for (const beat of row.beats) {
      for (const host of ["a", "b"] as const) {
        const metrics = beat.filter((x) => x.host === host).map((x) => ({
          seq: ++seq[host],
          at: minute + x.s * 1000,
          peer: iface.publicKey,
          rx: x.rx,
          tx: x.rx / 10,
          handshake: 1,
          endpoint: null,
        }));
        if (metrics.length === 0) continue;
        const r = await sendHeartbeat(m, hosts[host], { metrics });
        assert.equal(JSON.parse(r.text).acked_seq, seq[host], r.text);
        // Delivered twice (the ack was lost): stored once.
        const again = await sendHeartbeat(m, hosts[host], { metrics });
        assert.equal(again.res.status, 200, again.text);
      }
    }
    const traffic = new TrafficService(m.db, m.clock);
    assert.deepEqual(traffic.forPeer(iface.publicKey, "1h").totals, { rx: row.bytes, tx: row.bytes / 10 });
    assert.deepEqual(traffic.forPeer(iface.publicKey, "24h").totals, { rx: row.bytes, tx: row.bytes / 10 });
    m.close();
  });
}

Deno.test("runningTotals() adds the delta since the host's previous sample, from zero after a reset", () => {
  assert.deepEqual(runningTotals(null, { rx: 700, tx: 70 }), { rx_total: 700, tx_total: 70 });
  const prev = { rx: 5_000, tx: 500, rx_total: 12_000, tx_total: 1_200 };
  assert.deepEqual(runningTotals(prev, { rx: 5_600, tx: 560 }), { rx_total: 12_600, tx_total: 1_260 });
  assert.deepEqual(runningTotals(prev, { rx: 5_000, tx: 500 }), { rx_total: 12_000, tx_total: 1_200 });
  assert.deepEqual(runningTotals(prev, { rx: 300, tx: 600 }), { rx_total: 12_300, tx_total: 1_300 });
});

Deno.test("slotRates() counts a total dated before a higher one nothing, and the bytes after it once", () => {
  const s = slotRates([
    { key: "a", at: 0, rx: 0, tx: 0 },
    { key: "a", at: 60_000, rx: 6_000, tx: 0 },
    { key: "a", at: 120_000, rx: 5_000, tx: 0 }, // arrived before the one above
    { key: "a", at: 180_000, rx: 9_000, tx: 0 },
  ], { from: 0, to: 180_000, slotMs: 60_000 });
  assert.deepEqual(s.totals, { rx: 9_000, tx: 0 });
  assert.deepEqual(s.points.map((p) => p.rx), [100, 0, 50]);
});

Deno.test("downsampling to 5-minute and hourly buckets keeps every byte of a series with resets", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const key = iface.publicKey;
  const traffic = new TrafficService(m.db, m.clock);
  // Three days ago, on a 4-hour boundary: a first sample (zero) alone in the hour before the one
  // before, then 10 hours of samples every 20 s at 1,000 B/s, the counters reset every 47 minutes
  // and 20 s (inside buckets and slots; each climbs past the old value within its bucket).
  const start = Math.floor((m.clock.now() - 3 * DAY) / (4 * HOUR)) * 4 * HOUR;
  const samples: { at: number; rx: number }[] = [{ at: start - HOUR - 30_000, rx: 0 }];
  let rx = 0;
  for (let at = start; at < start + 10 * HOUR; at += 20_000) {
    rx = (at - start) % (47 * MIN + 20_000) < 20_000 && at > start ? 20_000 : rx + 20_000;
    samples.push({ at, rx });
  }
  const bytes = counted(samples.map((x) => ({ host: "a", s: 0, rx: x.rx })));
  const resets = samples.filter((x, i) => i > 1 && x.rx < samples[i - 1]!.rx).length;
  assert.ok(resets >= 10, `${resets} resets`);
  m.db.tx(() => {
    for (const x of samples) {
      const c = { rx: x.rx, tx: x.rx / 4 };
      metricsRepo.insertRaw(m.db, {
        public_key: key,
        node_id: null,
        at: x.at,
        ...c,
        handshake: 1,
        endpoint: null,
        ...runningTotals(metricsRepo.previous(m.db, key, null), c),
      });
    }
  });
  const totals = () => ["7d", "30d"].map((r) => traffic.forPeer(key, r as "7d" | "30d").totals);
  const want = [{ rx: bytes, tx: bytes / 4 }, { rx: bytes, tx: bytes / 4 }];
  assert.deepEqual(totals(), want, "raw samples");
  metricsRepo.downsample(m.db, 0, 1, 5 * MIN, m.clock.now());
  assert.deepEqual(totals(), want, "5-minute buckets");
  metricsRepo.downsample(m.db, 1, 2, HOUR, m.clock.now());
  assert.equal(m.db.get<{ n: number }>("SELECT count(*) AS n FROM peer_metrics WHERE resolution < 2")!.n, 0);
  assert.deepEqual(totals(), want, "hourly buckets");
  // A sample after the rows were rolled up continues the totals of the last bucket.
  const last = metricsRepo.previous(m.db, key, null)!;
  assert.deepEqual(last.rx_total, bytes);
  assert.deepEqual(runningTotals(last, { rx: rx + 5, tx: 0 }).rx_total, bytes + 5);
  m.close();
});
