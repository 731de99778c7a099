// The node daemon's logic: enroll once, then keep the host exactly as the master says. Four loops run
// side by side (loops.ts, metrics/sample.ts): config (long-poll; a change arrives at once), heartbeat
// (status, interface keys and queued metrics every 30 s), metrics (samples `wg show` into the queue)
// and reconcile (re-checks the host, repairing reboots and hand edits). The last good signed config is
// kept on disk and applied at start, so the node serves its clients while the master is down, even
// across a reboot.
import type { Logger } from "../core/logger.ts";
import type { Clock, Exec, Fs } from "../core/ports/types.ts";
import { ConfigResponseSchema } from "../core/sync.ts";
import { AgentState } from "./agent_state.ts";
import type { NodeDaemonConfig } from "./config.ts";
import { DataPlane } from "./dataplane.ts";
import { NodeWgRotation, wgRotationLoop } from "./wg_key_rotation.ts";
import { ensureEnrolled } from "./enrollment.ts";
import { MasterTrust } from "./master_trust.ts";
import { type IdentityHolder, rotateIdentity } from "./identity_rotation.ts";
import { Contact, secs } from "./contact.ts";
import { configLoop, heartbeatLoop, reconcileLoop, takeDown } from "./loops.ts";
import type { MetricsQueue } from "./metrics/queue.ts";
import { TrafficCarry } from "./metrics/carry.ts";
import { metricsLoop, sampleOnce } from "./metrics/sample.ts";
import type { PoolAnnouncer } from "./pools/announcer.ts";
import type { Engine } from "./reconcile/engine.ts";
import { pause, Wakeable } from "./sleep.ts";
import { healthResponderLoop, type Listen } from "./health_responder.ts";
import { statusLoop } from "./status.ts";
import { DnsBeat } from "./dns/heartbeat.ts";
import type { DnsLogQueue } from "./dns/log_queue.ts";
import { type ListenUnix, queryLogLoop } from "./dns/query_log.ts";
import { AnswerCache, type LogFile, replyLogLoop } from "./dns/reply_log.ts";
import type { UnboundResource } from "./dns/unbound.ts";
import type { Enrollment, NodeState } from "./state.ts";
import { type FetchFactory, SyncClient, verifySaved } from "./sync_client.ts";

export type AgentDeps = {
  exec: Exec;
  clock: Clock;
  log: Logger;
  fetchFor: FetchFactory;
  engine: Engine;
  state: NodeState;
  queue: MetricsQueue;
  hostname: string;
  version: string;
  /** Binds the tunnel health responder (health_responder.ts); without it the node answers no checks. */
  listen?: Listen;
  /** Where `wirebuddy-node status` reads from: status.json in the data dir (status.ts). */
  status?: { fs: Fs; pid: number };
  /** Unbound, for a config with a `dns` section (the master's `local` node), and its query log. */
  dns?: {
    unbound: UnboundResource;
    queue: DnsLogQueue;
    listenUnix: ListenUnix;
    socket: string;
    /** Unbound's reply lines (the query log's durable source) and how to read them. */
    replyLog: string;
    logFile: LogFile;
  };
  /** The failover pools this node is a member of: keepalived, its notify fifo, the takeover. */
  pools?: PoolAnnouncer;
};

export type AgentResult = "stopped" | "removed";

/** Applies the last good config from disk, if its signature still verifies for this enrollment. */
async function restoreLastGood(
  d: {
    log: Logger;
    disk: Pick<NodeState, "lastConfig" | "sessionKey">;
    dataplane: DataPlane;
    state: AgentState;
  },
  me: Enrollment,
): Promise<void> {
  let parsed = null;
  try {
    const saved = await d.disk.lastConfig();
    if (!saved) return;
    const ok = saved.node_id === me.node_id &&
      await verifySaved(
        [me.verify_key, me.next_verify_key ?? ""],
        me.node_id,
        saved.nonce,
        saved.body,
        saved.signature,
        (id) => d.disk.sessionKey(id),
      );
    parsed = ok ? ConfigResponseSchema.safeParse(JSON.parse(saved.body)) : null;
  } catch (err) {
    // A damaged file must not stop the daemon: the master sends the config again.
    d.log.error("ignoring the saved config: it cannot be read", { error: (err as Error).message });
    return;
  }
  if (parsed?.success && parsed.data.kind === "config") {
    const config = parsed.data.config;
    const result = await d.dataplane.apply(config);
    d.state.restored(config, result);
    d.log.info("applied the last good config", { version: config.config_version, ok: result.ok });
  } else {
    d.log.error("ignoring the saved config: its signature does not verify");
  }
}

