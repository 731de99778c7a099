// The failover pools on a member (DESIGN §8, issue 11): after every apply the data plane hands the
// config to reconcile(), which checks each pool interface's own health (the device is there with the
// pool's key, the last apply succeeded), writes the track files and keeps keepalived as rendered
// (keepalived.ts: observe → plan → apply). keepalived runs as the node's supervised child: started
// when a VRRP pool appears (and again, at the next tick, when it died), reloaded with SIGHUP when its
// config changes, stopped when no VRRP pool is left, left running across a restart of the node (like
// the interfaces; the next node adopts it through its pid file). run() reads keepalived's notify fifo:
// on MASTER the member starts the clients' handshakes itself (takeover.ts) and tells the agent, which
// samples traffic and sends a heartbeat at once so the master learns the new holder. A DNS pool's member
// does the same when its config names clients to take over (`pool.takeover`, a new epoch: the master saw
// their holder die or drain). reports() is the heartbeat's `pools`.
import type { Logger } from "../../core/logger.ts";
import type { Clock, Exec, Fs } from "../../core/ports/types.ts";
import type { NodeConfig, NodeInterfaceConfig, PoolReport } from "../../core/sync.ts";
import { publicKeyFromPrivate } from "../../core/wg_keys.ts";
import { displayArgv } from "../drivers/exec.ts";
import { parseWgDump, wgArgv } from "../drivers/wg.ts";
import type { Child } from "../supervisor.ts";
import {
  confPath,
  fifoPath,
  keepalivedArgv,
  type KeepalivedPaths,
  type KeepalivedStep,
  type ObservedKeepalived,
  parseFifoLine,
  pidPath,
  planKeepalived,
  renderKeepalived,
  routeDevice,
  startedPidPath,
  trackPath,
  trackText,
  vrrpPidPath,
  type VrrpPool,
} from "./keepalived.ts";
import { dnsTakeoverStep, takeover } from "./takeover.ts";

/** A handshake newer than this counts as a session (WireGuard rejects older keys after 180 s). */
export const SESSION_SECONDS = 180;

export type AnnouncerDeps = {
  exec: Exec;
  fs: Fs;
  clock: Clock;
  log: Logger;
  paths: KeepalivedPaths;
  /** Names this node in keepalived's router_id (its hostname). */
  routerId: string;
  /** Starts argv in the background, its output to the node's own (the journal). */
  spawn(argv: string[]): Child;
  /** Sends a signal to a process (keepalived: SIGHUP reloads, SIGTERM stops). */
  signal(pid: number, signal: "SIGHUP" | "SIGTERM"): void;
  /**
   * The lines written to the fifo at `path` (made when missing) until `stop` aborts; an empty line
   * first, once the fifo is open (keepalived may write to it from then on).
   */
  fifoLines(path: string, stop: AbortSignal): AsyncIterable<string>;
};

type PoolHealth = { iface: NodeInterfaceConfig; problem: string | null; sessions: number };
type KaState = "MASTER" | "BACKUP" | "FAULT" | "STOP";

export type PoolsResult = { commands: number; error: string | null };

export class PoolAnnouncer {
  #pools: PoolHealth[] = [];
  #states = new Map<number, KaState>();
  #child: Child | null = null;
  #childExit: string | null = null;
  #error: string | null = null;
  #lastLogged = "";
  #pubKeys = new Map<string, string>();
  #onServing: ((poolId: number) => void) | null = null;
  #sample: ((publicKeys: ReadonlySet<string>) => Promise<void>) | null = null;
  #links = new Map<number, string>();
  /** DNS pools: the last takeover acted on, by pool id. */
  #dnsTakeover = new Map<number, { epoch: number; keys: string[] }>();
  #kicking: Promise<void> = Promise.resolve();

  constructor(private readonly d: AnnouncerDeps) {}

  /** Called when this member became the holder of a pool's address (once the takeover has started). */
  whenServing(fn: (poolId: number) => void): void {
    this.#onServing = fn;
  }

  /** Samples the clients a takeover is about to remove and add back (metrics/sample.ts). */
  sampleWith(fn: (publicKeys: ReadonlySet<string>) => Promise<void>): void {
    this.#sample = fn;
  }

