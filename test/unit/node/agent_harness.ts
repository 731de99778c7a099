// The real agent against the real master app (in memory, through app.request) with a fake engine, a
// memory filesystem and an in-memory metrics queue, for the agent's fault tests. The master's (fake)
// time with real sleeps: the agent's loops run, and signatures fall in the master's clock window.
import type { HostState } from "../../../src/core/host_state.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { Secret } from "../../../src/core/secret.ts";
import { runAgent } from "../../../src/node/agent.ts";
import type { NodeDaemonConfig } from "../../../src/node/config.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import type { Engine, ReconcileResult } from "../../../src/node/reconcile/engine.ts";
import { NodeState } from "../../../src/node/state.ts";
import type { FetchFactory, HttpFetch } from "../../../src/node/sync_client.ts";
import { MemFs, ScriptedExec } from "../../support/fakes.ts";
import { type TestMaster, testMaster } from "../../support/master.ts";
import { waitFor as poll } from "../../support/wait.ts";

export const DATA_DIR = "/var/lib/wirebuddy-node";

export const clockOf = (m: TestMaster) => ({
  now: () => m.clock.now(),
  sleep: (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
    }),
});

export class FakeEngine implements Engine {
  states: HostState[] = [];
  next: ReconcileResult[] = [];
  reconcileOnce(desired: HostState): Promise<ReconcileResult> {
    this.states.push(structuredClone(desired));
    return Promise.resolve(this.next.shift() ?? { ok: true, planned: 0, commands: 0, warnings: [] });
  }
  get last(): HostState | undefined {
    return this.states[this.states.length - 1];
  }
}

/** fetch into the in-memory master, through `wrap` (to cut the link, tamper with answers …). */
export function masterFetch(m: TestMaster, wrap: (inner: HttpFetch) => HttpFetch = (f) => f): FetchFactory {
  const inner: HttpFetch = async (url, init) =>
    await m.app.request(url, init, { remoteAddr: "198.51.100.20" });
  return () => wrap(inner);
}

export function agentConfig(
  token: string | null,
  overrides: Partial<NodeDaemonConfig> = {},
): NodeDaemonConfig {
  return {
    token: token ? new Secret(token) : null,
    dataDir: DATA_DIR,
    masterUrl: null,
    wgImpl: "userspace",
    wireguardGoDir: null,
    heartbeatMs: 100,
    metricsMs: 50,
    reconcileMs: 10_000,
    driftMs: 60_000,
    configWaitMs: 1_000,
    requestTimeoutMs: 5_000,
    backoffMinMs: 20,
    backoffMaxMs: 100,
    queueMax: 10_000,
    logLevel: "debug",
    ...overrides,
  };
}

/** The agent's loops tick every 20–100 ms here: check every 10 ms, give up after `timeoutMs`. */
export const waitFor = <T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000) =>
  poll(what, check, { timeoutMs, intervalMs: 10 });

/** A master with an interface (wg0, DNS on the master) and a node "frankfurt" made through the API. */
export async function world() {
  const m = await testMaster();
  const token = await m.token("write");
  const iface = await (await m.api("/interfaces", {
    method: "POST",
    token,
    json: { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: 51820, dns: "10.13.13.1" },
  })).json();
  const node = await (await m.api("/nodes", {
    method: "POST",
    token,
    json: { name: "frankfurt", fqdn: "de.example.com", wg_port: 51821 },
  })).json();
  return { m, token, iface, node };
}

export type StartOptions = {
  fs?: MemFs;
  wrap?: (inner: HttpFetch) => HttpFetch;
  config?: Partial<NodeDaemonConfig>;
  queue?: MetricsQueue;
};

/** Runs the agent until stop(); `done` is runAgent's own promise (it must never reject). */
export function startNode(m: TestMaster, enrollment: string | null, o: StartOptions = {}) {
  const engine = new FakeEngine();
  const log = memoryLogger();
  const fs = o.fs ?? new MemFs();
  const queue = o.queue ?? new MetricsQueue(":memory:", 10_000);
  const exec = new ScriptedExec((argv) =>
    argv.join(" ") === "wg show all dump" ? { code: 0, stdout: "", stderr: "" } : undefined
  );
  const stop = new AbortController();
  const done = runAgent(
    {
      exec,
      clock: clockOf(m),
      log,
      fetchFor: masterFetch(m, o.wrap),
      engine,
      state: new NodeState(fs, DATA_DIR),
      queue,
      hostname: "fra-1",
      version: "test",
    },
    agentConfig(enrollment, o.config),
    stop.signal,
  );
  return { engine, log, queue, fs, done, stop: async () => (stop.abort(), await done, queue.close()) };
}
