// Failover pools on a member, with the same proofs as WireGuard and Unbound: keepalived's render and
// plan() table (plan again after apply → []), the notify fifo's lines, the track file's decisions
// (drained, device missing or with another key, a failed apply), a fake host replayed in random order
// (a quiet tick signals nothing and writes nothing; no VRRP pool, nothing runs), the takeover handshake
// on MASTER (and a DNS pool's takeover once per epoch), and the heartbeat's reports.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeConfig, NodeInterfaceConfig, PoolConfig, PoolReport } from "../../../src/core/sync.ts";
import { heartbeatLoop } from "../../../src/node/loops.ts";
import { MetricsQueue } from "../../../src/node/metrics/queue.ts";
import { generateKeyPair } from "../../../src/core/wg_keys.ts";
import { PoolAnnouncer } from "../../../src/node/pools/announcer.ts";
import {
  advertInt,
  type DesiredKeepalived,
  type KeepalivedPaths,
  type ObservedKeepalived,
  parseFifoLine,
  planKeepalived,
  renderKeepalived,
  routeDevice,
} from "../../../src/node/pools/keepalived.ts";
import {
  dnsTakeoverStep,
  kickCommands,
  restoreArgv,
  TAKEOVER_CHUNK,
  takeoverEntries,
} from "../../../src/node/pools/takeover.ts";
import { FakeClock, MemFs, ScriptedExec } from "../../support/fakes.ts";
import { config, NODE, TIMING, until, world } from "./loops_harness.ts";

const PATHS: KeepalivedPaths = { dir: "/var/lib/wb/keepalived", program: "keepalived" };
const CONF = `${PATHS.dir}/keepalived.conf`;
const vrrp = (priority = 200, address = "198.51.100.50/24") => ({
  kind: "vrrp" as const,
  address,
  vrid: 51,
  priority,
  advert_ms: 200,
  link: "eth0",
});

Deno.test("renderKeepalived(): one VRRP v3 instance per pool with its track file, nothing for no pool", () => {
  assert.equal(renderKeepalived([], PATHS, "wirebuddy-a"), null);
  const text = renderKeepalived(
    [{ id: 7, announce: { ...vrrp(150), advert_ms: 1000 }, link: "eth1", withdraw: false }, {
      id: 3,
      announce: vrrp(),
      link: "eth0",
      withdraw: true,
    }],
    PATHS,
    "wirebuddy-a",
  )!;
  assert.match(text, /notify_fifo \/var\/lib\/wb\/keepalived\/notify\.fifo/);
  assert.ok(
    text.indexOf("vrrp_instance wb_pool_3") < text.indexOf("vrrp_instance wb_pool_7"),
    "sorted by id",
  );
  const three = text.slice(text.indexOf("track_file wb_pool_3"), text.indexOf("track_file wb_pool_7"));
  assert.match(three, /file \/var\/lib\/wb\/keepalived\/track_3\n {2}weight 0/);
  assert.match(
    three,
    /interface eth0\n {2}virtual_router_id 51\n {2}version 3\n {2}priority 200\n {2}advert_int 0\.2/,
  );
  assert.match(three, /198\.51\.100\.50\/24 dev eth0/);
  assert.doesNotMatch(text, /nopreempt/);
  assert.match(text.slice(text.indexOf("vrrp_instance wb_pool_7")), /interface eth1[\s\S]*advert_int 1\n/);
  assert.deepEqual([100, 150, 200, 1000, 2500, 10_000].map(advertInt), [
    "0.1",
    "0.15",
    "0.2",
    "1",
    "2.5",
    "10",
  ]);
});

