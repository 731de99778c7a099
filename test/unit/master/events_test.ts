import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

const admin = { kind: "system" as const, name: "test" };

Deno.test("config.not_applied once per version a live node leaves unapplied past the deadline", async () => {
  const m = await testMaster({ services: { fleet: { notAppliedAfterMs: 5 * 60_000 } } });
  try {
    const n = await enrolled(m, "fra");
    const cfg = () => m.services.nodes.get(n.node.id).configVersion;
    await sendHeartbeat(m, n, { applied_version: cfg() });
    const events = () => m.services.events.recent(50).filter((e) => e.type === "config.not_applied");
    assert.equal(m.services.watch.notApplied(), 0);
    // A change the node does not apply (it keeps heartbeating with the old version).
    const iface = await m.services.interfaces.create(admin, null, { name: "wg0", ipv4_pool: "10.9.0.0/24" });
    await m.services.peers.create(admin, null, { interface_id: iface.id, name: "p1", node_id: n.node.id });
    const behind = cfg();
    m.services.watch.notApplied(); // first seen behind
    m.clock.advance(4 * 60_000);
    await sendHeartbeat(m, n, { applied_version: 1 });
    assert.equal(m.services.watch.notApplied(), 0, "not before the deadline");
    m.clock.advance(60_000 + 1);
    await sendHeartbeat(m, n, { applied_version: 1 });
    assert.equal(m.services.watch.notApplied(), 1);
    assert.equal(m.services.watch.notApplied(), 0, "once for this version");
    const data = JSON.parse(events()[0]!.payload).data;
    assert.equal(data.config_version, behind);
    assert.equal(data.applied_version, 1);
    // Applied: the next version that lags gets its own event after its own deadline.
    await sendHeartbeat(m, n, { applied_version: behind });
    m.services.watch.notApplied();
    await m.services.peers.create(admin, null, { interface_id: iface.id, name: "p2", node_id: n.node.id });
    m.services.watch.notApplied();
    m.clock.advance(5 * 60_000 + 1);
    await sendHeartbeat(m, n, { applied_version: behind });
    assert.equal(m.services.watch.notApplied(), 1);
    assert.equal(events().length, 2);
  } finally {
    m.close();
  }
});

Deno.test("metrics.dropped when a node starts dropping, at most once an hour", async () => {
  const m = await testMaster();
  try {
    const n = await enrolled(m, "fra");
    const count = () => m.services.events.recent(50).filter((e) => e.type === "metrics.dropped").length;
    await sendHeartbeat(m, n, { dropped: 0 });
    assert.equal(count(), 0);
    await sendHeartbeat(m, n, { dropped: 10 });
    await sendHeartbeat(m, n, { dropped: 30 });
    assert.equal(count(), 1);
    m.clock.advance(3_600_000);
    await sendHeartbeat(m, n, { dropped: 30 });
    assert.equal(count(), 1, "no new drops, no event");
    await sendHeartbeat(m, n, { dropped: 31 });
    assert.equal(count(), 2);
  } finally {
    m.close();
  }
});

Deno.test("peer.expired once per peer and expiry, before the expiry job disables it", async () => {
  const m = await testMaster();
  try {
    const iface = await m.services.interfaces.create(admin, null, { name: "wg0", ipv4_pool: "10.9.0.0/24" });
    const at = new Date(m.clock.now() + 60_000).toISOString();
    await m.services.peers.create(admin, null, { interface_id: iface.id, name: "temp", expires_at: at });
    assert.equal(m.services.watch.peersExpiring(), 0);
    m.clock.advance(60_000);
    assert.equal(m.services.watch.peersExpiring(), 1);
    assert.equal(m.services.watch.peersExpiring(), 0, "a fact is recorded once");
    m.services.peers.expireDue();
    assert.equal(m.services.watch.peersExpiring(), 0);
    const e = m.services.events.recent(50).find((e) => e.type === "peer.expired")!;
    assert.equal(JSON.parse(e.payload).data.peer.name, "temp");
  } finally {
    m.close();
  }
});
