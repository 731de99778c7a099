// A WireBuddy cluster inside network namespaces, for end-to-end tests: a master (with its `local` node
// and a DNS responder), nodes with an "internet" uplink each, and a client, all on a LAN bridge. Real
// programs (src/master/main.ts, src/node/main.ts), real wireguard-go, wg, ip and iptables.
//
//   lan bridge 198.51.100.0/24: master .1, nodes .2, .3 ..., client .10
//   each node: eth1 to the "internet" host (its own /24 under 203.0.113.0/24), default route there
//   the internet host has no route to the tunnel range: a client reaches it only through a node's NAT
import { parseClientConf } from "../../src/core/client_conf.ts";
import type { Host, World } from "./netns.ts";
import { type Running, startProgram } from "./programs.ts";
import { waitFor } from "./wait.ts";

export const MASTER_IP = "198.51.100.1";
export const CLIENT_IP = "198.51.100.10";
export const INTERNET_IP = "203.0.113.100";
export const SECRET = "cluster-secret-0123456789-abcdefghijklmno";
const ROOT = new URL("../../", import.meta.url).pathname;

/** Short intervals, so liveness, backoff and metrics play out in seconds. */
export const NODE_ENV = {
  WIREBUDDY_WG_IMPL: "userspace",
  WIREBUDDY_HEARTBEAT_INTERVAL: "1s",
  WIREBUDDY_METRICS_INTERVAL: "1s",
  WIREBUDDY_RECONCILE_INTERVAL: "3s",
  WIREBUDDY_CONFIG_WAIT: "10s",
  WIREBUDDY_BACKOFF_MIN: "300ms",
  WIREBUDDY_BACKOFF_MAX: "2s",
  WIREBUDDY_LOG_LEVEL: "debug",
};

/** One request the test's webhook receiver got: the status it answered, the WireBuddy headers, the body. */
export type WebhookRequest = {
  status: number;
  event: string | null;
  event_id: string | null;
  timestamp: string | null;
  signature: string | null;
  body: string;
};

/** A node host; `port` is its LAN port on the bridge (see partition()). */
export type NodeHost = {
  name: string;
  ip: string;
  host: Host;
  dataDir: string;
  proc: Running | null;
  port: string;
};

export class Cluster {
  master!: Host;
  client!: Host;
  internet!: Host;
  lan!: Host;
  nodes: NodeHost[] = [];
  masterProc: Running | null = null;
  localNode: Running | null = null;
  dns: Running | null = null;
  token = "";
  readonly procs: Running[] = [];
  /** Extra WIREBUDDY_* for the master (on top of masterEnv()'s test settings). */
  masterOverrides: Record<string, string> = {};

  constructor(readonly world: World, readonly dir: string) {}

  static async build(world: World, nodeNames: string[]): Promise<Cluster> {
    const dir = await Deno.makeTempDir({ prefix: "wb-cluster-" });
    const c = new Cluster(world, dir);
    c.lan = await world.host("lan");
    await world.bridge(c.lan, "br0");
    c.master = await world.host("mst", { wireguard: true });
    await world.plug(c.master, "eth0", c.lan, "br0", [`${MASTER_IP}/24`]);
    c.internet = await world.host("inet");
    for (const [i, name] of nodeNames.entries()) {
      const host = await world.host(name.slice(0, 4), { wireguard: true });
      const ip = `198.51.100.${2 + i}`;
      const port = await world.plug(host, "eth0", c.lan, "br0", [`${ip}/24`]);
      const up = `203.0.113.${1 + i * 16}`;
      const inet = `203.0.113.${2 + i * 16}`;
      await world.link(host, "eth1", c.internet, `up${i}`, { a: [`${up}/28`], b: [`${inet}/28`] });
      await host.run(["ip", "route", "add", "default", "via", inet, "dev", "eth1"]);
      c.nodes.push({ name, ip, host, dataDir: `${dir}/${name}`, proc: null, port });
    }
    // The internet host's own address, reachable from every uplink (it answers pings to it).
    await c.internet.run(["ip", "address", "add", `${INTERNET_IP}/32`, "dev", "lo"]);
    c.client = await world.host("cli", { wireguard: true });
    await world.plug(c.client, "eth0", c.lan, "br0", [`${CLIENT_IP}/24`]);
    return c;
  }

