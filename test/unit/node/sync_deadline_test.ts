// Every request from the node to the master has a deadline (issue 17, item 4): during a partition a
// request must fail in bounded time, not hang for minutes. The master here never answers; the fake
// clock decides when the deadline passes.
import assert from "node:assert/strict";
import { z } from "zod";
import { exportPublicKey, generateSigningKeys } from "../../../src/core/sync.ts";
import { SyncClient, SyncError } from "../../../src/node/sync_client.ts";
import { FakeClock } from "../../support/fakes.ts";
import { waitFor } from "../../support/wait.ts";

async function client(clock: FakeClock, timeoutMs: number) {
  const keys = await generateSigningKeys();
  let sent = 0;
  const silent = (_url: string, init: RequestInit) =>
    new Promise<Response>((_, reject) => {
      sent++;
      init.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    });
  const c = new SyncClient(
    () => silent,
    clock,
    {
      node_id: 3,
      name: "n",
      node_secret: "s",
      url: "https://master.example:8443",
      tls: null,
      verify_key: await exportPublicKey(keys.publicKey),
    },
    keys.privateKey,
    "https://master.example:8443",
    { timeoutMs },
  );
  return { c, sent: () => sent };
}

/** Lets pending callbacks run (signing is real WebCrypto work, not only promise callbacks). */
async function settle() {
  await new Promise((r) => setTimeout(r, 20));
}

Deno.test("a request the master never answers fails after the request timeout, as 'unreachable'", async () => {
  const clock = new FakeClock();
  const { c, sent } = await client(clock, 20_000);
  let outcome = "pending" as unknown;
  c.post("/api/sync/heartbeat", {}, z.unknown()).then((v) => outcome = v, (e) => outcome = e);
  await waitFor("the request sent", () => sent() === 1);
  clock.advance(19_999);
  await settle();
  assert.equal(String(outcome), "pending");
  clock.advance(1);
  await waitFor("the request given up", () => outcome !== "pending");
  assert.ok(outcome instanceof SyncError, String(outcome));
  assert.equal((outcome as SyncError).unreachable, true);
  assert.match((outcome as SyncError).message, /no answer from the master within 20s/);
  assert.equal(clock.pendingSleeps, 0, "no timer left behind");
});

Deno.test("a long-poll gets its wait on top of the request timeout; a stop is not a timeout", async () => {
  const clock = new FakeClock();
  const { c, sent } = await client(clock, 20_000);
  let outcome = "pending" as unknown;
  c.getSigned("/api/sync/config?have=0&wait=50", z.unknown(), undefined, 50_000).then(
    (v) => outcome = v,
    (e) => outcome = e,
  );
  await waitFor("the long-poll sent", () => sent() === 1);
  clock.advance(69_000);
  await settle();
  assert.equal(String(outcome), "pending", "still within wait + timeout");
  clock.advance(1_000);
  await waitFor("the long-poll given up", () => outcome !== "pending");
  assert.ok(outcome instanceof SyncError && outcome.unreachable, String(outcome));
  assert.match((outcome as Error).message, /no answer from the master within 70s/);

  const stop = new AbortController();
  let stopped = "pending" as unknown;
  c.post("/api/sync/heartbeat", {}, z.unknown(), stop.signal).then((v) => stopped = v, (e) => stopped = e);
  await waitFor("the heartbeat sent", () => sent() === 2);
  stop.abort();
  await waitFor("the heartbeat ended", () => stopped !== "pending");
  assert.ok(!(stopped instanceof SyncError), "a stop ends the request without calling it a failure");
  assert.equal(clock.pendingSleeps, 0);
});
