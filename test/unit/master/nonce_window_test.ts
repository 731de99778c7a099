import assert from "node:assert/strict";
import { NonceWindow } from "../../../src/master/service/nonce_window.ts";
import { FakeClock } from "../../support/fakes.ts";

Deno.test("NonceWindow takes a nonce once while it has not expired, and forgets it once it has", () => {
  const clock = new FakeClock();
  const w = new NonceWindow(clock);
  const t0 = clock.now();
  assert.equal(w.claim("n-aaaaaaaaaaaaaaaa", t0 + 300_000), true);
  assert.equal(w.claim("n-aaaaaaaaaaaaaaaa", t0 + 300_000), false, "a replay");
  assert.equal(w.claim("n-bbbbbbbbbbbbbbbb", t0 + 600_000), true);
  clock.advance(299_000);
  assert.equal(w.claim("n-aaaaaaaaaaaaaaaa", t0 + 300_000), false, "still a replay just before its expiry");
  clock.advance(11_000 + 1);
  assert.equal(w.claim("n-cccccccccccccccc", clock.now() + 300_000), true);
  assert.equal(w.size, 2, "the expired nonce is forgotten (its request's window refuses it now)");
  assert.equal(w.claim("n-bbbbbbbbbbbbbbbb", t0 + 600_000), false, "a live one is kept");
});

Deno.test("NonceWindow stays bounded: 100,000 claims over 20 minutes keep only the last window's", () => {
  const clock = new FakeClock();
  const w = new NonceWindow(clock);
  for (let i = 0; i < 100_000; i++) {
    clock.advance(12);
    assert.equal(w.claim(`n-${i.toString().padStart(16, "0")}`, clock.now() + 300_000), true);
  }
  // 300 s of claims at one per 12 ms (25,000) plus at most one 10 s bucket not yet forgotten.
  assert.ok(w.size <= 25_000 + 10_000 / 12 + 1, `kept ${w.size}`);
  assert.ok(w.size >= 25_000, `kept ${w.size}`);
});