  #takeoverDeps() {
    return {
      exec: this.d.exec,
      clock: this.d.clock,
      log: this.d.log,
      ...(this.#sample ? { sample: this.#sample } : {}),
    };
  }

  /** The heartbeat's `pools` (null while the config has none: the field is then not sent). */
  reports(): PoolReport[] | null {
    if (this.#pools.length === 0) return null;
    return this.#pools.map(({ iface, problem, sessions }) => {
      const pool = iface.pool!;
      const id = pool.id;
      const base = { id, sessions };
      if (pool.drained) return { ...base, state: "withdrawn", detail: "drained by the operator" };
      if (problem) return { ...base, state: "fault", detail: problem };
      if (pool.announce.kind === "dns") return { ...base, state: "serving", detail: null };
      if (this.#error) return { ...base, state: "fault", detail: this.#error };
      const s = this.#states.get(id);
      if (s === "MASTER") return { ...base, state: "serving", detail: null };
      if (s === "FAULT") {
        return { ...base, state: "fault", detail: "keepalived reports FAULT (is the link down?)" };
      }
      return {
        ...base,
        state: "backup",
        detail: s === "BACKUP" ? null : "waiting for keepalived's first state",
      };
    });
  }

  /** keepalived's state for a pool as last read from the fifo (for tests and the status). */
  vrrpState(id: number): KaState | null {
    return this.#states.get(id) ?? null;
  }

  /** Brings keepalived and the track files to what `config` says. Never throws. */
  async reconcile(config: NodeConfig | null, applyOk: boolean): Promise<PoolsResult> {
    const ifaces = (config?.interfaces ?? []).filter((i) => i.pool);
    try {
      this.#pools = await this.#health(ifaces, applyOk);
      this.#dnsTakeovers();
      const vrrp: VrrpPool[] = [];
      for (const h of this.#pools) {
        const a = h.iface.pool!.announce;
        if (a.kind !== "vrrp") continue;
        // The route's device, or the last one found (a failed lookup must not stop the announcement).
        const link = a.link ?? await this.#routeDevice(a.address) ?? this.#links.get(h.iface.pool!.id) ??
          null;
        if (link) this.#links.set(h.iface.pool!.id, link);
        if (!link) {
          h.problem ??=
            `no route to ${a.address} on this host to put the floating address on: set the pool's link`;
          continue;
        }
        vrrp.push({
          id: h.iface.pool!.id,
          announce: a,
          link,
          withdraw: h.iface.pool!.drained || h.problem !== null,
        });
      }
      const conf = renderKeepalived(vrrp, this.d.paths, this.d.routerId);
      const tracks = new Map(vrrp.map((p) => [p.id, trackText(p.withdraw)]));
      if (conf === null && this.#pools.length === 0 && !(await this.#anythingOurs())) {
        this.#error = null;
        return { commands: 0, error: null };
      }
      const observed = await this.#observe([...tracks.keys()]);
      const steps = planKeepalived({ conf, tracks }, observed);
      const commands = steps.length === 0 ? 0 : await this.#apply(steps);
      const error = conf !== null && this.#childExit && !(await this.#observePid()) ? this.#childExit : null;
      this.#setError(error);
      return { commands, error };
    } catch (err) {
      const error = `pool announce failed: ${err instanceof Error ? err.message : String(err)}`;
      this.#setError(error);
      return { commands: 0, error };
    }
  }

  /** Reads keepalived's notify fifo until `stop`: states, and the takeover on MASTER. */
  async run(stop: AbortSignal): Promise<void> {
    await this.d.fs.mkdir(this.d.paths.dir, 0o700);
    while (!stop.aborted) {
      try {
        for await (const line of this.d.fifoLines(fifoPath(this.d.paths), stop)) {
          if (line === "") continue; // the reader's own wake-up (see main.ts) or an empty write
          await this.#event(line, stop);
        }
      } catch (err) {
        if (stop.aborted) break;
        this.d.log.warn("cannot read keepalived's notify fifo", { error: (err as Error).message });
      }
      await this.d.clock.sleep(1_000, stop).catch(() => {});
    }
  }

