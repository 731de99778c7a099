// DNS in the namespace lab: Debian's real NSD serving the authoritative zone lab.example (the fleet
// resolver's only upstream, since nothing outside the machine is reachable), Debian's real Unbound in
// the master's namespace with private paths (its control socket, pid file and include directory in the
// test's directory), and the environment that points the master's `local` node at them. Every daemon is
// started in a namespace the test made and stopped by its PID.
import type { Host } from "./netns.ts";
import type { Running } from "./programs.ts";
import { waitFor } from "./wait.ts";

export const AUTH_IP = "198.51.100.53";
export const ZONE = "lab.example";
/** What the zone answers: the name to use in tests and its address. */
export const LAB = {
  allowed: ["allowed.lab.example", "192.0.2.10"],
  ads: ["ads.lab.example", "192.0.2.66"],
} as const;

/** Runs argv inside `host`, collecting its output; stop() signals the process by its PID. */
export function startDaemon(host: Host, argv: string[]): Running {
  const all = [...host.enterArgv, ...argv];
  const child = new Deno.Command(all[0]!, {
    args: all.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const c of s) out += d.decode(c, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => (await pumps, s));
  return {
    pid: child.pid,
    output: () => out,
    status,
    stop: async (sig: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(sig);
      } catch { /* gone */ }
      return await status;
    },
  };
}

/** NSD with the zone lab.example on AUTH_IP (configuration and zone under `dir`). */
export async function startNsd(host: Host, dir: string): Promise<Running> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/nsd.conf`,
    `server:
  ip-address: ${AUTH_IP}
  port: 53
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  xfrdir: "${dir}"
  database: ""
  logfile: "${dir}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: "${ZONE}"
  zonefile: "${ZONE}.zone"
`,
  );
  await Deno.writeTextFile(
    `${dir}/${ZONE}.zone`,
    `$ORIGIN ${ZONE}.
$TTL 60
@ IN SOA ns.${ZONE}. admin.${ZONE}. 1 3600 600 86400 60
@ IN NS ns.${ZONE}.
ns IN A ${AUTH_IP}
allowed IN A ${LAB.allowed[1]}
ads IN A ${LAB.ads[1]}
tracker IN A 192.0.2.67
`,
  );
  const nsd = startDaemon(host, ["nsd", "-d", "-c", `${dir}/nsd.conf`]);
  await waitFor("nsd to serve lab.example", async () => {
    if (await exited(nsd)) throw new Error(`nsd exited: ${nsd.output()}`);
    const log = await Deno.readTextFile(`${dir}/nsd.log`).catch(() => "");
    return /zone lab\.example read with success/.test(log) && /nsd started/.test(log);
  }, { timeoutMs: 15_000 }).catch(async (err) => {
    await nsd.stop();
    throw err;
  });
  return nsd;
}

export type UnboundLab = {
  dir: string;
  /** The base configuration (the installer's part): includes the node's files, a local control socket. */
  conf: string;
  proc: Running | null;
  /** The restart loop (Restart=always in the installer's unit drop-in), and whether it should stop. */
  supervisor: Promise<void> | null;
  stopping: boolean;
  /** How many times Unbound was started (the first start included). */
  starts: number;
  /** The local node's environment for these paths. */
  nodeEnv: Record<string, string>;
};

/** The installer's part of Unbound's configuration, with the test's private paths. */
export async function unboundLab(dir: string): Promise<UnboundLab> {
  await Deno.mkdir(`${dir}/wirebuddy`, { recursive: true });
  const conf = `${dir}/unbound.conf`;
  await Deno.writeTextFile(
    conf,
    `server:
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  use-syslog: no
  logfile: "${dir}/unbound.log"
  verbosity: 1
  num-threads: 1
  trust-anchor-file: "/usr/share/dns/root.key"
  interface: 127.0.0.1
  include: "${dir}/wirebuddy/wb-*.conf"
remote-control:
  control-enable: yes
  control-use-cert: no
  control-interface: "${dir}/unbound.ctl"
`,
  );
  return {
    dir,
    conf,
    proc: null,
    supervisor: null,
    stopping: false,
    starts: 0,
    nodeEnv: {
      WIREBUDDY_DNS_DIR: `${dir}/wirebuddy`,
      WIREBUDDY_UNBOUND_CONF: conf,
      WIREBUDDY_DNSTAP_SOCKET: `${dir}/dnstap.sock`,
      WIREBUDDY_UNBOUND_LOG: `${dir}/replies.log`,
    },
  };
}

/**
 * Starts Unbound in `host` as its systemd unit would, with the installer's Restart=always: whenever it
 * exits (the node's `unbound-control stop` for new listen addresses) it is started again, until
 * stopUnbound(). Waits until `unbound-control status` answers.
 */
export async function startUnbound(host: Host, lab: UnboundLab): Promise<Running> {
  lab.stopping = false;
  const start = () => {
    lab.starts++;
    return (lab.proc = startDaemon(host, ["unbound", "-d", "-c", lab.conf]));
  };
  let first = start();
  lab.supervisor = (async () => {
    for (;;) {
      const st = await first.status;
      if (lab.stopping || !st.success) return; // a failed start is the test's error, not a loop
      first = start();
    }
  })();
  await waitFor("unbound to answer unbound-control", async () => {
    if (await exited(lab.proc!)) throw new Error(`unbound exited: ${lab.proc!.output()}`);
    return (await host.exec.run(["unbound-control", "-c", lab.conf, "status"])).code === 0;
  }, { timeoutMs: 15_000, intervalMs: 100 }).catch(async (err) => {
    await stopUnbound(lab);
    throw err;
  });
  return lab.proc!;
}

/** The exit status when the process has ended, else null (without waiting). */
async function exited(p: Running): Promise<Deno.CommandStatus | null> {
  return await Promise.race([p.status, new Promise<null>((r) => setTimeout(() => r(null), 0))]);
}

/** Stops Unbound by its PID (no restart) and waits for it to exit. */
export async function stopUnbound(lab: UnboundLab): Promise<void> {
  lab.stopping = true;
  await lab.proc?.stop("SIGTERM");
  await lab.supervisor;
  lab.proc = null;
  lab.supervisor = null;
}

/**
 * An executable that starts Debian's Chromium inside `host`'s network namespace (Playwright talks to it
 * over a pipe, so the browser reaches the master where the clients do).
 */
export async function chromiumIn(host: Host, dir: string): Promise<string> {
  const path = `${dir}/chromium-in-${host.short}`;
  await Deno.writeTextFile(path, `#!/bin/sh\nexec ${host.enterArgv.join(" ")} /usr/bin/chromium "$@"\n`);
  await Deno.chmod(path, 0o755);
  return path;
}
