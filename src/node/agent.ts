// The node daemon's logic: enroll once, then keep the host exactly as the master says. Four loops run
// side by side: config (long-poll; a change arrives at once), heartbeat (status, interface keys and
// queued metrics every 30 s), metrics (samples `wg show` into the queue) and reconcile (re-checks the
// host, repairing reboots and hand edits). The last good signed config is kept on disk and applied at
// start, so the node serves its clients while the master is down, even across a reboot.
import { AppError } from "../core/errors.ts";
import type { HostState } from "../core/host_state.ts";
import type { Logger } from "../core/logger.ts";
import { hostStateFromNodeConfig } from "../core/node_config.ts";
import type { Clock, Exec } from "../core/ports/types.ts";
import {
  type ConfigResponse,
  ConfigResponseSchema,
  type HeartbeatRequest,
  HeartbeatResponseSchema,
  type NodeConfig,
  readToken,
} from "../core/sync.ts";
import { Backoff } from "./backoff.ts";
import type { NodeDaemonConfig } from "./config.ts";
import { parseWgDump } from "./drivers/wg.ts";
import type { MetricsQueue, NewSample } from "./metrics/queue.ts";
import type { Engine } from "./reconcile/engine.ts";
import type { NodeState } from "./state.ts";
import { enroll, type FetchFactory, SyncClient, SyncError, verifySaved } from "./sync_client.ts";

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
};

export type AgentResult = "stopped" | "removed";

const EMPTY: HostState = { interfaces: [], forwarding: { ipv4: false, ipv6: false } };

/** Serialises engine ticks: the engine must never run two at once. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => {});
    return next;
  }
}

/** A sleep that another loop can cut short (e.g. "send a heartbeat now"). */
class Wakeable {
  #wake: (() => void) | null = null;
  #pending = false;
  async sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return;
    }
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#wake = () => ctl.abort();
    try {
      await clock.sleep(ms, ctl.signal);
    } catch {
      // woken or stopped
    } finally {
      this.#wake = null;
      signal.removeEventListener("abort", onAbort);
    }
  }
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}

const secs = (ms: number) => `${Math.round(ms / 1000)}s`;

