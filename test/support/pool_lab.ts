// Shared pieces of the failover pool labs (test/e2e/pool_*_test.ts): the processes of a WireGuard host
// (to kill a member by pid), a pinger that times every reply, a median. The same as the VRRP test's own
// copies (test/e2e/pool_failover_test.ts keeps them for now).
import type { Host } from "./netns.ts";

/** Every process in a WireGuard host's private mount namespace but its holder (node, wireguard-go, keepalived). */
export async function processesIn(host: Host): Promise<{ pid: number; name: string }[]> {
  const out: { pid: number; name: string }[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === host.holder!.pid) continue;
    try {
      if ((await Deno.readLink(`/proc/${e.name}/ns/mnt`)) !== host.holder!.mntInode) continue;
      const name = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
      out.push({ pid: Number(e.name), name });
    } catch { /* gone */ }
  }
  return out;
}

/** SIGKILL to every process of `host` (processesIn), by pid; returns what was killed. */
export async function killAllIn(host: Host): Promise<{ pid: number; name: string }[]> {
  const procs = await processesIn(host);
  for (const p of procs) {
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  return procs;
}

/** `ping -D -i 0.1` from a host: each reply's time, and the longest gap between replies. */
export class Pinger {
  readonly #child: Deno.ChildProcess;
  #out = "";
  readonly #done: Promise<void>;
  constructor(host: Host, target: string) {
    const child = new Deno.Command(host.enterArgv[0]!, {
      args: [...host.enterArgv.slice(1), "ping", "-n", "-D", "-i", "0.1", "-W", "1", target],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).spawn();
    this.#child = child;
    this.#done = (async () => {
      const d = new TextDecoder();
      for await (const c of child.stdout) this.#out += d.decode(c, { stream: true });
    })();
  }
  replies(): { at: number; seq: number }[] {
    return [...this.#out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)].map((m) => ({
      at: Number(m[1]) * 1000,
      seq: Number(m[2]),
    }));
  }
  /** Replies received after `since` (ms since the epoch). */
  repliesSince(since: number): number {
    return this.replies().filter((r) => r.at >= since).length;
  }
  async stop(): Promise<{ gapMs: number; lost: number; sent: number }> {
    try {
      this.#child.kill("SIGINT");
    } catch { /* gone */ }
    await this.#child.status;
    await this.#done;
    const r = this.replies();
    let gapMs = 0;
    for (let i = 1; i < r.length; i++) gapMs = Math.max(gapMs, r[i]!.at - r[i - 1]!.at);
    const sent = r.length === 0 ? 0 : r.at(-1)!.seq - r[0]!.seq + 1;
    return { gapMs, lost: sent - r.length, sent };
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
