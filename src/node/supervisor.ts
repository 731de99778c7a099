// `wirebuddy-node userspace-supervisor` (wirebuddy-wireguard-go.service): keeps one `wireguard-go -f IF`
// per interface the node asked for, outside the node's own unit, so that a crash, `systemctl kill` or
// restart of the node daemon leaves the clients' tunnels alone. The node asks with a file
// `DIR/want/IF` in the runtime directory both units share (/run/wireguard); this loop starts what is
// wanted, starts it again when it dies (backing off while it keeps dying), and stops what is no longer
// wanted. An interface whose UAPI already answers (a wireguard-go an older node started) is left alone.
import type { Logger } from "../core/logger.ts";
import type { Clock, Exec } from "../core/ports/types.ts";
import { IfNameSchema } from "../core/host_state.ts";
import { wgArgv } from "./drivers/wg.ts";

/** A process the supervisor started: its pid, its end, and a way to signal it. */
export type Child = { pid: number; exited: Promise<number>; kill(signal: "SIGTERM" | "SIGKILL"): void };

export type SupervisorDeps = {
  clock: Clock;
  log: Logger;
  /** For `wg show IF` (does the interface's UAPI answer?). */
  exec: Exec;
  /** Names in a directory ([] when it does not exist). */
  list(dir: string): Promise<string[]>;
  mkdir(dir: string, mode: number): Promise<void>;
  /** Starts argv in the background (stdout and stderr to the supervisor's own, i.e. the journal). */
  spawn(argv: string[]): Child;
};

export type SupervisorConfig = {
  /** WIREBUDDY_WIREGUARD_GO_DIR, e.g. /run/wireguard/.wirebuddy */
  dir: string;
  /** How often the request directory is read (default 500 ms). */
  pollMs?: number;
};

type Running = { child: Child; startedAt: number; done: boolean };
type Waiting = { failures: number; notBefore: number };

const STOP_GRACE_MS = 5_000;

export async function runSupervisor(d: SupervisorDeps, config: SupervisorConfig, signal: AbortSignal) {
  const log = d.log.child("WIREGUARD_GO");
  const pollMs = config.pollMs ?? 500;
  const wantDir = `${config.dir}/want`;
  const running = new Map<string, Running>();
  const waiting = new Map<string, Waiting>();
  await d.mkdir(wantDir, 0o700);
  log.info(`supervising wireguard-go for the interfaces requested in ${wantDir}`);

  const start = (iface: string) => {
    const argv = ["wireguard-go", "-f", iface];
    log.info(`[#] ${argv.join(" ")}`);
    const entry: Running = { child: d.spawn(argv), startedAt: d.clock.now(), done: false };
    entry.child.exited.then((code) => {
      entry.done = true;
      if (signal.aborted || running.get(iface) !== entry) return;
      // Dying again soon after a start backs off (1 s, 2 s … 30 s); a long run starts over at 1 s.
      const ranMs = d.clock.now() - entry.startedAt;
      const failures = ranMs > 60_000 ? 1 : (waiting.get(iface)?.failures ?? 0) + 1;
      const delay = Math.min(30_000, 1_000 * 2 ** (failures - 1));
      waiting.set(iface, { failures, notBefore: d.clock.now() + delay });
      log.warn(`wireguard-go for ${iface} exited (code ${code}); starting it again in ${delay / 1000}s`);
    }, () => {});
    running.set(iface, entry);
  };

  const stop = async (iface: string, entry: Running) => {
    running.delete(iface);
    waiting.delete(iface);
    if (entry.done) return;
    log.info(`stopping wireguard-go for ${iface} (pid ${entry.child.pid})`);
    entry.child.kill("SIGTERM");
    const grace = new AbortController();
    const late = await Promise.race([
      entry.child.exited.then(() => false),
      d.clock.sleep(STOP_GRACE_MS, grace.signal).then(() => true, () => false),
    ]);
    grace.abort();
    if (late) entry.child.kill("SIGKILL");
  };

  while (!signal.aborted) {
    const wanted = new Set((await d.list(wantDir)).filter((n) => IfNameSchema.safeParse(n).success));
    for (const [iface, entry] of [...running]) {
      if (!wanted.has(iface)) await stop(iface, entry);
    }
    for (const iface of wanted) {
      const entry = running.get(iface);
      if (entry && !entry.done) continue;
      if ((waiting.get(iface)?.notBefore ?? 0) > d.clock.now()) continue;
      // Started elsewhere (by an older node, or by hand): leave it, and check again next time.
      if (!entry && (await d.exec.run(wgArgv.showDump(iface))).code === 0) continue;
      start(iface);
    }
    try {
      await d.clock.sleep(pollMs, signal);
    } catch {
      // stopping
    }
  }
  log.info("stopping: ending every wireguard-go it started");
  await Promise.all([...running].map(([iface, entry]) => stop(iface, entry)));
}
