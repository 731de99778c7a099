// Three of the agent's four loops (metrics sampling is in metrics/sample.ts), each a function of the
// deps it names: config (long-poll; a change arrives at once), heartbeat (status, interface keys and
// queued metrics) and reconcile (re-checks the host, repairing reboots and hand edits). They share
// the AgentState, the DataPlane, the Contact with the master and two Wakeables; each runs until its
// stop signal aborts. While the master is out of reach the heartbeat keeps probing at least once per
// interval; whichever sync loop gets through first wakes the other.
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import {
  type ConfigResponse,
  type HeartbeatRequest,
  HeartbeatResponseSchema,
  type MetricSample,
  type PoolReport,
} from "../core/sync.ts";
import { type AgentState, storageProblem } from "./agent_state.ts";
import { Backoff } from "./backoff.ts";
import type { NodeDaemonConfig } from "./config.ts";
import type { DataPlane } from "./dataplane.ts";
import { heartbeatWait } from "./jitter.ts";
import { fetchConfig } from "./delta.ts";
import type { MetricsQueue } from "./metrics/queue.ts";
import type { DnsBeat } from "./dns/heartbeat.ts";
import type { MasterTrust } from "./master_trust.ts";
import type { Contact } from "./contact.ts";
import { pause, type Wakeable } from "./sleep.ts";
import type { NodeState, SavedConfig } from "./state.ts";
import type { NodeWgRotation } from "./wg_key_rotation.ts";
import { RejectedAnswer, type SyncClient, SyncError } from "./sync_client.ts";

/** The master as the loops see it: signed requests, verified answers. */
export type MasterLink = Pick<SyncClient, "post" | "getSigned">;

/** What every loop has: time, the NODE_DAEMON log, and the signal that ends it (SIGTERM or removal). */
type LoopBase = { clock: Clock; log: Logger; stop: AbortSignal };

type Backoffs = Pick<NodeDaemonConfig, "backoffMinMs" | "backoffMaxMs">;

/** The wait before a retry: what the master asked for (Retry-After), else the next backoff step. */
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
  /** Wakes this loop (its backoff, or a long-poll stuck in a partition) when the heartbeat gets through. */
  configNow: Wakeable;
  contact: Contact;
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
    const held = d.configNow.hold(stop);
    const sentAt = d.clock.now();
    try {
      // A delta (in a session) comes back rebuilt into the full config (delta.ts).
      answer = await fetchConfig(
        d.master,
        state.current,
        `/api/sync/config?have=${state.have}&wait=${Math.round(d.timing.configWaitMs / 1000)}`,
        held.signal,
        d.timing.configWaitMs,
      );
    } catch (err) {
      if (stop.aborted) return;
      if (held.signal.aborted) continue; // woken: the heartbeat got through, ask again now
      const wait = retryDelay(err, backoff);
      if (err instanceof RejectedAnswer) {
        refuse(d, err.version, err.message);
      } else {
        d.contact.failed("config", err, wait, sentAt);
      }
      await d.configNow.sleep(d.clock, wait, stop);
      continue;
    } finally {
      held.release();
    }
    d.contact.succeeded("config");
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
  contact: Contact;
  removed: () => Promise<void>;
  timing: Backoffs & Pick<NodeDaemonConfig, "heartbeatMs">;
  /** The resolver's report and query log, on a node that runs the fleet's resolver (dns/heartbeat.ts). */
  dns?: DnsBeat;
  /** Spreads the beats (jitter.ts); Math.random unless a test fixes it. */
  random?: () => number;
  /** The master's verification keys: reported while a next one is held, learnt from answers (master_trust.ts). */
  trust?: Pick<MasterTrust, "fields" | "learn">;
  /** A WireGuard key rotation's progress (clients moved), reported while one runs (wg_key_rotation.ts). */
  rotation?: Pick<NodeWgRotation, "fields">;
  /** The failover pools' reports (pools/announcer.ts), sent while the config has pools (null: none). */
  pools?: () => PoolReport[] | null;
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