  async #event(line: string, stop: AbortSignal): Promise<void> {
    const e = parseFifoLine(line);
    if (!e) return;
    const before = this.#states.get(e.id);
    this.#states.set(e.id, e.state);
    if (before !== e.state) {
      this.d.log.info(`pool ${e.id}: keepalived says ${e.state}`, { instance: `wb_pool_${e.id}` });
    }
    if (e.state !== "MASTER" || before === "MASTER") return;
    const iface = this.#pools.find((p) => p.iface.pool?.id === e.id)?.iface;
    if (!iface) return;
    // The takeover's keepalive lasts a moment; the agent's heartbeat must not wait for it.
    const asked = takeover(this.#takeoverDeps(), iface, stop);
    this.#onServing?.(e.id);
    const n = await asked;
    this.d.log.info(`pool ${e.id}: took the address over, started the handshake with ${n} clients`, {
      iface: iface.name,
    });
  }

  /** Resolves once the DNS takeovers started so far are done (tests). */
  async takeoversDone(): Promise<void> {
    await this.#kicking;
  }

  /**
   * DNS pools: the master's takeover orders (`pool.takeover`), each epoch once, in the background like
   * the VRRP takeover (the apply must not wait for its keepalive); the agent beats at once.
   */
  #dnsTakeovers(): void {
    const seen = new Set<number>();
    for (const { iface, problem } of this.#pools) {
      const pool = iface.pool!;
      if (pool.announce.kind !== "dns") continue;
      seen.add(pool.id);
      const last = this.#dnsTakeover.get(pool.id) ?? null;
      const step = dnsTakeoverStep(last, pool.takeover, !pool.drained && problem === null);
      if (step.remember) this.#dnsTakeover.set(pool.id, step.remember);
      else this.#dnsTakeover.delete(pool.id);
      if (step.kick.length === 0) continue;
      const asked = takeover(this.#takeoverDeps(), iface, undefined, new Set(step.kick));
      this.#onServing?.(pool.id);
      this.#kicking = Promise.all([this.#kicking, asked]).then(([, n]) => {
        this.d.log.info(
          `pool ${pool.id}: told to take clients over, started the handshake with ${n} clients`,
          {
            iface: iface.name,
            epoch: pool.takeover!.epoch,
          },
        );
      });
    }
    for (const id of [...this.#dnsTakeover.keys()]) if (!seen.has(id)) this.#dnsTakeover.delete(id);
  }

  /** Each pool interface's own health from one `wg show all dump`. */
  async #health(ifaces: NodeInterfaceConfig[], applyOk: boolean): Promise<PoolHealth[]> {
    if (ifaces.length === 0) return [];
    const r = await this.d.exec.run(wgArgv.showAllDump());
    const devices = r.code === 0 ? parseWgDump(r.stdout) : new Map();
    const now = this.d.clock.now() / 1000;
    const out: PoolHealth[] = [];
    for (const iface of ifaces) {
      const dev = devices.get(iface.name);
      let problem: string | null = null;
      let sessions = 0;
      if (!dev) problem = `the pool's interface ${iface.name} is missing`;
      else {
        const want = iface.private_key ? await this.#publicKey(iface.private_key) : null;
        if (want && dev.publicKey !== want) problem = `the pool's interface ${iface.name} has another key`;
        for (const p of dev.peers.values()) {
          if (p.latestHandshake > 0 && now - p.latestHandshake < SESSION_SECONDS) sessions++;
        }
      }
      if (!problem && !applyOk) problem = "the last apply failed";
      out.push({ iface, problem, sessions });
    }
    return out;
  }

  async #publicKey(privateKey: string): Promise<string> {
    let k = this.#pubKeys.get(privateKey);
    if (!k) {
      k = await publicKeyFromPrivate(privateKey);
      this.#pubKeys.clear();
      this.#pubKeys.set(privateKey, k);
    }
    return k;
  }

  async #routeDevice(cidr: string): Promise<string | null> {
    const address = cidr.split("/")[0]!;
    const r = await this.d.exec.run([
      "ip",
      "-j",
      address.includes(":") ? "-6" : "-4",
      "route",
      "show",
      "table",
      "main",
      "match",
      address,
    ]);
    return r.code === 0 ? routeDevice(r.stdout) : null;
  }

  /** Whether a previous run left a config (a node whose last pool went away still stops keepalived). */
  async #anythingOurs(): Promise<boolean> {
    return (await this.d.fs.readText(confPath(this.d.paths))) !== null;
  }

  async #observe(ids: number[]): Promise<ObservedKeepalived> {
    const conf = await this.d.fs.readText(confPath(this.d.paths));
    const known = new Set(ids);
    for (const m of (conf ?? "").matchAll(/^track_file wb_pool_(\d+) \{/gm)) known.add(Number(m[1]));
    const tracks = new Map<number, string>();
    for (const id of known) {
      const text = await this.d.fs.readText(trackPath(this.d.paths, id));
      if (text !== null) tracks.set(id, text);
    }
    return { conf, tracks, pid: await this.#observePid() };
  }

  /** Our keepalived's pid: the child we started while it lives, else the pid file's when it reads our conf. */
  async #observePid(): Promise<number | null> {
    if (this.#child) return this.#child.pid;
    const text = await this.d.fs.readText(startedPidPath(this.d.paths));
    const pid = Number(text?.trim());
    if (!Number.isInteger(pid) || pid <= 1) return null;
    // `ps`, not /proc: the node may read only its own files (Deno's permissions, ProtectProc=).
    const r = await this.d.exec.run(["ps", "-o", "args=", "-p", String(pid)]);
    return r.code === 0 && r.stdout.split(/\s+/).includes(confPath(this.d.paths)) ? pid : null;
  }

  async #apply(steps: KeepalivedStep[]): Promise<number> {
    const { fs, paths, log } = this.d;
    await fs.mkdir(paths.dir, 0o700);
    let commands = 0;
    for (const step of steps) {
      switch (step.kind) {
        case "track":
          await fs.writeTextAtomic(trackPath(paths, step.id), step.text, 0o644);
          log.info(
            `pool ${step.id}: ${
              step.text.trim() === "1" ? "withdrawing" : "announcing"
            } (track file ${step.text.trim()})`,
          );
          break;
        case "remove-track":
          await fs.remove(trackPath(paths, step.id));
          break;
        case "conf":
          await fs.writeTextAtomic(confPath(paths), step.text, 0o644);
          break;
        case "remove-conf":
          await fs.remove(confPath(paths));
          break;
        case "start": {
          // No keepalived of ours runs: its pid files are stale. keepalived refuses to start while one
          // names a live process, and a killed one's pid can linger (a zombie, or reused).
          await fs.remove(pidPath(paths));
          await fs.remove(vrrpPidPath(paths));
          const argv = keepalivedArgv(paths);
          log.info(`[#] ${displayArgv(argv)}`);
          commands++;
          const pid = this.#start(argv);
          // Recorded for a restarted node to adopt it (keepalived's own pid file exists only as root).
          if (pid !== null) await fs.writeTextAtomic(startedPidPath(paths), `${pid}\n`, 0o644);
          break;
        }
        case "reload":
          log.info(`[#] kill -HUP ${step.pid}`);
          commands++;
          this.d.signal(step.pid, "SIGHUP");
          break;
        case "stop":
          log.info(`[#] kill -TERM ${step.pid}`);
          commands++;
          this.d.signal(step.pid, "SIGTERM");
          this.#child = null;
          this.#states.clear();
          break;
      }
    }
    return commands;
  }

  #start(argv: string[]): number | null {
    let child: Child;
    try {
      child = this.d.spawn(argv);
    } catch (err) {
      this.#childExit = `cannot start keepalived (${argv[0]}): ${
        (err as Error).message
      }; install the keepalived package`;
      return null;
    }
    this.#child = child;
    this.#childExit = null;
    child.exited.then((code) => {
      if (this.#child !== child) return;
      this.#child = null;
      this.#states.clear();
      this.#childExit =
        `keepalived exited (code ${code}); started again at the next tick (see the node's log)`;
      this.d.log.warn(this.#childExit);
    }, () => {});
    return child.pid;
  }

  #setError(error: string | null): void {
    if (error && error !== this.#lastLogged) this.d.log.error(error);
    this.#lastLogged = error ?? "";
    this.#error = error;
  }
}