Deno.test("planKeepalived(): the table, and planning again after applying gives []", () => {
  const t = (m: [number, string][]) => new Map(m);
  const rows: { name: string; desired: DesiredKeepalived; observed: ObservedKeepalived; kinds: string[] }[] =
    [
      {
        name: "no pool, nothing there",
        desired: { conf: null, tracks: t([]) },
        observed: { conf: null, tracks: t([]), pid: null },
        kinds: [],
      },
      {
        name: "first pool: track file, then config, then start",
        desired: { conf: "A", tracks: t([[1, "0\n"]]) },
        observed: { conf: null, tracks: t([]), pid: null },
        kinds: ["track", "conf", "start"],
      },
      {
        name: "running and the same: nothing (a quiet tick signals nothing)",
        desired: { conf: "A", tracks: t([[1, "0\n"]]) },
        observed: { conf: "A", tracks: t([[1, "0\n"]]), pid: 42 },
        kinds: [],
      },
      {
        name: "drained: only the track file changes, no reload (keepalived watches it)",
        desired: { conf: "A", tracks: t([[1, "1\n"]]) },
        observed: { conf: "A", tracks: t([[1, "0\n"]]), pid: 42 },
        kinds: ["track"],
      },
      {
        name: "config changed: write it, SIGHUP",
        desired: { conf: "B", tracks: t([[1, "0\n"]]) },
        observed: { conf: "A", tracks: t([[1, "0\n"]]), pid: 42 },
        kinds: ["conf", "reload"],
      },
      {
        name: "keepalived died: start it again with the same config",
        desired: { conf: "A", tracks: t([[1, "0\n"]]) },
        observed: { conf: "A", tracks: t([[1, "0\n"]]), pid: null },
        kinds: ["start"],
      },
      {
        name: "a pool left: reload, then its track file goes",
        desired: { conf: "B", tracks: t([[1, "0\n"]]) },
        observed: { conf: "A", tracks: t([[1, "0\n"], [2, "0\n"]]), pid: 42 },
        kinds: ["conf", "reload", "remove-track"],
      },
      {
        name: "the last VRRP pool left: stop, remove everything of ours",
        desired: { conf: null, tracks: t([]) },
        observed: { conf: "A", tracks: t([[1, "0\n"]]), pid: 42 },
        kinds: ["stop", "remove-conf", "remove-track"],
      },
    ];
  for (const row of rows) {
    const steps = planKeepalived(row.desired, row.observed);
    assert.deepEqual(steps.map((s) => s.kind), row.kinds, row.name);
    // Applied: the config and track files as desired, keepalived running exactly when there is a config.
    const after: ObservedKeepalived = {
      conf: row.desired.conf,
      tracks: new Map(row.desired.tracks),
      pid: row.desired.conf === null ? null : 42,
    };
    assert.deepEqual(planKeepalived(row.desired, after), [], `${row.name}: again`);
  }
});

Deno.test("parseFifoLine(): keepalived's INSTANCE lines for our instances only", () => {
  assert.deepEqual(parseFifoLine('INSTANCE "wb_pool_3" MASTER 200'), { id: 3, state: "MASTER" });
  assert.deepEqual(parseFifoLine('INSTANCE "wb_pool_12" BACKUP 100\n'), { id: 12, state: "BACKUP" });
  assert.deepEqual(parseFifoLine('INSTANCE "wb_pool_1" FAULT 0'), { id: 1, state: "FAULT" });
  assert.deepEqual(parseFifoLine('INSTANCE "wb_pool_1" STOP'), { id: 1, state: "STOP" });
  for (const other of ['INSTANCE "VI_1" MASTER 100', 'GROUP "wb_pool_1" MASTER', "", "garbage"]) {
    assert.equal(parseFifoLine(other), null, other);
  }
});

Deno.test("routeDevice(): the most specific main-table route's device", () => {
  const routes = JSON.stringify([
    { dst: "default", gateway: "203.0.113.2", dev: "eth1" },
    { dst: "198.51.100.0/24", dev: "eth0" },
    { dst: "198.51.0.0/16", dev: "eth2" },
  ]);
  assert.equal(routeDevice(routes), "eth0");
  assert.equal(routeDevice(JSON.stringify([{ dst: "default", dev: "eth1" }])), "eth1");
  assert.equal(routeDevice("[]"), null);
  assert.equal(routeDevice("not json"), null);
});