/** Reports status, interface keys and queued samples (heartbeatBody); deletes samples once acked. */
export async function heartbeatLoop(d: HeartbeatLoopDeps): Promise<void> {
  const { log, stop } = d;
  const backoff = new Backoff(d.timing.backoffMinMs, d.timing.backoffMaxMs);
  let lastStatus = "";
  let reported = "";
  let beats = 0;
  while (!stop.aborted) {
    const { body, batch, reportKey, dns } = await heartbeatBody(d, beats, reported);
    let wait = heartbeatWait(d.timing.heartbeatMs, d.random);
    const sent = d.clock.now();
    try {
      const r = await d.master.post("/api/sync/heartbeat", body, HeartbeatResponseSchema, stop);
      d.state.synced(d.clock.now() - sent, d.clock.now());
      backoff.reset();
      d.contact.succeeded("heartbeat");
      if (r.kind === "removed") return await d.removed();
      if (body.interfaces) reported = reportKey;
      beats++;
      if (batch > 0) acknowledge(d, r.acked_seq);
      if (dns && d.dns?.delivered(dns, r.dns_acked_seq)) wait = 0; // more query-log entries wait
      await d.trust?.learn(r).catch((err) =>
        log.warn("cannot save the master's verification keys", { error: (err as Error).message })
      );
      const line = `heartbeat sent (status=${body.status})`;
      if (line !== lastStatus) log.info(line);
      else log.debug(line);
      lastStatus = line;
    } catch (err) {
      if (stop.aborted) return;
      // Never longer than one interval, however long the outage: the master learns the node is back
      // within one interval of its own return (unless it asked for more with Retry-After).
      wait = err instanceof SyncError && err.retryAfterMs
        ? err.retryAfterMs
        : Math.min(backoff.next(), d.timing.heartbeatMs);
      d.contact.failed("heartbeat", err, wait, sent);
      lastStatus = "";
    }
    await d.heartbeatNow.sleep(d.clock, wait, stop);
  }
}

/**
 * One heartbeat: status, interface keys when they changed (and every 20th beat, in case the master
 * lost them) and up to 500 queued samples. A quiet heartbeat stays well under 1 KB. A queue or key
 * file that cannot be read leaves its part out; the heartbeat still goes.
 */
async function heartbeatBody(d: HeartbeatLoopDeps, beats: number, reported: string) {
  let batch: MetricSample[] = [];
  let dropped = 0;
  let depth: number | null = null;
  let publicKeys: Record<string, string> = {};
  try {
    batch = d.queue.batch(500);
    ({ dropped, size: depth } = d.queue.stats());
  } catch (err) {
    d.log.warn("cannot read the metrics queue", { error: (err as Error).message });
  }
  try {
    publicKeys = await d.keys.publicKeys();
  } catch (err) {
    d.log.warn("cannot read the interface keys", { error: (err as Error).message });
  }
  // A key rotation's next device is reported beside its interface (the announce of its new key).
  const devices = (d.state.current?.interfaces ?? []).flatMap((
    i,
  ) => (i.next ? [i, { ...i, ...i.next }] : [i]));
  const interfaces = devices.map((i) => ({
    name: i.name,
    public_key: publicKeys[i.name] ?? "",
    listen_port: i.listen_port,
    peers: i.peers.length,
  })).filter((i) => i.public_key !== "");
  // The apply report goes with the keys: when the last apply's outcome or warnings change, and every 20th beat.
  const applyReport = d.state.report(depth);
  const reportKey = JSON.stringify([interfaces, applyReport.apply, applyReport.warnings]);
  const report = reportKey !== reported || beats % 20 === 0;
  const dns = d.dns?.body();
  const pools = d.pools?.() ?? null;
  const body = {
    ...d.state.status(),
    ...(report ? { interfaces, report: applyReport } : {}),
    ...(batch.length > 0 ? { metrics: batch } : {}),
    ...(dropped > 0 ? { dropped } : {}),
    ...dns?.fields,
    ...d.trust?.fields(),
    ...d.rotation?.fields(d.state.current),
    ...(pools ? { pools } : {}),
  } satisfies Partial<HeartbeatRequest>;
  return { body, batch: batch.length, reportKey, dns };
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
