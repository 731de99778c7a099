// Bare "VPSes" for installer tests (DESIGN §7): fresh Debian bookworm containers with a real systemd,
// booted by systemd-nspawn inside a lab network namespace. One debootstrap per machine and package list
// (cached as .tools/vps-rootfs-<hash>.tar, git-ignored), extracted once per run as the read-only lower
// dir of an overlay per container. Containers are plugged into the lab's bridge; nothing here touches the root namespace's
// network. Lab.destroy() powers off what it booted, kills (by PID) only the nspawn processes it started,
// unmounts the overlays and removes the cgroup and propagation directories.
//
// Also a tiny static file server (`deno run -A test/support/vps.ts serve DIR HOST PORT`), run inside the
// lab namespace to serve install.sh and a release directory to the containers.
import { realExec } from "../../src/core/ports/real.ts";
import type { ExecOptions, ExecResult } from "../../src/core/ports/types.ts";
import type { Host } from "./netns.ts";
import { waitFor } from "./wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/**
 * What a fresh VPS has: a minimal Debian with the node's tools, as a provider's image would (procps for
 * sysctl included: the containers cannot reach a mirror, so install.sh finds it there; the install test
 * hides it on one node to see install.sh ask for it).
 */
const PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "iproute2",
  "iptables",
  "curl",
  "ca-certificates",
  "wireguard-tools",
  "wireguard-go",
  "iputils-ping",
  "procps",
  "minisign", // install.sh checks the release's signature with it
];
/** The cached image, named after its package list: a new list builds a new image. */
export const ROOTFS_TAR = `${ROOT}.tools/vps-rootfs-${
  Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(PACKAGES.join(",")))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("").slice(0, 12)
}.tar`;

/** Names in a directory; none when it does not exist (or is gone, like a process). */
async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) names.push(e.name);
  } catch { /* missing */ }
  return names;
}

async function must(argv: string[], options?: ExecOptions): Promise<ExecResult> {
  const r = await realExec.run(argv, options);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r;
}

