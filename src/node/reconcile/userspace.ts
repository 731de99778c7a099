// How the engine starts and stops wireguard-go (where the kernel has no WireGuard). By default it runs
// `wireguard-go IF` itself: the daemon forks into the background, but it stays in the node's process
// group and, under systemd, in the node unit's cgroup, so `systemctl kill wirebuddy-node` ends it and
// the clients' tunnels with it. With a supervisor (wirebuddy-wireguard-go.service, src/node/supervisor.ts)
// the engine instead asks for the interface with a request file in the shared runtime directory and
// waits until its UAPI answers; withdrawing the request stops it. A crash of the node then leaves the
// data plane alone.
import type { Logger } from "../../core/logger.ts";
import type { Clock, Exec, ExecResult, Fs } from "../../core/ports/types.ts";
import { wgArgv } from "../drivers/wg.ts";

/** Runs argv the way apply() does: logged as `[#] …`, counted, failing with its stderr. */
export type RunCommand = (argv: string[]) => Promise<ExecResult>;

export interface WireguardGo {
  /** Brings up the userspace interface `iface` (apply's `run` logs and counts what it runs). */
  start(iface: string, run: RunCommand): Promise<void>;
  /** Called before `iface` is deleted. */
  stop(iface: string): Promise<void>;
}

/** wireguard-go started by the engine itself (no supervisor: development, tests without systemd). */
export const spawnedWireguardGo: WireguardGo = {
  async start(iface, run) {
    await run(wgArgv.userspaceAdd(iface));
  },
  async stop() {},
};

/** The request file for `iface` under a supervisor's directory. */
export const requestPath = (dir: string, iface: string) => `${dir}/want/${iface}`;

export type SupervisedDeps = { fs: Fs; exec: Exec; clock: Clock; log: Logger };

/**
 * wireguard-go kept by the supervisor that watches `dir` (WIREBUDDY_WIREGUARD_GO_DIR): a request file
 * per interface; up when `wg show IF` answers, within `timeoutMs`.
 */
export function supervisedWireguardGo(d: SupervisedDeps, dir: string, timeoutMs = 10_000): WireguardGo {
  const answers = async (iface: string) => (await d.exec.run(wgArgv.showDump(iface))).code === 0;
  return {
    async start(iface) {
      const path = requestPath(dir, iface);
      d.log.info(`[#] request wireguard-go ${iface} from wirebuddy-wireguard-go.service (${path})`);
      await d.fs.mkdir(`${dir}/want`, 0o700);
      await d.fs.writeTextAtomic(path, `wireguard-go -f ${iface}\n`, 0o600);
      const deadline = d.clock.now() + timeoutMs;
      while (!(await answers(iface))) {
        if (d.clock.now() >= deadline) {
          throw new Error(
            `wireguard-go for ${iface} did not start within ${Math.round(timeoutMs / 1000)}s: ` +
              `is wirebuddy-wireguard-go.service running? (systemctl status wirebuddy-wireguard-go; ${path})`,
          );
        }
        await d.clock.sleep(100);
      }
    },
    async stop(iface) {
      const path = requestPath(dir, iface);
      if (!(await d.fs.exists(path))) return;
      d.log.info(`[#] withdraw the wireguard-go request for ${iface} (${path})`);
      await d.fs.remove(path);
    },
  };
}
