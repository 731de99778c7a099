// Three of the agent's four loops (metrics sampling is in metrics/sample.ts), each a function of the
// deps it names: config (long-poll; a change arrives at once), heartbeat (status, interface keys and
// queued metrics) and reconcile (re-checks the host, repairing reboots and hand edits). They share
// only the AgentState, the DataPlane and a Wakeable; each runs until its stop signal aborts.
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import {
  type ConfigResponse,
  ConfigResponseSchema,
  type HeartbeatRequest,
  HeartbeatResponseSchema,
} from "../core/sync.ts";
import { type AgentState, storageProblem } from "./agent_state.ts";
import { Backoff } from "./backoff.ts";
import type { NodeDaemonConfig } from "./config.ts";
import type { DataPlane } from "./dataplane.ts";
import type { MetricsQueue } from "./metrics/queue.ts";
import { pause, type Wakeable } from "./sleep.ts";
import type { NodeState, SavedConfig } from "./state.ts";
import { RejectedAnswer, type SyncClient, SyncError } from "./sync_client.ts";

/** The master as the loops see it: signed requests, verified answers. */
export type MasterLink = Pick<SyncClient, "post" | "getSigned">;

/** What every loop has: time, the NODE_DAEMON log, and the signal that ends it (SIGTERM or removal). */
type LoopBase = { clock: Clock; log: Logger; stop: AbortSignal };

type Backoffs = Pick<NodeDaemonConfig, "backoffMinMs" | "backoffMaxMs">;

export const secs = (ms: number) => `${Math.round(ms / 1000)}s`;

/** One line per failed exchange with the master, worded by what went wrong. */
function logSyncFailure(log: Logger, what: string, err: unknown, wait: number): void {
  if (err instanceof SyncError && err.unreachable) {
    log.warn(`${what}: master unreachable; retrying in ${secs(wait)} (serving the last good config)`);
  } else if (err instanceof SyncError && (err.status === 401 || err.status === 403 || err.status === 404)) {
    log.error(
      `${what}: the master refused this node: ${err.message}; retrying in ${
        secs(wait)
      } (serving the last good config)`,
    );
  } else {
    log.warn(
      `${what} failed: ${err instanceof Error ? err.message : String(err)}; retrying in ${secs(wait)}`,
    );
  }
}

const retryDelay = (err: unknown, backoff: Backoff) =>
  err instanceof SyncError && err.retryAfterMs ? err.retryAfterMs : backoff.next();

export type TakeDownDeps = {
  log: Logger;
  state: AgentState;
  dataplane: DataPlane;
  disk: Pick<NodeState, "forget">;
  /** Aborted once everything is down: every loop ends. */
  stopAll: AbortController;
};

/** The master removed this node: take down its interfaces and rules, forget the enrollment, stop. */
export async function takeDown(d: TakeDownDeps): Promise<void> {
  if (!d.state.markRemoved()) return;
  d.log.warn("this node was removed on the master: taking down its interfaces and rules");
  const result = await d.dataplane.takeDown();
  if (!result.ok) d.log.error("could not take everything down", { error: result.error?.message });
  await d.disk.forget();
  d.stopAll.abort();
}

export type ConfigLoopDeps = LoopBase & {
  master: MasterLink;
  nodeId: number;
  state: AgentState;
  dataplane: DataPlane;
  disk: Pick<NodeState, "saveConfig">;
  /** Woken after every apply, so the master hears the outcome at once. */
  heartbeatNow: Wakeable;
  removed: () => Promise<void>;
  timing: Backoffs & Pick<NodeDaemonConfig, "configWaitMs">;
};

/** A config the node will not take: logged, and reported (the heartbeat goes out at once) until one is taken. */
function refuse(d: ConfigLoopDeps, version: number | null, reason: string): void {
  d.log.error(`refusing config ${version === null ? "" : `v${version} `}from the master: ${reason}`);
  d.state.configRejected(version, reason);
  d.heartbeatNow.wake();
}

type Unsaved = { version: number; config: SavedConfig };

/**
 * Saves the applied config as the last good one. On a full disk the node keeps serving it and reports
 * "disk full" instead (a crash here would restart the daemon into its older saved config, again and
 * again); returns what is still unsaved.
 */
async function saveServed(d: ConfigLoopDeps, u: Unsaved): Promise<Unsaved | null> {
  try {
    await d.disk.saveConfig(u.config);
  } catch (err) {
    const problem = storageProblem(`cannot save the config (version ${u.version})`, err);
    if (!d.state.problem?.includes(problem)) {
      d.log.error(`${problem}; serving it anyway, and trying again`);
      d.heartbeatNow.wake();
    }
    d.state.storageFailed("config", problem);
    return u;
  }
  if (d.state.problem) d.heartbeatNow.wake();
  d.state.storageOk("config");
  return null;
}