export async function runAgent(
  deps: AgentDeps,
  config: NodeDaemonConfig,
  signal: AbortSignal,
): Promise<AgentResult> {
  const log = deps.log.child("NODE_DAEMON");
  const identity = await deps.state.identity(deps.hostname, new Date(deps.clock.now()));
  if (identity.created) {
    log.info("created the node identity (P-256 key and self-signed certificate)", { dir: deps.state.dir });
  }

  // --- enrollment ------------------------------------------------------------------------------
  let enrollment = await deps.state.enrollment();
  if (!enrollment) {
    const token = config.token?.reveal();
    if (!token) {
      throw new AppError("config", "WIREBUDDY_ENROLLMENT_TOKEN is required until the node has enrolled");
    }
    const payload = readToken(token);
    if (!payload) throw new AppError("config", "Invalid enrollment token (not a WireBuddy node token)");
    log.info("starting enrollment with master", { url: config.masterUrl ?? payload.url });
    const backoff = new Backoff(config.backoffMinMs, config.backoffMaxMs);
    while (!enrollment) {
      try {
        const r = await enroll(deps.fetchFor, deps.clock, token, payload, identity, {
          hostname: deps.hostname,
          version: deps.version,
          masterUrl: config.masterUrl,
        });
        await deps.state.saveEnrollment(r.enrollment);
        enrollment = r.enrollment;
      } catch (err) {
        if (err instanceof SyncError && (err.unreachable || err.status === 429 || err.status >= 500)) {
          const wait = err.retryAfterMs ?? backoff.next();
          log.warn(`enrollment failed: ${err.message}; retrying in ${secs(wait)}`);
          try {
            await deps.clock.sleep(wait, signal);
          } catch {
            return "stopped";
          }
          continue;
        }
        const message = err instanceof Error ? err.message : String(err);
        throw new AppError("config", `Enrollment refused by the master: ${message}`);
      }
    }
    log.info(`enrollment successful, node_id=${enrollment.node_id}`, { name: enrollment.name });
  }

  const me = enrollment;
  const client = new SyncClient(deps.fetchFor, deps.clock, me, identity.key, config.masterUrl ?? me.url);
  const engineLock = new Mutex();
  const heartbeatNow = new Wakeable();
  const stop = new AbortController();
  const onStop = () => stop.abort();
  // A stop that came during enrollment must not be missed (no abort event fires twice).
  if (signal.aborted) stop.abort();
  else signal.addEventListener("abort", onStop, { once: true });

  let current: NodeConfig | null = null;
  let applied = 0;
  let lastError: string | null = null;
  let removed = false;

  const apply = async (cfg: NodeConfig) => {
    const keys = await deps.state.wgKeys(cfg.interfaces.filter((i) => !i.private_key).map((i) => i.name));
    const desired = hostStateFromNodeConfig(cfg, keys);
    return await engineLock.run(() => deps.engine.reconcileOnce(desired));
  };

  // --- the last good config, before anything else ------------------------------------------
  const saved = await deps.state.lastConfig();
  if (saved) {
    const ok = saved.node_id === me.node_id &&
      await verifySaved(me.verify_key, me.node_id, saved.nonce, saved.body, saved.signature);
    const parsed = ok ? ConfigResponseSchema.safeParse(JSON.parse(saved.body)) : null;
    if (parsed?.success && parsed.data.kind === "config") {
      const result = await apply(parsed.data.config);
      current = parsed.data.config;
      if (result.ok) applied = current.config_version;
      log.info("applied the last good config", { version: current.config_version, ok: result.ok });
    } else {
      log.error("ignoring the saved config: its signature does not verify");
    }
  }

  const removal = async () => {
    if (removed) return;
    removed = true;
    log.warn("this node was removed on the master: taking down its interfaces and rules");
    const result = await engineLock.run(() => deps.engine.reconcileOnce(EMPTY));
    if (!result.ok) log.error("could not take everything down", { error: result.error?.message });
    await deps.state.forget();
    stop.abort();
  };

  const failure = (what: string, err: unknown, wait: number) => {
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
  };

  log.info(`starting sync loop (interval=${secs(config.heartbeatMs)})`);

  // --- config: long-poll -------------------------------------------------------------------
  const configLoop = async () => {
    const backoff = new Backoff(config.backoffMinMs, config.backoffMaxMs);
    while (!stop.signal.aborted) {
      let answer: { value: ConfigResponse; raw: string; signature: string; nonce: string };
      try {
        const have = current?.config_version ?? 0;
        answer = await client.getSigned(
          `/api/sync/config?have=${have}&wait=${Math.round(config.configWaitMs / 1000)}`,
          ConfigResponseSchema,
          stop.signal,
        );
      } catch (err) {
        if (stop.signal.aborted) return;
        const wait = err instanceof SyncError && err.retryAfterMs ? err.retryAfterMs : backoff.next();
        failure("config pull", err, wait);
        await heartbeatDelay(wait);
        continue;
      }
      backoff.reset();
      const v = answer.value;
      if (v.kind === "removed") return await removal();
      if (v.kind === "unchanged") continue;
      if (v.config.node_id !== me.node_id) {
        log.error("refusing a config meant for another node", { node_id: v.config.node_id });
        await heartbeatDelay(backoff.next());
        continue;
      }
      if (
        current && v.config.config_version <= current.config_version && applied === current.config_version
      ) {
        log.warn("refusing an older config", { have: current.config_version, got: v.config.config_version });
        continue;
      }
      const result = await apply(v.config);
      current = v.config;
      if (result.ok) {
        applied = v.config.config_version;
        lastError = null;
        await deps.state.saveConfig({
          body: answer.raw,
          signature: answer.signature,
          nonce: answer.nonce,
          node_id: me.node_id,
        });
        const peers = v.config.interfaces.reduce((n, i) => n + i.peers.length, 0);
        log.info(
          `config applied (version=${applied}, interfaces=${v.config.interfaces.length}, peers=${peers}, commands=${result.commands})`,
        );
      } else {
        lastError = result.error?.message ?? "apply failed";
        log.error("config apply failed; the next tick tries again", {
          version: v.config.config_version,
          error: lastError,
        });
      }
      heartbeatNow.wake();
    }
  };

  const heartbeatDelay = async (ms: number) => {
    try {
      await deps.clock.sleep(ms, stop.signal);
    } catch {
      // stopped
    }
  };

  // --- heartbeat ---------------------------------------------------------------------------
  const heartbeatLoop = async () => {
    const backoff = new Backoff(config.backoffMinMs, config.backoffMaxMs);
    let lastStatus = "";
    let reported = "";
    let beats = 0;
    while (!stop.signal.aborted) {
      const batch = deps.queue.batch(500);
      const publicKeys = await deps.state.publicKeys();
      const interfaces = (current?.interfaces ?? []).map((i) => ({
        name: i.name,
        public_key: publicKeys[i.name] ?? "",
        listen_port: i.listen_port,
        peers: i.peers.length,
      })).filter((i) => i.public_key !== "");
      // Interface keys go out when they change (and every 20th beat, in case the master lost them):
      // a quiet heartbeat stays well under 1 KB.
      const reportKey = JSON.stringify(interfaces);
      const report = reportKey !== reported || beats % 20 === 0;
      const dropped = deps.queue.stats().dropped;
      const body = {
        status: lastError ? "error" : "online",
        applied_version: applied,
        ...(lastError ? { error: lastError } : {}),
        ...(report ? { interfaces } : {}),
        ...(batch.length > 0 ? { metrics: batch } : {}),
        ...(dropped > 0 ? { dropped } : {}),
      } satisfies Partial<HeartbeatRequest>;
      let wait = config.heartbeatMs;
      try {
        const r = await client.post("/api/sync/heartbeat", body, HeartbeatResponseSchema, stop.signal);
        backoff.reset();
        if (r.kind === "removed") return await removal();
        if (report) reported = reportKey;
        beats++;
        if (batch.length > 0) {
          const deleted = deps.queue.ack(r.acked_seq);
          log.info(`ACK received: deleted ${deleted} metrics (up to seq ${r.acked_seq})`);
        }
        const line = `heartbeat sent (status=${body.status})`;
        if (line !== lastStatus) log.info(line);
        else log.debug(line);
        lastStatus = line;
      } catch (err) {
        if (stop.signal.aborted) return;
        wait = err instanceof SyncError && err.retryAfterMs ? err.retryAfterMs : backoff.next();
        failure("heartbeat", err, wait);
        lastStatus = "";
      }
      await heartbeatNow.sleep(deps.clock, wait, stop.signal);
    }
  };

  // --- metrics -----------------------------------------------------------------------------
  const metricsLoop = async () => {
    while (!stop.signal.aborted) {
      try {
        const r = await deps.exec.run(["wg", "show", "all", "dump"]);
        if (r.code === 0) {
          const at = deps.clock.now();
          const samples: NewSample[] = [];
          for (const device of parseWgDump(r.stdout).values()) {
            for (const p of device.peers.values()) {
              samples.push({
                at,
                peer: p.publicKey,
                rx: p.rxBytes,
                tx: p.txBytes,
                handshake: p.latestHandshake,
                endpoint: p.endpoint,
              });
            }
          }
          const dropped = deps.queue.enqueue(samples);
          if (dropped > 0) {
            log.warn("metrics queue full: dropped the oldest samples", { dropped, cap: config.queueMax });
          }
        }
      } catch (err) {
        log.warn("metrics sample failed", { error: err instanceof Error ? err.message : String(err) });
      }
      await heartbeatDelay(config.metricsMs);
    }
  };

  // --- reconcile: level-triggered repair ---------------------------------------------------
  const reconcileLoop = async () => {
    await heartbeatDelay(config.reconcileMs);
    while (!stop.signal.aborted) {
      if (current && !removed) {
        const result = await apply(current);
        if (result.ok && result.commands > 0) log.info("repaired the host", { commands: result.commands });
        if (result.ok && lastError) {
          lastError = null;
          applied = current.config_version;
        }
        if (!result.ok) lastError = result.error?.message ?? "apply failed";
      }
      await heartbeatDelay(config.reconcileMs);
    }
  };

  await Promise.all([configLoop(), heartbeatLoop(), metricsLoop(), reconcileLoop()]);
  signal.removeEventListener("abort", onStop);
  return removed ? "removed" : "stopped";
}