Deno.test("takeover: the interface's own handover peers, flushed and added back with keepalive 1, then the configured keepalive", () => {
  const [A, B, C] = ["A", "B", "C"].map((c) => c.repeat(43) + "=") as [string, string, string];
  const PSK = "P".repeat(43) + "=";
  const iface = {
    name: "wgpool",
    peers: [
      { public_key: A, preshared_key: PSK, allowed_ips: ["10.77.0.2/32"], persistent_keepalive: null },
      {
        public_key: B,
        preshared_key: null,
        allowed_ips: ["10.77.0.3/32", "fd77::3/128"],
        persistent_keepalive: 25,
      },
    ],
    pool: {
      handover: [
        { public_key: A, endpoint: "198.51.100.10:40000" },
        { public_key: B, endpoint: "[2001:db8::10]:40001" },
        { public_key: C, endpoint: "198.51.100.11:40000" }, // not a peer: never added
      ],
    },
  } as unknown as NodeInterfaceConfig;
  const entries = takeoverEntries(iface);
  assert.equal(entries.length, 2);
  const kick = kickCommands(iface, entries);
  assert.deepEqual(kick.map((c) => c.argv), [
    ["wg", "set", "wgpool", "peer", A, "remove", "peer", B, "remove"],
    ["wg", "addconf", "wgpool", "/dev/stdin"],
  ]);
  assert.equal(
    kick[1]!.stdin,
    [
      "[Peer]",
      `PublicKey = ${A}`,
      `PresharedKey = ${PSK}`,
      "Endpoint = 198.51.100.10:40000",
      "AllowedIPs = 10.77.0.2/32",
      "PersistentKeepalive = 1",
      "",
      "[Peer]",
      `PublicKey = ${B}`,
      "Endpoint = [2001:db8::10]:40001",
      "AllowedIPs = 10.77.0.3/32, fd77::3/128",
      "PersistentKeepalive = 1",
    ].join("\n") + "\n",
  );
  assert.ok(kick.every((c) => !c.argv.includes(PSK)), "keys on stdin only");
  assert.deepEqual(restoreArgv("wgpool", entries, iface)[0]!.slice(3), [
    "peer",
    A,
    "persistent-keepalive",
    "off",
    "peer",
    B,
    "persistent-keepalive",
    "25",
  ]);
  const many = { ...iface, peers: [] as NodeInterfaceConfig["peers"] };
  const lots = Array.from({ length: TAKEOVER_CHUNK * 2 + 1 }, (_, i) => {
    const key = `k${i}`.padEnd(43, "x") + "=";
    many.peers.push({
      public_key: key,
      preshared_key: null,
      allowed_ips: ["10.0.0.1/32"],
      endpoint: null,
      persistent_keepalive: null,
    });
    return { public_key: key, endpoint: "192.0.2.1:1" };
  });
  assert.deepEqual(
    kickCommands(many, lots).filter((c) => c.argv[1] === "set").map((c) => (c.argv.length - 3) / 3),
    [TAKEOVER_CHUNK, TAKEOVER_CHUNK, 1],
  );
});

// --- the announcer against a fake host --------------------------------------------------------------

type FakeChild = { pid: number; exited: Promise<number>; kill(): void; exit(code: number): void };

class FakeHost {
  readonly fs = new MemFs();
  readonly clock = new FakeClock();
  readonly log = memoryLogger();
  /** Devices as `wg show all dump` lists them: name → public key. */
  readonly devices = new Map<string, string>();
  handshakes = new Map<string, number>();
  readonly spawned: string[][] = [];
  readonly signals: [number, string][] = [];
  readonly fifo: string[] = [];
  #wakeFifo: (() => void) | null = null;
  running: FakeChild | null = null;
  #pid = 1000;
  readonly exec = new ScriptedExec((argv) => {
    const line = argv.join(" ");
    if (line === "wg show all dump") {
      const out: string[] = [];
      for (const [dev, pub] of this.devices) {
        out.push([dev, "(hidden)", pub, "51900", "off"].join("\t"));
        for (const [peer, at] of this.handshakes) {
          out.push(
            [dev, peer, "(none)", "198.51.100.10:40000", "10.77.0.2/32", String(at), "1", "2", "off"].join(
              "\t",
            ),
          );
        }
      }
      return { code: 0, stdout: out.join("\n") + "\n", stderr: "" };
    }
    if (line.startsWith("ip -j -4 route show table main match ")) {
      return { code: 0, stdout: JSON.stringify([{ dst: "198.51.100.0/24", dev: "eth0" }]), stderr: "" };
    }
    if (argv[0] === "wg" && (argv[1] === "set" || argv[1] === "addconf")) {
      return { code: 0, stdout: "", stderr: "" };
    }
    if (argv[0] === "ps") {
      // The fake's process table: /proc/<pid>/cmdline in its filesystem.
      const cmdline = this.fs.files.get(`/proc/${argv.at(-1)}/cmdline`)?.text;
      return cmdline
        ? { code: 0, stdout: cmdline.split("\0").join(" ") + "\n", stderr: "" }
        : { code: 1, stdout: "", stderr: "" };
    }
    return undefined;
  });

