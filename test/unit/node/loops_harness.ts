// The agent's loops with fakes for everything they name: a scripted master link, a fake engine, a
// fake clock (time moves only when the test says; no timers) and an in-memory disk.
import assert from "node:assert/strict";
import type { z } from "zod";
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig } from "../../../src/core/sync.ts";
import { AgentState } from "../../../src/node/agent_state.ts";
import { Contact } from "../../../src/node/contact.ts";
import { DataPlane } from "../../../src/node/dataplane.ts";
import type { MasterLink } from "../../../src/node/loops.ts";
import type { Engine, ReconcileResult } from "../../../src/node/reconcile/engine.ts";
import { Wakeable } from "../../../src/node/sleep.ts";
import type { SavedConfig } from "../../../src/node/state.ts";
import { SyncError } from "../../../src/node/sync_client.ts";
import { FakeClock } from "../../support/fakes.ts";
import { key } from "./fixtures.ts";

export const NODE = 7;
export const TIMING = {
  backoffMinMs: 5_000,
  backoffMaxMs: 300_000,
  configWaitMs: 50_000,
  heartbeatMs: 30_000,
};

export const config = (version: number, node_id = NODE): NodeConfig => ({
  node_id,
  config_version: version,
  issued_at: 0,
  interfaces: [{
    name: "wg0",
    addresses: ["10.13.13.250/24"],
    listen_port: 51821,
    mtu: null,
    private_key: key(1),
    peers: [{
      public_key: key(11),
      preshared_key: null,
      allowed_ips: ["10.13.13.2/32"],
      endpoint: null,
      persistent_keepalive: null,
    }],
    master_peer: null,
    masquerade: true,
  }],
});

/** Lets pending promise callbacks run; fails (instead of hanging) when `cond` never holds. */
export async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await Promise.resolve();
  }
  throw new Error(`never happened: ${what}`);
}

export class FakeEngine implements Engine {
  states: HostState[] = [];
  next: ReconcileResult[] = [];
  reconcileOnce(desired: HostState): Promise<ReconcileResult> {
    this.states.push(structuredClone(desired));
    return Promise.resolve(this.next.shift() ?? { ok: true, planned: 0, commands: 0, warnings: [] });
  }
}

export type Answer = unknown | SyncError;

/**
 * The master side of the sync protocol, scripted: answers are taken in order (a function is asked at
 * request time); none left = a request that waits until aborted (a long-poll, or a partition).
 */
export class FakeMaster implements MasterLink {
  readonly configAnswers: Answer[] = [];
  readonly heartbeatAnswers: Answer[] = [];
  readonly gets: string[] = [];
  readonly beats: Record<string, unknown>[] = [];

  #answer<T>(queue: Answer[], schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const first = queue.shift();
    const next = typeof first === "function" ? first() : first;
    if (next instanceof SyncError) return Promise.reject(next);
    if (next !== undefined) return Promise.resolve(schema.parse(next));
    return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
  }

  post<T>(path: string, body: unknown, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    assert.equal(path, "/api/sync/heartbeat");
    this.beats.push(body as Record<string, unknown>);
    return this.#answer(this.heartbeatAnswers, schema, signal);
  }

  async getSigned<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal) {
    this.gets.push(path);
    const value = await this.#answer(this.configAnswers, schema, signal);
    return { value, raw: JSON.stringify(value), signature: "sig", nonce: `n${this.gets.length}` };
  }
}

export function world() {
  const clock = new FakeClock();
  const log = memoryLogger();
  const stopAll = new AbortController();
  const state = new AgentState();
  const engine = new FakeEngine();
  const dataplane = new DataPlane(engine, { wgKeys: () => Promise.resolve({}) });
  const saved: SavedConfig[] = [];
  const disk = {
    saveConfig: (c: SavedConfig) => (saved.push(c), Promise.resolve()),
    forget: () => Promise.resolve(),
  };
  const master = new FakeMaster();
  const heartbeatNow = new Wakeable();
  const configNow = new Wakeable();
  const contact = new Contact(clock, log, { config: configNow, heartbeat: heartbeatNow });
  const removals: number[] = [];
  const removed = () => (removals.push(clock.now()), Promise.resolve());
  const base = { clock, log, stop: stopAll.signal };
  return {
    clock,
    log,
    stopAll,
    state,
    engine,
    dataplane,
    saved,
    disk,
    master,
    heartbeatNow,
    configNow,
    contact,
    removals,
    removed,
    base,
  };
}