  masterEnv(): Record<string, string> {
    return {
      WIREBUDDY_DATA_DIR: `${this.dir}/master`,
      WIREBUDDY_SECRET_KEY: SECRET,
      WIREBUDDY_LISTEN: "0.0.0.0:8443",
      WIREBUDDY_PUBLIC_URL: `https://${MASTER_IP}:8443`,
      WIREBUDDY_NODE_STALE_AFTER: "4s",
      WIREBUDDY_NODE_CHECK_INTERVAL: "1s",
      WIREBUDDY_SYNC_RATE_LIMIT: "6000",
      // Tunnel checks every second (offline after 3 failures, unreachable after 11), webhooks retried fast.
      WIREBUDDY_HEALTH_INTERVALS: "1s,1s,2s,2s,2s",
      WIREBUDDY_HEALTH_TIMEOUT: "1s",
      WIREBUDDY_WEBHOOK_RETRY_MIN: "200ms",
      WIREBUDDY_WEBHOOK_RETRY_MAX: "1s",
      ...this.masterOverrides,
    };
  }

  async startMaster(): Promise<void> {
    this.masterProc = await startProgram("master", ["serve"], this.masterEnv(), {
      wrap: this.master.enterArgv,
    });
    this.procs.push(this.masterProc);
    await waitFor(
      "the master to listen",
      () => this.masterProc!.output().includes("WireBuddy master listening"),
      { timeoutMs: 20_000 },
    );
  }

  async stopMaster(): Promise<void> {
    await this.masterProc?.stop("SIGTERM");
    this.masterProc = null;
  }

  /** Creates the first admin and an API token through the CLI. */
  async bootstrapAdmin(): Promise<void> {
    const env = this.masterEnv();
    const create = await startProgram("master", ["admin", "create", "--username", "root"], env, {
      stdin: "a good long password",
    });
    if ((await create.status).code !== 0) throw new Error(create.output());
    const tok = await startProgram("master", ["admin", "token", "--username", "root", "--name", "e2e"], env);
    if ((await tok.status).code !== 0) throw new Error(tok.output());
    this.token = tok.output().match(/wbt_[\w-]+/)![0];
  }

  /** The JSON API through curl inside the master's namespace. */
  // deno-lint-ignore no-explicit-any
  async api(method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> {
    const argv = [
      "curl",
      "-sk",
      "-X",
      method,
      "-H",
      `Authorization: Bearer ${this.token}`,
      "-w",
      "\n%{http_code}",
    ];
    if (json !== undefined) argv.push("-H", "Content-Type: application/json", "--data-binary", "@-");
    argv.push(`https://127.0.0.1:8443/api${path}`);
    const r = await this.master.exec.run(argv, json !== undefined ? { stdin: JSON.stringify(json) } : {});
    const nl = r.stdout.lastIndexOf("\n");
    const status = Number(r.stdout.slice(nl + 1));
    const text = r.stdout.slice(0, nl);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // text (a config file)
    }
    return { status, body };
  }

  async startNode(n: NodeHost, token: string | null, extra: Record<string, string> = {}): Promise<Running> {
    const env: Record<string, string> = { ...NODE_ENV, WIREBUDDY_NODE_DATA_DIR: n.dataDir, ...extra };
    if (token) env.WIREBUDDY_ENROLLMENT_TOKEN = token;
    n.proc = await startProgram("node", [], env, { wrap: n.host.enterArgv });
    this.procs.push(n.proc);
    return n.proc;
  }