  announcer(): PoolAnnouncer {
    return new PoolAnnouncer({
      exec: this.exec,
      fs: this.fs,
      clock: this.clock,
      log: this.log,
      paths: PATHS,
      routerId: "wirebuddy-test",
      spawn: (argv) => {
        this.spawned.push(argv);
        let exit!: (code: number) => void;
        const exited = new Promise<number>((r) => (exit = r));
        const pid = this.#pid++;
        const child = { pid, exited, kill: () => exit(0), exit: (code: number) => exit(code) };
        this.running = child;
        // keepalived writes its pid file and reads our config.
        this.fs.files.set(`${PATHS.dir}/keepalived.pid`, { text: `${pid}\n`, mode: 0o644 });
        this.fs.files.set(`/proc/${pid}/cmdline`, { text: argv.join("\0") + "\0", mode: 0o444 });
        return child;
      },
      signal: (pid, sig) => {
        this.signals.push([pid, sig]);
        if (sig === "SIGTERM" && this.running?.pid === pid) {
          this.fs.files.delete(`/proc/${pid}/cmdline`);
          this.running.exit(0);
          this.running = null;
        }
      },
      fifoLines: (_path, stop) => this.#fifoLines(stop),
    });
  }

  async *#fifoLines(stop: AbortSignal): AsyncGenerator<string> {
    yield "";
    while (!stop.aborted) {
      const line = this.fifo.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      await new Promise<void>((r) => {
        this.#wakeFifo = r;
        stop.addEventListener("abort", () => r(), { once: true });
      });
    }
  }

  say(line: string): void {
    this.fifo.push(line);
    this.#wakeFifo?.();
  }

  mutating(): string[] {
    return this.exec.calls.map((c) => c.argv.join(" ")).filter((l) => /^wg (set|addconf)/.test(l));
  }
}

async function poolIface(
  id: number,
  pool: Partial<PoolConfig> = {},
): Promise<{ iface: NodeInterfaceConfig; publicKey: string }> {
  const keys = await generateKeyPair();
  const client = await generateKeyPair();
  return {
    publicKey: keys.publicKey,
    iface: {
      name: `wgp${id}`,
      addresses: ["10.77.0.1/24"],
      listen_port: 51900,
      mtu: null,
      private_key: keys.privateKey,
      peers: [{
        public_key: client.publicKey,
        preshared_key: null,
        allowed_ips: ["10.77.0.2/32"],
        endpoint: null,
        persistent_keepalive: null,
      }],
      master_peer: null,
      masquerade: true,
      pool: {
        id,
        name: `pool-${id}`,
        announce: vrrp(),
        drained: false,
        handover: [{ public_key: client.publicKey, endpoint: "198.51.100.10:40000" }],
        ...pool,
      },
    },
  };
}

const configWith = (...interfaces: NodeInterfaceConfig[]): NodeConfig => ({
  node_id: 2,
  config_version: 1,
  issued_at: 0,
  interfaces,
});

