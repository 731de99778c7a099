// Every traffic sample a node sends for its own peers is stored exactly once: two hosts reporting the
// same key in the same millisecond, and several future-dated samples clamped to the master's `now`.
import assert from "node:assert/strict";
import { metricsRepo } from "../../../src/master/db/nodes_repo.ts";
import { masterTimes } from "../../../src/master/service/node_clocks.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat, signedRequest } from "../../support/signed_node.ts";

const system = { kind: "system" as const, name: "test" };

type Row = { public_key: string; node_id: number | null; resolution: number; at: number; rx: number };

function sample(seq: number, peer: string, at: number) {
  return { seq, at, peer, rx: seq, tx: seq, handshake: 1, endpoint: null };
}

Deno.test("two nodes' samples of the master's key taken in the same millisecond are both stored, and downsampled per node", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const fra = await enrolled(m, "frankfurt");
  const tyo = await enrolled(m, "tokyo");
  const at = m.clock.now() - 1_000;
  for (const n of [fra, tyo]) {
    const r = await sendHeartbeat(m, n, { metrics: [sample(1, iface.publicKey, at)] });
    assert.equal(JSON.parse(r.text).acked_seq, 1, r.text);
  }
  const rows = () =>
    m.db.all<Row>(
      "SELECT public_key, node_id, resolution, at, rx FROM peer_metrics ORDER BY node_id, resolution",
    );
  assert.deepEqual(rows().map((r) => [r.node_id, r.resolution, r.at]), [[fra.node.id, 0, at], [
    tyo.node.id,
    0,
    at,
  ]]);
  const count = (id: number) =>
    m.db.get<{ n: number }>("SELECT count(*) AS n FROM peer_metrics WHERE node_id = :id", { id })!.n;
  assert.equal(count(tyo.node.id), 1, "tokyo's sample is stored beside frankfurt's");

  metricsRepo.downsample(m.db, 0, 1, 60_000, m.clock.now() + 1);
  assert.deepEqual(
    rows().map((r) => [r.node_id, r.resolution]),
    [[fra.node.id, 1], [tyo.node.id, 1]],
    "each node keeps its own bucket",
  );
  m.close();
});

Deno.test("future-dated samples clamped to the master's time are all stored, in their order, none after now", async () => {
  const m = await testMaster();
  const iface = await m.services.interfaces.create(system, null, { name: "wg0", ipv4_pool: "10.13.13.0/24" });
  const a = await enrolled(m, "frankfurt");
  const peer = await m.services.peers.create(system, null, {
    interface_id: iface.id,
    name: "phone",
    node_id: a.node.id,
  });
  const now = m.clock.now();
  // The request is on time, the samples 10 minutes ahead (a clock stepped back after they were taken).
  const ahead = now + 10 * 60_000;
  const metrics = [1, 2, 3, 4, 5, 6].map((seq) =>
    sample(seq, seq % 2 ? peer.publicKey : iface.publicKey, ahead + seq * 1_000)
  );
  const r = await signedRequest(m, "POST", "/api/sync/heartbeat", {
    status: "online",
    applied_version: 0,
    interfaces: [],
    metrics,
  }, { nodeId: a.node.id, key: a.key, bearer: a.secret, timestamp: now });
  assert.equal(JSON.parse(r.text).acked_seq, 6, r.text);
  const stored = (key: string) =>
    m.db.all<Row>("SELECT at, rx FROM peer_metrics WHERE public_key = :key ORDER BY at", { key }).map((x) => [
      x.at,
      x.rx,
    ]);
  assert.deepEqual(stored(peer.publicKey), [[now - 2, 1], [now - 1, 3], [now, 5]]);
  assert.deepEqual(stored(iface.publicKey), [[now - 2, 2], [now - 1, 4], [now, 6]]);

  // The next heartbeat, in the same millisecond: its clamped sample finds a free time before them.
  await signedRequest(m, "POST", "/api/sync/heartbeat", {
    status: "online",
    applied_version: 0,
    interfaces: [],
    metrics: [sample(7, peer.publicKey, ahead + 7_000)],
  }, { nodeId: a.node.id, key: a.key, bearer: a.secret, timestamp: now });
  assert.equal(stored(peer.publicKey).length, 4, "the seventh sample is stored too");
  assert.ok(stored(peer.publicKey).every(([at]) => at! <= now));
  m.close();
});

Deno.test("masterTimes() keeps clamped samples of a key apart and in order, and leaves the rest alone", () => {
  const now = 1_000_000;
  const rows: [string, { peer: string; at: number }[], number | null, number[]][] = [
    ["past samples keep their times", [{ peer: "a", at: now - 5 }, { peer: "a", at: now - 3 }], null, [
      now - 5,
      now - 3,
    ]],
    ["three clamped samples of one key", [1, 2, 3].map((i) => ({ peer: "a", at: now + 9_000 + i })), null, [
      now - 2,
      now - 1,
      now,
    ]],
    [
      "two keys clamped in the same dump share the times",
      [
        { peer: "a", at: now + 5_000 },
        { peer: "b", at: now + 5_000 },
        { peer: "a", at: now + 6_000 },
        { peer: "b", at: now + 6_000 },
      ],
      null,
      [now - 1, now - 1, now, now],
    ],
    [
      "a sample the node dated now, then a clamped one",
      [{ peer: "a", at: now }, { peer: "a", at: now + 60_000 }],
      null,
      [
        now - 1,
        now,
      ],
    ],
    [
      "shifted by a notable skew, none clamped",
      [{ peer: "a", at: now + 2_000 }, { peer: "a", at: now + 3_000 }],
      3_000,
      [
        now - 1_000,
        now,
      ],
    ],
  ];
  for (const [name, samples, skew, want] of rows) {
    assert.deepEqual(masterTimes(samples, skew, now), want, name);
  }
});