/** Long-polls the master for a newer config, verifies it is this node's and newer, applies and saves it. */
export async function configLoop(d: ConfigLoopDeps): Promise<void> {
  const { log, state, stop } = d;
  const backoff = new Backoff(d.timing.backoffMinMs, d.timing.backoffMaxMs);
  /** The applied config when it could not be saved yet (a full disk): saved again at every answer. */
  let unsaved: Unsaved | null = null;
  while (!stop.aborted) {
    let answer: { value: ConfigResponse; raw: string; signature: string; nonce: string };
    try {
      answer = await d.master.getSigned(
        `/api/sync/config?have=${state.have}&wait=${Math.round(d.timing.configWaitMs / 1000)}`,
        ConfigResponseSchema,
        stop,
      );
    } catch (err) {
      if (stop.aborted) return;
      const wait = retryDelay(err, backoff);
      if (err instanceof RejectedAnswer) {
        refuse(d, err.version, err.message);
      } else {
        logSyncFailure(log, "config pull", err, wait);
      }
      await pause(d.clock, wait, stop);
      continue;
    }
    backoff.reset();
    if (unsaved) unsaved = await saveServed(d, unsaved);
    const v = answer.value;
    if (v.kind === "removed") return await d.removed();
    if (v.kind === "unchanged") continue;
    if (v.config.node_id !== d.nodeId) {
      log.error("refusing a config meant for another node", { node_id: v.config.node_id });
      refuse(d, v.config.config_version, `meant for node ${v.config.node_id}, not this node (${d.nodeId})`);
      await pause(d.clock, backoff.next(), stop);
      continue;
    }
    if (state.isStale(v.config)) {
      log.warn("refusing an older config", { have: state.have, got: v.config.config_version });
      continue;
    }
    const result = await d.dataplane.apply(v.config);
    state.configApplied(v.config, result);
    if (result.ok) {
      unsaved = {
        version: v.config.config_version,
        config: { body: answer.raw, signature: answer.signature, nonce: answer.nonce, node_id: d.nodeId },
      };
      unsaved = await saveServed(d, unsaved);
      const peers = v.config.interfaces.reduce((n, i) => n + i.peers.length, 0);
      log.info(
        `config applied (version=${state.applied}, interfaces=${v.config.interfaces.length}, peers=${peers}, commands=${result.commands})`,
      );
    } else {
      log.error("config apply failed; the next tick tries again", {
        version: v.config.config_version,
        error: state.lastError,
      });
    }
    d.heartbeatNow.wake();
  }
}

export type HeartbeatLoopDeps = LoopBase & {
  master: MasterLink;
  state: AgentState;
  keys: Pick<NodeState, "publicKeys">;
  queue: Pick<MetricsQueue, "batch" | "ack" | "stats">;
  heartbeatNow: Wakeable;
  removed: () => Promise<void>;
  timing: Backoffs & Pick<NodeDaemonConfig, "heartbeatMs">;
};

/**
 * Deletes the samples the master acknowledged. A failure (a full disk) does not make the delivered
 * heartbeat a failed one: the samples go again with the next beat, and the master skips them by seq.
 */
function acknowledge(d: HeartbeatLoopDeps, seq: number): void {
  try {
    const deleted = d.queue.ack(seq);
    d.state.storageOk(ACK);
    d.log.info(`ACK received: deleted ${deleted} metrics (up to seq ${seq})`);
  } catch (err) {
    const problem = storageProblem(`cannot ${ACK}`, err);
    d.state.storageFailed(ACK, problem);
    d.log.warn(`${problem} (they are sent again, and skipped)`);
  }
}

const ACK = "delete acknowledged samples";

/** Reports status, interface public keys and up to 500 queued samples; deletes samples once acked. */
export async function heartbeatLoop(d: HeartbeatLoopDeps): Promise<void> {
  const { log, state, stop } = d;
  const backoff = new Backoff(d.timing.backoffMinMs, d.timing.backoffMaxMs);
  let lastStatus = "";
  let reported = "";
  let beats = 0;
  while (!stop.aborted) {
    const batch = d.queue.batch(500);
    const publicKeys = await d.keys.publicKeys();
    const interfaces = (state.current?.interfaces ?? []).map((i) => ({
      name: i.name,
      public_key: publicKeys[i.name] ?? "",
      listen_port: i.listen_port,
      peers: i.peers.length,
    })).filter((i) => i.public_key !== "");
    // Interface keys go out when they change (and every 20th beat, in case the master lost them):
    // a quiet heartbeat stays well under 1 KB.
    const reportKey = JSON.stringify(interfaces);
    const report = reportKey !== reported || beats % 20 === 0;
    const dropped = d.queue.stats().dropped;
    const body = {
      ...state.status(),
      ...(report ? { interfaces } : {}),
      ...(batch.length > 0 ? { metrics: batch } : {}),
      ...(dropped > 0 ? { dropped } : {}),
    } satisfies Partial<HeartbeatRequest>;
    let wait = d.timing.heartbeatMs;
    try {
      const r = await d.master.post("/api/sync/heartbeat", body, HeartbeatResponseSchema, stop);
      backoff.reset();
      if (r.kind === "removed") return await d.removed();
      if (report) reported = reportKey;
      beats++;
      if (batch.length > 0) acknowledge(d, r.acked_seq);
      const line = `heartbeat sent (status=${body.status})`;
      if (line !== lastStatus) log.info(line);
      else log.debug(line);
      lastStatus = line;
    } catch (err) {
      if (stop.aborted) return;
      wait = retryDelay(err, backoff);
      logSyncFailure(log, "heartbeat", err, wait);
      lastStatus = "";
    }
    await d.heartbeatNow.sleep(d.clock, wait, stop);
  }
}

export type ReconcileLoopDeps = LoopBase & {
  state: AgentState;
  dataplane: DataPlane;
  intervalMs: number;
};

/** Level-triggered repair: re-applies the served config every interval (a clean tick runs no command). */
export async function reconcileLoop(d: ReconcileLoopDeps): Promise<void> {
  const { state, stop } = d;
  await pause(d.clock, d.intervalMs, stop);
  while (!stop.aborted) {
    const current = state.current;
    if (current && !state.removed) {
      const result = await d.dataplane.apply(current);
      if (result.ok && result.commands > 0) d.log.info("repaired the host", { commands: result.commands });
      state.reconciled(result);
    }
    await pause(d.clock, d.intervalMs, stop);
  }
}