Deno.test("PoolAnnouncer: no pool, no command at all and nothing runs", async () => {
  const host = new FakeHost();
  const a = host.announcer();
  const r = await a.reconcile(configWith(), true);
  assert.deepEqual(r, { commands: 0, error: null });
  assert.equal(host.exec.calls.length, 0);
  assert.equal(host.spawned.length, 0);
  assert.equal(a.reports(), null, "no `pools` in the heartbeat");
});

Deno.test("PoolAnnouncer: track file decisions (healthy, drained, device missing, another key, failed apply)", async () => {
  const { iface, publicKey } = await poolIface(1, { announce: { ...vrrp(), link: null } });
  const rows: {
    name: string;
    setup: (h: FakeHost) => void;
    cfg: NodeInterfaceConfig;
    ok: boolean;
    track: string;
    state: string;
  }[] = [
    {
      name: "healthy",
      setup: (h) => h.devices.set("wgp1", publicKey),
      cfg: iface,
      ok: true,
      track: "0\n",
      state: "backup",
    },
    {
      name: "drained",
      setup: (h) => h.devices.set("wgp1", publicKey),
      cfg: { ...iface, pool: { ...iface.pool!, drained: true } },
      ok: true,
      track: "1\n",
      state: "withdrawn",
    },
    { name: "device missing", setup: () => {}, cfg: iface, ok: true, track: "1\n", state: "fault" },
    {
      name: "device with another key",
      setup: (h) => h.devices.set("wgp1", "X".repeat(43) + "="),
      cfg: iface,
      ok: true,
      track: "1\n",
      state: "fault",
    },
    {
      name: "last apply failed",
      setup: (h) => h.devices.set("wgp1", publicKey),
      cfg: iface,
      ok: false,
      track: "1\n",
      state: "fault",
    },
  ];
  for (const row of rows) {
    const host = new FakeHost();
    row.setup(host);
    const a = host.announcer();
    const r = await a.reconcile(configWith(row.cfg), row.ok);
    assert.equal(r.error, null, row.name);
    assert.equal(host.fs.files.get(`${PATHS.dir}/track_1`)?.text, row.track, row.name);
    assert.match(
      host.fs.files.get(CONF)!.text,
      /198\.51\.100\.50\/24 dev eth0/,
      `${row.name}: link from the route`,
    );
    assert.equal(a.reports()![0]!.state, row.state, row.name);
    assert.equal(host.spawned.length, 1, `${row.name}: keepalived started once`);
  }
});

Deno.test("PoolAnnouncer: replayed in random order, each state converges and a quiet tick changes nothing", async () => {
  const one = await poolIface(1);
  const two = await poolIface(2, { announce: { ...vrrp(100, "198.51.100.60/24"), vrid: 52 } });
  const drained = { ...one.iface, pool: { ...one.iface.pool!, drained: true } };
  const states = [
    configWith(),
    configWith(one.iface),
    configWith(drained),
    configWith(one.iface, two.iface),
    configWith(two.iface),
    configWith(one.iface, {
      ...two.iface,
      pool: { ...two.iface.pool!, announce: { ...vrrp(120, "198.51.100.60/24"), vrid: 52 } },
    }),
  ];
  const host = new FakeHost();
  host.devices.set("wgp1", one.publicKey);
  host.devices.set("wgp2", two.publicKey);
  const a = host.announcer();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 40; i++) {
    const cfg = states[Math.floor(rand() * states.length)]!;
    await a.reconcile(cfg, true);
    const pools = cfg.interfaces.length;
    assert.equal(
      host.running !== null,
      pools > 0,
      `keepalived runs exactly while there are pools (${pools})`,
    );
    assert.equal(host.fs.files.has(CONF), pools > 0);
    for (const i of cfg.interfaces) {
      assert.equal(
        host.fs.files.get(`${PATHS.dir}/track_${i.pool!.id}`)?.text,
        i.pool!.drained ? "1\n" : "0\n",
      );
    }
    // Again: nothing written, nothing signalled, nothing started.
    const [spawned, signals] = [host.spawned.length, host.signals.length];
    const files = JSON.stringify([...host.fs.files]);
    const r = await a.reconcile(cfg, true);
    assert.equal(r.commands, 0);
    assert.equal(host.spawned.length, spawned);
    assert.equal(host.signals.length, signals);
    assert.equal(JSON.stringify([...host.fs.files]), files);
  }
  assert.equal(host.spawned.filter((s) => s[0] === "keepalived").length >= 1, true);
  assert.deepEqual(host.spawned[0], [
    "keepalived",
    "-n",
    "-l",
    "-D",
    "--vrrp",
    "-f",
    CONF,
    "-p",
    `${PATHS.dir}/keepalived.pid`,
    "-r",
    `${PATHS.dir}/vrrp.pid`,
  ]);
});

