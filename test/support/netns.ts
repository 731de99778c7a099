// A world of network namespaces for integration and cluster tests (root only). Every namespace has a
// random-suffixed name; every address and packet stays inside them; the root namespace's interfaces,
// routes, sysctls and firewall are never touched. A WireGuard host also gets its own mount namespace
// with a private tmpfs on /run/wireguard, so two hosts can both have `wg0` (wireguard-go's UAPI sockets
// live there). destroy() kills, by PID, only processes this world started (the per-host holder and
// whatever runs in its private mount namespace, i.e. wireguard-go), then deletes the namespaces.
import type { Exec, ExecOptions, ExecResult } from "../../src/core/ports/types.ts";
import { realExec } from "../../src/core/ports/real.ts";
import { waitFor } from "./wait.ts";

export const isRoot = (): boolean => Deno.uid() === 0;

/**
 * For Deno.test's `ignore`: true (skip) when not root, unless CI is set, where the test must run and
 * fail. Prints why it is skipped.
 */
export function skipUnlessRoot(what: string): boolean {
  if (isRoot()) return false;
  if (Deno.env.get("CI")) return false;
  // deno-lint-ignore no-console
  console.warn(`skipping ${what}: needs root for network namespaces (runs in CI)`);
  return true;
}

async function must(exec: Exec, argv: string[], options?: ExecOptions): Promise<ExecResult> {
  const r = await exec.run(argv, options);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

function prefixedExec(prefix: string[]): Exec {
  return { run: (argv, options) => realExec.run([...prefix, ...argv], options) };
}

async function nsInode(pid: number | "self", kind: "mnt" | "net"): Promise<string | null> {
  try {
    return await Deno.readLink(`/proc/${pid}/ns/${kind}`);
  } catch {
    return null;
  }
}

/** PIDs of processes whose namespace of `kind` is `inode`. */
async function pidsIn(kind: "mnt" | "net", inode: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    if ((await nsInode(Number(e.name), kind)) === inode) pids.push(Number(e.name));
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
};

async function killAndWait(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  try {
    await waitFor("processes to exit", () => pids.every((p) => !alive(p) || isZombie(p)), {
      timeoutMs: 3000,
    });
  } catch {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

function isZombie(pid: number): boolean {
  try {
    return /\)\s+Z\s/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return true;
  }
}

export class Host {
  /** Runs argv inside this host's namespaces. */
  readonly exec: Exec;
  constructor(
    readonly world: World,
    readonly short: string,
    readonly netns: string,
    readonly holder: { pid: number; child: Deno.ChildProcess; mntInode: string } | null,
  ) {
    this.exec = holder
      ? prefixedExec(["nsenter", "-t", String(holder.pid), "-m", "-n", "--"])
      : prefixedExec(["nsenter", `--net=/run/netns/${netns}`, "--"]);
  }

  /** Runs argv inside the host and throws unless it exits 0. */
  run(argv: string[], options?: ExecOptions): Promise<ExecResult> {
    return must(this.exec, argv, options);
  }

  /** One ICMP echo with a 1 s timeout; true when answered. */
  async ping(address: string): Promise<boolean> {
    const r = await this.exec.run([
      ...(await pingArgv(address.includes(":"))),
      "-c",
      "1",
      "-W",
      "1",
      address,
    ]);
    return r.code === 0;
  }

  /** Argv prefix that runs a program inside this host (for spawning long-lived processes). */
  get enterArgv(): string[] {
    return this.holder
      ? ["nsenter", "-t", String(this.holder.pid), "-m", "-n", "--"]
      : ["nsenter", `--net=/run/netns/${this.netns}`, "--"];
  }
}

let pingCache: { v4: string[]; v6: string[] } | null = null;
async function pingArgv(v6: boolean): Promise<string[]> {
  if (!pingCache) {
    const has = async (p: string) => (await Deno.stat(p).then(() => true, () => false));
    pingCache = (await has("/usr/bin/ping")) || (await has("/bin/ping"))
      ? { v4: ["ping", "-4"], v6: ["ping", "-6"] }
      : { v4: ["busybox", "ping"], v6: ["busybox", "ping6"] };
  }
  return v6 ? pingCache.v6 : pingCache.v4;
}

export class World {
  readonly id = crypto.randomUUID().slice(0, 6);
  readonly hosts: Host[] = [];
  #links = 0;

  /** The full namespace name for a short host name. */
  nsName(short: string): string {
    return `wbt-${this.id}-${short}`;
  }

  /**
   * A new host (network namespace, loopback up). With `wireguard`, it also gets a private mount
   * namespace with a tmpfs on /run/wireguard, held open by a `sleep` process we own.
   */
  async host(short: string, { wireguard = false } = {}): Promise<Host> {
    const netns = this.nsName(short);
    await must(realExec, ["ip", "netns", "add", netns]);
    let holder: Host["holder"] = null;
    // Register first, so destroy() removes the namespace even if the rest fails.
    const placeholder = new Host(this, short, netns, null);
    this.hosts.push(placeholder);
    await placeholder.run(["ip", "link", "set", "lo", "up"]);
    // No duplicate address detection in a lab: an interface's IPv6 link-local address is final when
    // the link comes up, not a second (or, on a busy machine, several) later. That late change is a
    // netlink event Chromium treats as "the network changed" and fails a navigation in flight with
    // net::ERR_NETWORK_CHANGED (live_ui_test failed so in CI).
    await placeholder.run([
      "sysctl",
      "-qw",
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
    ]);
    if (!wireguard) return placeholder;

    const child = new Deno.Command("nsenter", {
      args: [
        `--net=/run/netns/${netns}`,
        "--",
        "unshare",
        "-m",
        "--propagation",
        "private",
        "--",
        "sleep",
        "infinity",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const own = await nsInode("self", "mnt");
    const mntInode = await waitFor(`the mount namespace of ${netns}`, async () => {
      const comm = await Deno.readTextFile(`/proc/${child.pid}/comm`).catch(() => "");
      const mnt = await nsInode(child.pid, "mnt");
      return comm.trim() === "sleep" && mnt && mnt !== own ? mnt : null;
    });
    holder = { pid: child.pid, child, mntInode };
    const host = new Host(this, short, netns, holder);
    this.hosts[this.hosts.indexOf(placeholder)] = host;
    await host.run(["mkdir", "-p", "/run/wireguard"]);
    await host.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=4m", "wbt-wireguard", "/run/wireguard"]);
    return host;
  }

  /** A bridge inside `host`, up. */
  async bridge(host: Host, name: string): Promise<void> {
    await host.run(["ip", "link", "add", "name", name, "type", "bridge"]);
    await host.run(["ip", "link", "set", name, "up"]);
  }

  /** A veth pair between two hosts (created directly in their namespaces), both ends up, with addresses. */
  async link(
    a: Host,
    aIf: string,
    b: Host,
    bIf: string,
    addresses: { a?: string[]; b?: string[] } = {},
  ): Promise<void> {
    // Create with a temporary name inside a, so no name ever exists in the root namespace.
    const tmp = `wbt${this.id}${this.#links++}`;
    // `ip -n` from our own mount namespace: a WireGuard host's private one does not see /run/netns.
    await must(realExec, [
      "ip",
      "-n",
      a.netns,
      "link",
      "add",
      aIf,
      "type",
      "veth",
      "peer",
      "name",
      tmp,
      "netns",
      b.netns,
    ]);
    await b.run(["ip", "link", "set", tmp, "name", bIf]);
    for (const [host, ifname, addrs] of [[a, aIf, addresses.a ?? []], [b, bIf, addresses.b ?? []]] as const) {
      for (const addr of addrs) await host.run(["ip", "address", "add", addr, "dev", ifname, "nodad"]);
      await host.run(["ip", "link", "set", ifname, "up"]);
    }
  }

  /**
   * Plugs `host` into the bridge `bridge` that lives in `bridgeHost`, via a veth pair; returns the
   * bridge-side port (taking it off the bridge cuts the host off silently, like a partition).
   */
  async plug(
    host: Host,
    ifname: string,
    bridgeHost: Host,
    bridge: string,
    addresses: string[] = [],
  ): Promise<string> {
    const port = `p${this.#links}-${host.short}`.slice(0, 15);
    await this.link(host, ifname, bridgeHost, port, { a: addresses });
    await bridgeHost.run(["ip", "link", "set", port, "master", bridge]);
    return port;
  }

  /** Kills what this world started (by PID) and deletes its namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    const errors: string[] = [];
    for (const host of [...this.hosts].reverse()) {
      if (host.holder) {
        const { pid, child, mntInode } = host.holder;
        const inside = (await pidsIn("mnt", mntInode)).filter((p) => p !== pid);
        await killAndWait(inside);
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      const r = await realExec.run(["ip", "netns", "del", host.netns]);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) errors.push(`${host.netns}: ${r.stderr.trim()}`);
    }
    this.hosts.length = 0;
    if (errors.length > 0) throw new Error(`Cannot clean up namespaces: ${errors.join("; ")}`);
  }
}

/** Runs `fn` with a fresh world and always destroys it, also when `fn` throws. */
export async function withWorld<T>(fn: (world: World) => Promise<T>): Promise<T> {
  const world = new World();
  try {
    return await fn(world);
  } finally {
    await world.destroy();
  }
}