export async function runAgent(
  deps: AgentDeps,
  config: NodeDaemonConfig,
  signal: AbortSignal,
): Promise<AgentResult> {
  const log = deps.log.child("NODE_DAEMON");
  const { clock, state: disk } = deps;
  const identity = await disk.identity(deps.hostname, new Date(clock.now()));
  if (identity.created) {
    log.info("created the node identity (P-256 key and self-signed certificate)", { dir: disk.dir });
  }
  const me = await ensureEnrolled(
    { clock, log, fetchFor: deps.fetchFor, disk, identity, hostname: deps.hostname, version: deps.version },
    config,
    signal,
  );
  if (!me) return "stopped";

  const master = new SyncClient(deps.fetchFor, clock, me, identity.key, config.masterUrl ?? me.url, {
    timeoutMs: config.requestTimeoutMs,
  }, disk);
  const signing: IdentityHolder = { key: identity.key };
  const state = new AgentState();
  const rotation = new NodeWgRotation(disk, log);
  const sample = {
    exec: deps.exec,
    clock,
    log,
    queue: deps.queue,
    queueMax: config.queueMax,
    health: state,
    carry: new TrafficCarry(disk, log),
  };
  const dataplane = new DataPlane(
    deps.engine,
    disk,
    () => clock.now(),
    deps.dns?.unbound ?? null,
    deps.pools ?? null,
    rotation,
    (peers, ends) => sampleOnce(sample, peers, ends),
  );
  const noLog = { from: null as string[] | null, set: new Set<string>() };
  const skip = () => {
    const list = state.current?.dns?.nolog ?? [];
    if (list !== noLog.from) [noLog.from, noLog.set] = [list, new Set(list)];
    return noLog.set;
  };
  const heartbeatNow = new Wakeable();
  const configNow = new Wakeable();
  const contact = new Contact(clock, log, { config: configNow, heartbeat: heartbeatNow });
  const stopAll = new AbortController();
  const onStop = () => stopAll.abort();
  // A stop that came during enrollment must not be missed (no abort event fires twice).
  if (signal.aborted) stopAll.abort();
  else signal.addEventListener("abort", onStop, { once: true });
  const stop = stopAll.signal;

  await restoreLastGood({ log, disk, dataplane, state }, me);

  const removed = () => takeDown({ log, state, dataplane, disk, stopAll });
  // Holding a pool's address now: the master learns the new holder from the samples of the clients'
  // new handshakes, so sample and beat at once, then again as the takeover's handshakes complete.
  deps.pools?.sampleWith((peers) => sampleOnce(sample, peers));
  deps.pools?.whenServing(async () => {
    heartbeatNow.wake();
    for (const ms of [300, 700, 1_000, 2_000]) {
      await pause(clock, ms, stop);
      if (stop.aborted) return;
      await sampleOnce(sample);
      heartbeatNow.wake();
    }
  });
  log.info(`starting sync loop (interval=${secs(config.heartbeatMs)})`);
  await Promise.all([
    configLoop({
      clock,
      log,
      stop,
      master,
      nodeId: me.node_id,
      state,
      dataplane,
      disk,
      heartbeatNow,
      configNow,
      contact,
      removed,
      timing: config,
    }),
    heartbeatLoop({
      clock,
      log,
      stop,
      master,
      state,
      keys: disk,
      queue: deps.queue,
      heartbeatNow,
      contact,
      removed,
      timing: config,
      ...(deps.dns ? { dns: new DnsBeat(deps.dns.queue, () => dataplane.dnsReport(), log) } : {}),
      ...(deps.pools ? { pools: () => deps.pools!.reports() } : {}),
      rotation,
      trust: new MasterTrust(me, disk, master, log, () =>
        rotateIdentity({
          disk,
          client: master,
          log,
          hostname: deps.hostname,
          now: () => clock.now(),
          holder: signing,
          signal: stop,
        })),
    }),
    ...(deps.dns
      ? dnsLogLoops(deps.dns, clock, log, stop, skip, () => state.current?.dns?.log === true)
      : []),
    metricsLoop({ ...sample, stop, intervalMs: config.metricsMs }),
    reconcileLoop({ clock, log, stop, state, dataplane, intervalMs: config.reconcileMs }),
    wgRotationLoop({
      clock,
      log,
      stop,
      exec: deps.exec,
      rotation,
      current: () => (state.removed ? null : state.current),
      apply: (c) => dataplane.apply(c),
    }),
    ...(deps.pools ? [deps.pools.run(stop)] : []),
    ...(deps.listen && (config.healthPort ?? 0) > 0
      ? [healthResponderLoop({
        clock,
        log,
        stop,
        listen: deps.listen,
        get key() {
          return signing.key; // a rotated identity signs from then on
        },
        nodeId: me.node_id,
        port: config.healthPort!,
        intervalMs: Math.min(config.reconcileMs, 2_000),
        state,
      })]
      : []),
    ...(deps.status
      ? [statusLoop({
        clock,
        stop,
        fs: deps.status.fs,
        dir: disk.dir,
        pid: deps.status.pid,
        intervalMs: config.heartbeatMs,
        state,
        queue: deps.queue,
      })]
      : []),
  ]);
  signal.removeEventListener("abort", onStop);
  return state.removed ? "removed" : "stopped";
}

/** The query log: Unbound's reply lines into the queue, with the answers dnstap brings (dns/reply_log.ts). */
function dnsLogLoops(
  dns: NonNullable<AgentDeps["dns"]>,
  clock: Clock,
  log: Logger,
  stop: AbortSignal,
  skip: () => ReadonlySet<string>,
  wanted: () => boolean,
): Promise<void>[] {
  const answers = new AnswerCache(clock);
  return [
    queryLogLoop({
      clock,
      log,
      stop,
      listen: dns.listenUnix,
      path: dns.socket,
      queue: answers,
      skip,
      wanted,
    }),
    replyLogLoop({
      clock,
      log,
      stop,
      file: dns.logFile,
      path: dns.replyLog,
      queue: dns.queue,
      answers,
      skip,
      wanted,
    }),
  ];
}