Deno.test("PoolAnnouncer: a config change reloads with SIGHUP; keepalived dying is started again; a new node adopts it", async () => {
  const one = await poolIface(1);
  const host = new FakeHost();
  host.devices.set("wgp1", one.publicKey);
  const a = host.announcer();
  await a.reconcile(configWith(one.iface), true);
  const pid = host.running!.pid;
  const moved = { ...one.iface, pool: { ...one.iface.pool!, announce: vrrp(90) } };
  await a.reconcile(configWith(moved), true);
  assert.deepEqual(host.signals, [[pid, "SIGHUP"]]);
  host.running!.exit(1);
  host.fs.files.delete(`/proc/${pid}/cmdline`);
  host.running = null;
  await Promise.resolve();
  const r = await a.reconcile(configWith(moved), true);
  assert.equal(r.commands, 1, "started again");
  assert.equal(host.spawned.length, 2);
  // A restarted node finds it through the pid file and neither starts a second one nor signals it.
  const b = host.announcer();
  assert.equal((await b.reconcile(configWith(moved), true)).commands, 0);
  assert.equal(host.spawned.length, 2);
});

Deno.test("PoolAnnouncer: MASTER from the fifo starts the takeover handshake and tells the agent; reports follow", async () => {
  const one = await poolIface(1);
  const host = new FakeHost();
  host.devices.set("wgp1", one.publicKey);
  const client = one.iface.peers[0]!.public_key;
  host.handshakes.set(client, Math.floor(host.clock.now() / 1000) - 10);
  const a = host.announcer();
  const serving: number[] = [];
  a.whenServing((id) => serving.push(id));
  const stop = new AbortController();
  const loop = a.run(stop.signal);
  await a.reconcile(configWith(one.iface), true);
  assert.deepEqual(a.reports(), [{
    id: 1,
    sessions: 1,
    state: "backup",
    detail: "waiting for keepalived's first state",
  }]);
  host.say('INSTANCE "wb_pool_1" BACKUP 200');
  host.say('INSTANCE "wb_pool_1" MASTER 200');
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 0));
    assert.ok(ok(), what);
  };
  await until("the takeover's first commands", () => host.mutating().length === 2);
  assert.deepEqual(host.mutating(), [
    `wg set wgp1 peer ${client} remove`,
    "wg addconf wgp1 /dev/stdin",
  ]);
  assert.deepEqual(serving, [1]);
  assert.equal(a.reports()![0]!.state, "serving");
  host.clock.advance(1_500);
  assert.match(
    host.exec.calls.at(-1)!.stdin ?? "",
    /Endpoint = 198\.51\.100\.10:40000\n.*\nPersistentKeepalive = 1\n/,
  );
  await until("the keepalive back off", () => host.mutating().length === 3);
  assert.equal(host.mutating()[2], `wg set wgp1 peer ${client} persistent-keepalive off`);
  // MASTER again (a reload) is no new takeover; FAULT is reported as such.
  host.say('INSTANCE "wb_pool_1" MASTER 200');
  host.say('INSTANCE "wb_pool_1" FAULT 0');
  await until("FAULT read", () => a.vrrpState(1) === "FAULT");
  assert.equal(host.mutating().length, 3);
  assert.equal(a.reports()![0]!.state, "fault");
  // A handshake older than 180 s is no session.
  host.clock.advance(200_000);
  await a.reconcile(configWith(one.iface), true);
  assert.equal(a.reports()![0]!.sessions, 0);
  stop.abort();
  await loop;
});