/** The Debian mirror this machine's apt uses (sources.list or deb822 .sources), else deb.debian.org. */
export async function debianMirror(): Promise<string> {
  const texts: string[] = [];
  for (const f of ["/etc/apt/sources.list"]) texts.push(await Deno.readTextFile(f).catch(() => ""));
  for (const name of await listDir("/etc/apt/sources.list.d")) {
    texts.push(await Deno.readTextFile(`/etc/apt/sources.list.d/${name}`).catch(() => ""));
  }
  for (const line of texts.join("\n").split("\n")) {
    if (/^\s*#/.test(line)) continue;
    // The Debian archive itself (".../debian"), not the security archive or a third-party repository.
    const m = line.match(/(https?:\/\/\S+\/debian)\/?(\s|$)/);
    if (m) return m[1]!;
  }
  return "http://deb.debian.org/debian";
}

/** The base image as a tarball: debootstraps it once (about 45 s) and reuses it afterwards. */
export async function ensureRootfs(log: (line: string) => void): Promise<string> {
  if (await Deno.stat(ROOTFS_TAR).then(() => true, () => false)) return ROOTFS_TAR;
  await Deno.mkdir(`${ROOT}.tools`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}.tools`, prefix: "vps-rootfs-" });
  try {
    const mirror = await debianMirror();
    log(`debootstrap bookworm from ${mirror} (once; cached as ${ROOTFS_TAR})`);
    await must([
      "debootstrap",
      "--variant=minbase",
      `--include=${PACKAGES.join(",")}`,
      "bookworm",
      `${dir}/rootfs`,
      mirror,
    ]);
    await must([
      "sh",
      "-c",
      'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*',
      "-",
      `${dir}/rootfs`,
    ]);
    await must(["tar", "-C", `${dir}/rootfs`, "-cf", `${dir}/rootfs.tar`, "."]);
    await Deno.rename(`${dir}/rootfs.tar`, ROOTFS_TAR);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return ROOTFS_TAR;
}

/** Files a container needs before it boots: networkd with a static address on host0 (sorting before
 * systemd's own 80-container-host0.network, which would ask for DHCP). */
function networkFiles(ip: string, gateway: string): Record<string, string> {
  return {
    "etc/systemd/network/10-host0.network":
      `[Match]\nName=host0\n\n[Network]\nAddress=${ip}/24\nGateway=${gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
  };
}

export class Vps {
  proc: Deno.ChildProcess | null = null;
  leader = 0;
  /** How long the last poweroff took (a unit that is slow to stop shows here). */
  lastPoweroffMs = 0;
  #out = "";
  #pumps: Promise<void> | null = null;

  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly ip: string,
    readonly dir: string,
  ) {}

  get merged(): string {
    return `${this.dir}/merged`;
  }
  get cgroup(): string {
    return `wbvps-${this.name}`;
  }

  /** nspawn's console output (boot messages), for failure reports. */
  output(): string {
    return this.#out;
  }

  /** Runs argv inside the container's namespaces (as root, outside its systemd). */
  exec(argv: string[], options?: ExecOptions): Promise<ExecResult> {
    return realExec.run(["nsenter", "-t", String(this.leader), "-a", "--", ...argv], options);
  }

  /** Like exec, but throws unless argv exits 0. */
  async run(argv: string[], options?: ExecOptions): Promise<ExecResult> {
    const r = await this.exec(argv, options);
    if (r.code !== 0) {
      throw new Error(`[${this.name}] ${argv.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`.trim());
    }
    return r;
  }

  /** Runs argv as a transient unit of the container's own systemd (`systemd-run -P`), waiting for it. */
  systemdRun(argv: string[], options?: ExecOptions): Promise<ExecResult> {
    return this.exec(["systemd-run", "-P", "-q", ...argv], options);
  }

  /** The lines a unit wrote to the journal (this boot only with `boot`). */
  async journal(unit: string, { boot = false } = {}): Promise<string> {
    const r = await this.exec([
      "journalctl",
      "-q",
      "--no-pager",
      "-o",
      "cat",
      ...(boot ? ["-b"] : []),
      "-u",
      unit,
    ]);
    return r.stdout;
  }

  async mount(): Promise<void> {
    for (const d of ["upper", "work", "merged"]) await Deno.mkdir(`${this.dir}/${d}`, { recursive: true });
    await must([
      "mount",
      "-t",
      "overlay",
      `wbvps-${this.name}`,
      "-o",
      `lowerdir=${this.lab.lower},upperdir=${this.dir}/upper,workdir=${this.dir}/work`,
      this.merged,
    ]);
  }

  /** Boots the container and waits until its systemd reports running (or degraded). */
  async start(): Promise<void> {
    for (const h of ["unified", "systemd"]) {
      await Deno.mkdir(`/sys/fs/cgroup/${h}/${this.cgroup}`, { recursive: true });
    }
    const script = 'echo $$ >"/sys/fs/cgroup/unified/$1/cgroup.procs" && ' +
      'echo $$ >"/sys/fs/cgroup/systemd/$1/cgroup.procs" && shift && exec "$@"';
    this.#out = "";
    this.proc = new Deno.Command("setsid", {
      args: [
        "sh",
        "-c",
        script,
        "-",
        this.cgroup,
        "nsenter",
        `--net=/run/netns/${this.lab.host.netns}`,
        "--",
        "systemd-nspawn",
        "-q",
        "-D",
        this.merged,
        "-b",
        "-M",
        this.name,
        "--register=no",
        "--keep-unit",
        `--network-bridge=${this.lab.bridge}`,
        "--system-call-filter=bpf",
        "--console=passive",
      ],
      env: { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const c of s) this.#out += d.decode(c, { stream: true });
    };
    this.#pumps = Promise.all([pump(this.proc.stdout), pump(this.proc.stderr)]).then(() => {});
    const nspawn = this.proc.pid;
    this.leader = await waitFor(`${this.name}'s init`, () => containerInit(nspawn), {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitFor(`${this.name} to boot`, async () => {
      const r = await this.exec(["systemctl", "is-system-running"]);
      return ["running", "degraded"].includes(r.stdout.trim());
    }, { timeoutMs: 60_000, intervalMs: 200 });
  }

  /** `systemctl poweroff` inside; waits for nspawn to exit (kills it, by PID, after 30 s). */
  async poweroff(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const t0 = Date.now();
    await this.exec(["systemctl", "poweroff"]).catch(() => {});
    const done = proc.status.then(() => true);
    const timeout = new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 30_000);
      done.then(() => clearTimeout(t));
    });
    if (!(await Promise.race([done, timeout]))) {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
      await proc.status;
    }
    await this.#pumps;
    this.proc = null;
    this.leader = 0;
    this.lastPoweroffMs = Date.now() - t0;
  }

  /** A reboot as the machine sees it: power off, then boot the same disk again. */
  async reboot(): Promise<void> {
    await this.poweroff();
    await this.start();
  }

  async destroy(): Promise<string[]> {
    const errors: string[] = [];
    await this.poweroff().catch((e) => errors.push(`${this.name} poweroff: ${e}`));
    const r = await realExec.run(["umount", this.merged]);
    if (r.code !== 0 && !/not mounted|no mount point/.test(r.stderr)) {
      errors.push(`umount ${this.merged}: ${r.stderr}`);
    }
    await Deno.remove(`/run/systemd/nspawn/propagate/${this.name}`, { recursive: true }).catch(() => {});
    for (const h of ["unified", "systemd"]) {
      await removeCgroup(`/sys/fs/cgroup/${h}/${this.cgroup}`).catch((e) => errors.push(`cgroup ${h}: ${e}`));
    }
    return errors;
  }
}

