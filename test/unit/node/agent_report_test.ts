import assert from "node:assert/strict";
import { AgentState } from "../../../src/node/agent_state.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";

const config = (v: number): NodeConfig => ({ node_id: 1, config_version: v, issued_at: 0, interfaces: [] });

Deno.test("AgentState.report() carries the last apply's outcome, error, version, duration and warnings", () => {
  const s = new AgentState();
  assert.deepEqual(s.report(null), { apply: null, warnings: [], queue_depth: null, sync_latency_ms: null });
  s.configApplied(config(3), { ok: true, durationMs: 42, commands: 5, warnings: ["Adopting wg0"] });
  s.synced(12);
  assert.deepEqual(s.report(7), {
    apply: { ok: true, error: null, version: 3, duration_ms: 42 },
    warnings: ["Adopting wg0"],
    queue_depth: 7,
    sync_latency_ms: 12,
  });
  // A quiet repair tick is no apply to report; a failing one is.
  s.reconciled({ ok: true, commands: 0, durationMs: 1 });
  assert.equal(s.report(0).apply!.duration_ms, 42);
  s.configApplied(config(4), {
    ok: false,
    error: { message: "[#] wg setconf wg0 /dev/stdin: Invalid argument" },
    durationMs: 9,
  });
  assert.deepEqual(s.report(0).apply, {
    ok: false,
    error: "[#] wg setconf wg0 /dev/stdin: Invalid argument",
    version: 4,
    duration_ms: 9,
  });
  assert.equal(s.applied, 3);
  // The repair that ends the failure is reported.
  s.reconciled({ ok: true, commands: 2, durationMs: 5 });
  assert.deepEqual(s.report(0).apply, { ok: true, error: null, version: 4, duration_ms: 5 });
});
