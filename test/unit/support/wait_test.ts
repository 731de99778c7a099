// The tests' one wait helper: it returns the first truthy value, and at its deadline it fails loudly.
import assert from "node:assert/strict";
import { waitFor } from "../../support/wait.ts";

Deno.test("waitFor() returns the first truthy value of the check", async () => {
  let calls = 0;
  const value = await waitFor("the third call", () => ++calls >= 3 && `call ${calls}`, { intervalMs: 1 });
  assert.equal(value, "call 3");
});

Deno.test("waitFor() throws at its deadline, naming what it waited for", async () => {
  const started = Date.now();
  await assert.rejects(
    waitFor("a condition that never holds", () => false, { timeoutMs: 30, intervalMs: 5 }),
    { message: "Timed out after 30 ms waiting for a condition that never holds" },
  );
  assert.ok(Date.now() - started >= 30, "not before the deadline");
});

Deno.test("waitFor() retries a check that throws, and quotes its last error at the deadline", async () => {
  let calls = 0;
  assert.equal(
    await waitFor("a file", () => {
      if (++calls < 3) throw new Error("not yet");
      return "there";
    }, { intervalMs: 1 }),
    "there",
  );
  await assert.rejects(
    waitFor("the master", () => Promise.reject(new Error("connection refused")), {
      timeoutMs: 20,
      intervalMs: 5,
    }),
    { message: "Timed out after 20 ms waiting for the master: connection refused" },
  );
});