/** The container's PID 1 (as seen from here): the descendant of nspawn whose innermost pid is 1. */
async function containerInit(nspawn: number): Promise<number | null> {
  const queue = [nspawn];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const nspid = status.match(/^NSpid:\s+(.*)$/m)?.[1]?.trim().split(/\s+/) ?? [];
    if (pid !== nspawn && nspid.length > 1 && nspid.at(-1) === "1") return pid;
    for (const tid of await listDir(`/proc/${pid}/task`)) {
      const kids = await Deno.readTextFile(`/proc/${pid}/task/${tid}/children`).catch(() => "");
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) queue.push(Number(k));
    }
  }
  return null;
}

/** PIDs in a cgroup directory and its children. */
async function cgroupPids(path: string): Promise<number[]> {
  const pids = (await Deno.readTextFile(`${path}/cgroup.procs`).catch(() => "")).split("\n").filter(Boolean)
    .map(Number);
  for (const name of await listDir(path)) {
    if ((await Deno.stat(`${path}/${name}`).catch(() => null))?.isDirectory) {
      pids.push(...await cgroupPids(`${path}/${name}`));
    }
  }
  return pids;
}

/**
 * Removes a container's cgroup tree. Whatever still runs in it was started by that container (which we
 * booted): it is killed by PID first. Exiting processes keep a cgroup busy for a moment, hence the retries.
 */
async function removeCgroup(path: string): Promise<void> {
  if (!(await Deno.stat(path).catch(() => null))) return;
  for (const pid of await cgroupPids(path)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  const rmTree = async (dir: string): Promise<void> => {
    for (const name of await listDir(dir)) {
      if ((await Deno.stat(`${dir}/${name}`).catch(() => null))?.isDirectory) await rmTree(`${dir}/${name}`);
    }
    await Deno.remove(dir);
  };
  await waitFor(`${path} to be removed`, async () => (await rmTree(path), true), {
    timeoutMs: 10_000,
    intervalMs: 100,
  });
}

/** Containers booted on a bridge inside `host` (a lab namespace from test/support/netns.ts). */
export class Lab {
  readonly vpses: Vps[] = [];
  private constructor(readonly host: Host, readonly bridge: string, readonly dir: string) {}

  get lower(): string {
    return `${this.dir}/lower`;
  }

  /** Extracts the base image into a fresh lower dir; `prepare(lower)` may add files before any boot. */
  static async create(
    host: Host,
    bridge: string,
    tarball: string,
    prepare: (lower: string) => Promise<void> = async () => {},
  ): Promise<Lab> {
    const dir = await Deno.makeTempDir({ prefix: "wb-vps-" });
    const lab = new Lab(host, bridge, dir);
    await Deno.mkdir(lab.lower);
    await must(["tar", "-C", lab.lower, "-xf", tarball]);
    await prepare(lab.lower);
    return lab;
  }

  /** A container with a static address on the lab bridge, booted. */
  async boot(name: string, ip: string, gateway: string): Promise<Vps> {
    const vps = new Vps(this, name, ip, `${this.dir}/${name}`);
    this.vpses.push(vps);
    await vps.mount();
    for (const [path, text] of Object.entries(networkFiles(ip, gateway))) {
      const full = `${vps.merged}/${path}`;
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(full, text);
    }
    const wants = `${vps.merged}/etc/systemd/system/multi-user.target.wants`;
    await Deno.mkdir(wants, { recursive: true });
    await Deno.symlink("/lib/systemd/system/systemd-networkd.service", `${wants}/systemd-networkd.service`)
      .catch(() => {});
    await vps.start();
    await waitFor(`${name}'s address ${ip}`, async () => {
      return (await vps.exec(["ip", "-4", "-o", "address", "show", "dev", "host0"])).stdout.includes(
        `${ip}/`,
      );
    }, { timeoutMs: 20_000, intervalMs: 100 });
    return vps;
  }

  /** Powers everything off and removes what was made; throws after trying everything if a step failed. */
  async destroy(): Promise<void> {
    const errors: string[] = [];
    for (const vps of [...this.vpses].reverse()) errors.push(...await vps.destroy());
    this.vpses.length = 0;
    if (errors.length === 0) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    if (errors.length > 0) throw new Error(`Cannot clean up the VPS lab (${this.dir}): ${errors.join("; ")}`);
  }
}

/** Static files for `curl` in the containers: GET /PATH -> DIR/PATH. */
function serveFiles(dir: string, hostname: string, port: number): void {
  Deno.serve({
    hostname,
    port,
    onListen: () => Deno.stdout.writeSync(new TextEncoder().encode(`listening on ${hostname}:${port}\n`)),
  }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path\n", { status: 400 });
    try {
      const file = await Deno.open(`${dir}${path}`);
      return new Response(file.readable);
    } catch {
      return new Response("not found\n", { status: 404 });
    }
  });
}

if (import.meta.main) {
  const [cmd, dir, hostname, port] = Deno.args;
  if (cmd !== "serve" || !dir || !hostname || !port) {
    Deno.stderr.writeSync(new TextEncoder().encode("usage: vps.ts serve DIR HOST PORT\n"));
    Deno.exit(64);
  }
  serveFiles(dir, hostname, Number(port));
}