Deno.test("PoolAnnouncer: keepalived missing is a fault the pool page shows; removing the node stops ours", async () => {
  const one = await poolIface(1);
  const host = new FakeHost();
  host.devices.set("wgp1", one.publicKey);
  const a = new PoolAnnouncer({
    exec: host.exec,
    fs: host.fs,
    clock: host.clock,
    log: host.log,
    paths: PATHS,
    routerId: "x",
    spawn: () => {
      throw new Error("No such file or directory (os error 2)");
    },
    signal: () => {},
    fifoLines: async function* () {},
  });
  const r = await a.reconcile(configWith(one.iface), true);
  assert.match(
    r.error ?? "",
    /cannot start keepalived \(keepalived\): No such file.*install the keepalived package/,
  );
  assert.equal(a.reports()![0]!.state, "fault");
  // takeDown: config null → our files go.
  const b = host.announcer();
  await b.reconcile(configWith(one.iface), true);
  const pid = host.running!.pid;
  await b.reconcile(null, true);
  assert.deepEqual(host.signals.at(-1), [pid, "SIGTERM"]);
  assert.equal(host.fs.files.has(CONF), false);
  assert.equal(host.fs.files.has(`${PATHS.dir}/track_1`), false);
  assert.equal(b.reports(), null);
});

Deno.test("heartbeatLoop: `pools` goes with every beat while the config has pools, and never without", async () => {
  const w = world();
  const queue = new MetricsQueue(":memory:", 10_000);
  let reports: PoolReport[] | null = [{ id: 4, state: "serving", detail: null, sessions: 1 }];
  try {
    w.state.configApplied(config(3), { ok: true });
    w.master.heartbeatAnswers.push(
      { kind: "ok", acked_seq: 0, config_version: 3 },
      { kind: "ok", acked_seq: 0, config_version: 3 },
      { kind: "removed", node_id: NODE },
    );
    const loop = heartbeatLoop({
      ...w.base,
      ...w,
      keys: { publicKeys: () => Promise.resolve({}) },
      queue,
      timing: TIMING,
      pools: () => reports,
    });
    await until("first beat", () => w.master.beats.length === 1 && w.clock.pendingSleeps === 1);
    assert.deepEqual(w.master.beats[0]!.pools, [{ id: 4, state: "serving", detail: null, sessions: 1 }]);
    w.clock.advance(30_000);
    await until("second beat", () => w.master.beats.length === 2 && w.clock.pendingSleeps === 1);
    assert.deepEqual(w.master.beats[1]!.pools, reports, "every beat, also a quiet one");
    reports = null;
    w.heartbeatNow.wake();
    await loop;
    assert.equal("pools" in w.master.beats[2]!, false, "no pools: no field (an older master never sees it)");
  } finally {
    queue.close();
  }
});

Deno.test("dnsTakeoverStep: a DNS pool's takeover acts once per epoch (decision table)", () => {
  const t = (epoch: number, ...keys: string[]) => ({ epoch, keys });
  const rows: {
    name: string;
    last: { epoch: number; keys: string[] } | null;
    next: { epoch: number; keys: string[] } | undefined;
    ready: boolean;
    kick: string[];
    remember: { epoch: number; keys: string[] } | null;
  }[] = [
    { name: "none", last: null, next: undefined, ready: true, kick: [], remember: null },
    {
      name: "a first epoch",
      last: null,
      next: t(5, "k1", "k2"),
      ready: true,
      kick: ["k1", "k2"],
      remember: t(5, "k1", "k2"),
    },
    {
      name: "the same epoch again (a re-render)",
      last: t(5, "k1"),
      next: t(5, "k1"),
      ready: true,
      kick: [],
      remember: t(5, "k1"),
    },
    {
      name: "the set grew: only the new client",
      last: t(5, "k1"),
      next: t(6, "k1", "k2"),
      ready: true,
      kick: ["k2"],
      remember: t(6, "k1", "k2"),
    },
    { name: "ended: forgotten", last: t(5, "k1"), next: undefined, ready: true, kick: [], remember: null },
    {
      name: "an empty list ends it too",
      last: t(5, "k1"),
      next: t(6),
      ready: true,
      kick: [],
      remember: null,
    },
    {
      name: "the same client after it ended: kicked again",
      last: null,
      next: t(7, "k1"),
      ready: true,
      kick: ["k1"],
      remember: t(7, "k1"),
    },
    {
      name: "not ready (drained, device unhealthy): waits",
      last: null,
      next: t(5, "k1"),
      ready: false,
      kick: [],
      remember: null,
    },
    {
      name: "not ready keeps what it did",
      last: t(5, "k1"),
      next: t(6, "k1", "k2"),
      ready: false,
      kick: [],
      remember: t(5, "k1"),
    },
  ];
  for (const r of rows) {
    assert.deepEqual(
      dnsTakeoverStep(r.last, r.next, r.ready),
      { kick: r.kick, remember: r.remember },
      r.name,
    );
  }
});