  async startLocalNode(token: string, extra: Record<string, string> = {}): Promise<void> {
    this.localNode = await startProgram("node", [], {
      ...NODE_ENV,
      WIREBUDDY_NODE_DATA_DIR: `${this.dir}/local-node`,
      WIREBUDDY_ENROLLMENT_TOKEN: token,
      WIREBUDDY_MASTER_URL: "https://127.0.0.1:8443",
      ...extra,
    }, { wrap: this.master.enterArgv });
    this.procs.push(this.localNode);
  }

  /**
   * A real HTTP server in the master's namespace that takes webhooks on http://127.0.0.1:9099/ and answers
   * with the status written to `statusFile` (200 when missing); `received()` parses what it printed.
   */
  async startWebhookReceiver(): Promise<
    { url: string; statusFile: string; received: () => WebhookRequest[] }
  > {
    const statusFile = `${this.dir}/webhook_status`;
    const proc = startDeno(this.master, [
      `${ROOT}test/support/webhook_receiver.ts`,
      "--port",
      "9099",
      "--status-file",
      statusFile,
    ]);
    this.procs.push(proc);
    await waitFor("the webhook receiver", () => proc.output().includes('"listening"'), { timeoutMs: 15_000 });
    const received = () =>
      proc.output().split("\n").filter((l) => l.startsWith('{"status"')).map((l) => JSON.parse(l));
    return { url: "http://127.0.0.1:9099/hook", statusFile, received };
  }

  async startDns(): Promise<void> {
    this.dns = await startDeno(this.master, [`${ROOT}test/support/dns_responder.ts`]);
    this.procs.push(this.dns);
    await waitFor("the DNS responder", () => this.dns!.output().includes('"listening"'), {
      timeoutMs: 15_000,
    });
  }

  /** Brings up a downloaded client config the way wg-quick would (minus DNS): wireguard-go, addresses, routes. */
  async clientUp(confText: string): Promise<void> {
    const conf = parseClientConf(confText);
    const r = await this.client.exec.run(["ip", "link", "show", "wg0"]);
    if (r.code !== 0) {
      await this.client.run(["wireguard-go", "wg0"]);
      for (const a of conf.interface.addresses) {
        await this.client.run(["ip", "address", "add", a, "dev", "wg0"]);
      }
      await this.client.run(["ip", "link", "set", "wg0", "up"]);
    }
    const wgConf = confText.split("\n").filter((l) => !/^(Address|DNS|MTU)\s*=/.test(l)).join("\n");
    await this.client.run(["wg", "setconf", "wg0", "/dev/stdin"], { stdin: wgConf });
    for (const a of conf.peer.allowedIps) {
      if (a === "0.0.0.0/0") await this.client.run(["ip", "route", "replace", "default", "dev", "wg0"]);
      else if (!a.includes(":")) await this.client.run(["ip", "route", "replace", a, "dev", "wg0"]);
    }
  }

  /**
   * Cuts a node off the LAN (partition) or plugs it back: its port leaves or rejoins the bridge. Nothing
   * answers and nothing is refused while cut: packets are silently lost, as in a real partition.
   */
  async partition(n: NodeHost, cut: boolean): Promise<void> {
    await this.lan.run(["ip", "link", "set", n.port, ...(cut ? ["nomaster"] : ["master", "br0"])]);
  }

  async handshakeAge(host: Host, peerKey: string): Promise<number | null> {
    const r = await host.exec.run(["wg", "show", "all", "latest-handshakes"]);
    for (const line of r.stdout.split("\n")) {
      const [, key, t] = line.trim().split(/\s+/);
      if (key === peerKey && Number(t) > 0) return Date.now() / 1000 - Number(t);
    }
    return null;
  }

  async stopAll(): Promise<void> {
    for (const p of this.procs) await p.stop("SIGKILL").catch(() => {});
  }
}

/** Runs a Deno script inside a host. */
export function startDeno(host: Host, args: string[]): Running {
  const child = new Deno.Command(host.enterArgv[0]!, {
    args: [...host.enterArgv.slice(1), Deno.execPath(), "run", "--quiet", "-A", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
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