Deno.test("PoolAnnouncer: a DNS pool's takeover handshakes the named clients once per epoch and tells the agent", async () => {
  const one = await poolIface(4, { announce: { kind: "dns" } });
  const other = await generateKeyPair();
  const client = one.iface.peers[0]!.public_key;
  one.iface.peers.push({
    ...one.iface.peers[0]!,
    public_key: other.publicKey,
    allowed_ips: ["10.77.0.3/32"],
  });
  one.iface.pool!.handover.push({ public_key: other.publicKey, endpoint: "198.51.100.11:40001" });
  const host = new FakeHost();
  host.devices.set("wgp4", one.publicKey);
  const a = host.announcer();
  const serving: number[] = [];
  a.whenServing((id) => serving.push(id));
  const withTakeover = (takeover?: { epoch: number; keys: string[] }) => ({
    ...one.iface,
    pool: { ...one.iface.pool!, takeover },
  });
  // No takeover: no command, and no keepalived for a DNS pool.
  await a.reconcile(configWith(withTakeover()), true);
  assert.deepEqual(host.mutating(), []);
  assert.equal(host.spawned.length, 0);

  // Epoch 9 names one of the two clients: only it is flushed and re-added with its endpoint.
  const settle = async () => {
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 0));
  };
  await a.reconcile(configWith(withTakeover({ epoch: 9, keys: [client] })), true);
  await settle();
  assert.deepEqual(host.mutating(), [`wg set wgp4 peer ${client} remove`, "wg addconf wgp4 /dev/stdin"]);
  assert.match(host.exec.calls.at(-1)!.stdin ?? "", /Endpoint = 198\.51\.100\.10:40000\n/);
  assert.ok(!(host.exec.calls.at(-1)!.stdin ?? "").includes(other.publicKey), "only the named client");
  assert.deepEqual(serving, [4], "the agent beats at once");
  host.clock.advance(1_500);
  await a.takeoversDone();
  assert.equal(host.mutating()[2], `wg set wgp4 peer ${client} persistent-keepalive off`);

  // The same epoch again (another apply): nothing. A drained member does nothing either.
  await a.reconcile(configWith(withTakeover({ epoch: 9, keys: [client] })), true);
  const drained = { ...withTakeover({ epoch: 10, keys: [client, other.publicKey] }) };
  drained.pool = { ...drained.pool, drained: true };
  await a.reconcile(configWith(drained), true);
  await settle();
  assert.equal(host.mutating().length, 3);
  assert.deepEqual(serving, [4]);

  // A grown set: only the new client.
  await a.reconcile(configWith(withTakeover({ epoch: 10, keys: [client, other.publicKey] })), true);
  await settle();
  assert.deepEqual(host.mutating().slice(3), [
    `wg set wgp4 peer ${other.publicKey} remove`,
    "wg addconf wgp4 /dev/stdin",
  ]);
  host.clock.advance(1_500);
  await a.takeoversDone();
  assert.equal(host.mutating().length, 6);
  assert.deepEqual(a.reports(), [{ id: 4, sessions: 0, state: "serving", detail: null }]);
});
