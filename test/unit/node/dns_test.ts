// Unbound as a reconcile resource, with the same proofs as WireGuard: a plan() table, a fake host that
// replays desired states in random order (plan again → [], a quiet tick runs only `status`),
// ownership (foreign files stay; DNS off removes only ours), a refused config that leaves the running
// one alone, crash safety; and the query log: Frame Streams handshake, dnstap decoding, opt-outs,
// the heartbeat's batches and acks.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { NodeDnsConfig } from "../../../src/core/sync.ts";
import { CONTROL, controlFrame, FrameReader } from "../../../src/node/dns/dnstap.ts";
import { DnsBeat } from "../../../src/node/dns/heartbeat.ts";
import { DnsLogQueue } from "../../../src/node/dns/log_queue.ts";
import { serveConn, type StreamConn } from "../../../src/node/dns/query_log.ts";
import {
  desiredFiles,
  type DnsFile,
  type DnsPaths,
  type ObservedDns,
  planDns,
  UnboundResource,
  zonesDiff,
} from "../../../src/node/dns/unbound.ts";
import { MemFs, ScriptedExec } from "../../support/fakes.ts";

const PATHS: DnsPaths = {
  dir: "/etc/unbound/wirebuddy",
  controlConf: "/etc/unbound/unbound.conf",
  dnstapSocket: "/run/wb/dnstap.sock",
};
const f = (name: string, text: string): DnsFile => ({ name, text });
const obs = (files: [string, string][], running = true): ObservedDns => ({
  files: new Map(files),
  running,
  detail: "",
});

Deno.test("planDns(): the table", () => {
  const rows: { name: string; desired: DnsFile[]; observed: ObservedDns; kinds: string[] }[] = [
    { name: "nothing wanted, nothing there", desired: [], observed: obs([]), kinds: [] },
    {
      name: "same files: nothing to do",
      desired: [f("wb-a.conf", "x")],
      observed: obs([["wb-a.conf", "x"]]),
      kinds: [],
    },
    {
      name: "first apply: check, write, manifest, reload",
      desired: [f("wb-a.conf", "x"), f("wb-b.conf", "y")],
      observed: obs([]),
      kinds: ["check", "write", "write", "manifest", "reload"],
    },
    {
      name: "one file changed: only it is written",
      desired: [f("wb-a.conf", "x"), f("wb-b.conf", "y2")],
      observed: obs([["wb-a.conf", "x"], ["wb-b.conf", "y"]]),
      kinds: ["check", "write", "manifest", "reload"],
    },
    {
      name: "unbound not running: files written, no reload (it reads them at start)",
      desired: [f("wb-a.conf", "x")],
      observed: obs([], false),
      kinds: ["check", "write", "manifest"],
    },
    {
      name: "DNS turned off: our files go, no check needed",
      desired: [],
      observed: obs([["wb-a.conf", "x"], ["wb-b.conf", "y"]]),
      kinds: ["remove", "remove", "manifest", "reload"],
    },
    {
      name: "new listen addresses: a restart (Unbound opens them only at start), not a reload",
      desired: [f("wb-server.conf", "server:\n  interface: 10.0.0.2@53\n")],
      observed: obs([["wb-server.conf", "server:\n  interface: 10.0.0.1@53\n"]]),
      kinds: ["check", "write", "manifest", "restart"],
    },
    {
      name: "same listen addresses, other lines changed: a reload",
      desired: [
        f("wb-server.conf", "server:\n  interface: 10.0.0.1@53\n  access-control: 10.0.0.0/24 allow\n"),
      ],
      observed: obs([["wb-server.conf", "server:\n  interface: 10.0.0.1@53\n"]]),
      kinds: ["check", "write", "manifest", "reload"],
    },
    {
      name: "only the blocklist's zones changed: applied at run time, no reload (a reload drops queries)",
      desired: [
        f("wb-server.conf", "s"),
        f("wb-blocklist.conf", 'server:\n  local-zone: "b.example." always_refuse\n'),
      ],
      observed: obs([["wb-server.conf", "s"], [
        "wb-blocklist.conf",
        'server:\n  local-zone: "a.example." always_refuse\n',
      ]]),
      kinds: ["check", "write", "manifest", "zones"],
    },
    {
      name: "the blocklist and another file changed: a reload",
      desired: [f("wb-server.conf", "s2"), f("wb-blocklist.conf", "server:\n")],
      observed: obs([["wb-server.conf", "s"], [
        "wb-blocklist.conf",
        'server:\n  local-zone: "a.example." always_refuse\n',
      ]]),
      kinds: ["check", "write", "write", "manifest", "reload"],
    },
    {
      name: "the blocklist holds more than local-zone lines: a reload",
      desired: [f("wb-blocklist.conf", 'server:\n  local-zone-tag: "a.example." "x"\n')],
      observed: obs([["wb-blocklist.conf", "server:\n"]]),
      kinds: ["check", "write", "manifest", "reload"],
    },
    {
      name: "a file edited by hand is rewritten",
      desired: [f("wb-a.conf", "x")],
      observed: obs([["wb-a.conf", "x # edited"]]),
      kinds: ["check", "write", "manifest", "reload"],
    },
  ];
  for (const r of rows) assert.deepEqual(planDns(r.desired, r.observed).map((s) => s.kind), r.kinds, r.name);
});

Deno.test("zonesDiff() removes gone names, adds new or retyped ones, and refuses anything else", () => {
  const a = 'server:\n  local-zone: "a.example." always_refuse\n  local-zone: "b.example." always_refuse\n';
  const b =
    '# c\nserver:\n  local-zone: "b.example." always_nxdomain\n  local-zone: "c.example." transparent\n';
  assert.deepEqual(zonesDiff(a, b), {
    remove: ["a.example."],
    add: ["b.example. always_nxdomain", "c.example. transparent"],
  });
  assert.deepEqual(zonesDiff(a, a), { remove: [], add: [] });
  assert.equal(zonesDiff(a, 'server:\n  local-data: "x. A 1.2.3.4"\n'), null);
  assert.equal(zonesDiff(a, 'server:\n  local-zone: "x y." static\n'), null, "a name with a space");
});

Deno.test("desiredFiles() adds the reply log and the dnstap clause only when the query log is on", () => {
  const dns: NodeDnsConfig = { files: [{ name: "wb-server.conf", text: "server:\n" }], log: true, nolog: [] };
  const files = desiredFiles(dns, PATHS);
  assert.deepEqual(files.map((x) => x.name), ["wb-dnstap.conf", "wb-server.conf"]);
  assert.match(files[0]!.text, /dnstap-socket-path: "\/run\/wb\/dnstap\.sock"/);
  assert.deepEqual(desiredFiles({ ...dns, log: false }, PATHS).map((x) => x.name), ["wb-server.conf"]);
  assert.deepEqual(desiredFiles(null, PATHS), []);
  const withLog = desiredFiles(dns, { ...PATHS, replyLog: "/var/lib/unbound/wirebuddy-replies.log" });
  assert.deepEqual(withLog.map((x) => x.name), ["wb-dnstap.conf", "wb-log.conf", "wb-server.conf"]);
  for (
    const l of [
      '  logfile: "/var/lib/unbound/wirebuddy-replies.log"',
      "  log-replies: yes",
      "  use-syslog: no",
    ]
  ) {
    assert.ok(withLog[1]!.text.split("\n").includes(l), l);
  }
  assert.deepEqual(
    desiredFiles({ ...dns, log: false }, { ...PATHS, replyLog: "/x.log" }).map((x) => x.name),
    ["wb-server.conf"],
  );
});

/** A host with Unbound: checkconf refuses any file containing "BAD"; reload loads the live files. */
function fakeUnbound(fs: MemFs, opts: { running?: boolean } = {}) {
  const host = {
    running: opts.running ?? true,
    reloads: 0,
    restarts: 0,
    loaded: "",
    zones: new Set<string>(),
  };
  /** What Unbound serves as global zones: read from the blocklist at (re)load, then changed at run time. */
  const readZones = () =>
    new Set(
      [...(fs.files.get(`${PATHS.dir}/wb-blocklist.conf`)?.text ?? "").matchAll(/local-zone: "(\S+)" (\S+)/g)]
        .map((m) => `${m[1]} ${m[2]}`),
    );
  const onDisk = () =>
    [...fs.files].filter(([p]) => /\/wb-[a-z-]+\.conf$/.test(p) && !p.includes(".staged"))
      .map(([p, v]) => `${p}=${v.text}`).sort().join("\n");
  const exec = new ScriptedExec((argv, stdin = "") => {
    if (argv[0] === "unbound-control" && argv.at(-1) === "status") {
      return host.running
        ? { code: 0, stdout: "version: 1.17.1\nunbound (pid 42) is running...\n", stderr: "" }
        : {
          code: 1,
          stdout: "",
          stderr: "unbound-control: error: connect: No such file or directory for /run/unbound.ctl",
        };
    }
    if (argv[0] === "unbound-checkconf") {
      const top = fs.files.get(argv[1]!)?.text ?? "";
      const staged = [...top.matchAll(/include: "([^"]+)"/g)].map((m) => fs.files.get(m[1]!)?.text ?? "");
      return staged.some((t) => t.includes("BAD"))
        ? {
          code: 1,
          stdout: "",
          stderr: "/etc/unbound/wirebuddy/.staged/wb-server.conf:3: error: syntax error",
        }
        : { code: 0, stdout: "unbound-checkconf: no errors", stderr: "" };
    }
    if (argv[0] === "unbound-control" && argv.at(-1) === "stop") {
      host.restarts++; // the unit's Restart=always starts it again
      host.loaded = onDisk();
      host.zones = readZones();
      return { code: 0, stdout: "ok\n", stderr: "" };
    }
    if (argv[0] === "unbound-control" && argv.at(-1) === "reload_keep_cache") {
      host.reloads++;
      host.loaded = onDisk();
      host.zones = readZones();
      return { code: 0, stdout: "ok\n", stderr: "" };
    }
    if (argv[0] === "unbound-control" && argv.at(-1) === "local_zones_remove") {
      for (const n of stdin.split("\n").filter(Boolean)) {
        for (const z of host.zones) if (z.startsWith(`${n} `)) host.zones.delete(z);
      }
      return { code: 0, stdout: "ok\n", stderr: "" };
    }
    if (argv[0] === "unbound-control" && argv.at(-1) === "local_zones") {
      for (const z of stdin.split("\n").filter(Boolean)) {
        for (const old of host.zones) if (old.startsWith(`${z.split(" ")[0]} `)) host.zones.delete(old);
        host.zones.add(z);
      }
      return { code: 0, stdout: "ok\n", stderr: "" };
    }
    return undefined;
  });
  return { host, exec };
}

/** The live wb-*.conf files as one text (what a reload loads). */
const liveText = (fs: MemFs) =>
  [...fs.files].filter(([p]) => /\/wb-[a-z-]+\.conf$/.test(p) && !p.includes(".staged"))
    .map(([p, v]) => `${p}=${v.text}`).sort().join("\n");
const live = (fs: MemFs) =>
  Object.fromEntries(
    [...fs.files].filter(([p]) => p.startsWith(`${PATHS.dir}/wb-`) && p.endsWith(".conf")).map((
      [p, v],
    ) => [p.slice(PATHS.dir.length + 1), v.text]),
  );
const cfg = (server: string, extra: Record<string, string> = {}, log = false): NodeDnsConfig => ({
  files: [
    { name: "wb-server.conf", text: server },
    ...Object.entries(extra).map(([name, text]) => ({ name, text })),
  ],
  log,
  nolog: [],
});

Deno.test("UnboundResource replays desired states in random order: each converges, a repeat runs only status", async () => {
  const states = [
    cfg("server:\n  interface: 10.0.0.1\n"),
    cfg("server:\n  interface: 10.0.0.1\n", {
      "wb-blocklist.conf": 'server:\n  local-zone: "a.example." always_refuse\n',
    }),
    cfg("server:\n  interface: 10.0.0.1\n", {
      "wb-blocklist.conf":
        'server:\n  local-zone: "b.example." always_refuse\n  local-zone: "c.b.example." transparent\n',
    }),
    cfg("server:\n  interface: 10.0.0.2\n", {}, true),
    null,
  ];
  for (let round = 0; round < 20; round++) {
    const fs = new MemFs();
    const { host, exec } = fakeUnbound(fs);
    const r = new UnboundResource({ exec, fs, log: memoryLogger(), paths: PATHS });
    const order = [...states].sort(() => Math.random() - 0.5);
    for (const want of order) {
      const reloadsBefore = host.reloads + host.restarts;
      const result = await r.reconcile(want);
      assert.equal(result.ok, true, result.error ?? "");
      const expect = Object.fromEntries(desiredFiles(want, PATHS).map((x) => [x.name, x.text]));
      assert.deepEqual(live(fs), expect);
      const calls = exec.calls.length;
      const again = await r.reconcile(want);
      assert.equal(again.commands, 0, "plan again: nothing to do");
      assert.deepEqual(
        exec.calls.slice(calls).map((c) => c.argv.at(-1)),
        want ? ["status"] : [],
        "a quiet tick only asks status",
      );
      assert.ok(
        host.reloads + host.restarts - reloadsBefore <= 1,
        "at most one reload (or restart) per change",
      );
      if (host.reloads + host.restarts > reloadsBefore) {
        assert.equal(host.loaded, liveText(fs), "Unbound runs what is on disk");
      }
      assert.deepEqual(
        [...host.zones].sort(),
        [...(expect["wb-blocklist.conf"] ?? "").matchAll(/local-zone: "(\S+)" (\S+)/g)].map((m) =>
          `${m[1]} ${m[2]}`
        )
          .sort(),
        "Unbound serves the blocklist on disk, reloaded or changed at run time",
      );
      if (want) {
        assert.deepEqual(again.report, {
          running: true,
          detail: "Unbound 1.17.1 is running (pid 42)",
          error: null,
        });
      }
    }
  }
});

Deno.test("UnboundResource leaves the running config alone when Unbound refuses the new one, and says why", async () => {
  const fs = new MemFs();
  const { host, exec } = fakeUnbound(fs);
  const r = new UnboundResource({ exec, fs, log: memoryLogger(), paths: PATHS });
  assert.equal((await r.reconcile(cfg("server:\n  good\n"))).ok, true);
  const before = live(fs);
  const reloads = host.reloads;
  const bad = await r.reconcile(cfg("server:\n  BAD line\n"));
  assert.equal(bad.ok, false);
  assert.match(bad.error!, /Unbound refuses the new configuration \(kept the running one\): .*syntax error/);
  assert.deepEqual(live(fs), before, "no live file changed");
  assert.equal(host.reloads, reloads, "no reload");
  assert.equal(bad.report?.error, bad.error);
  assert.equal(bad.report?.running, true);
});

Deno.test("UnboundResource owns only its manifest's files; DNS off removes them; a node without DNS never asks Unbound", async () => {
  const fs = new MemFs();
  await fs.writeTextAtomic(`${PATHS.dir}/wb-admin.conf`, "server:\n  # the admin's own\n");
  await fs.writeTextAtomic(`${PATHS.dir}/other.conf`, "x");
  const { exec } = fakeUnbound(fs);
  const r = new UnboundResource({ exec, fs, log: memoryLogger(), paths: PATHS });
  await r.reconcile(cfg("server:\n"));
  const off = await r.reconcile(null);
  assert.equal(off.ok, true);
  assert.equal(off.report, null);
  assert.equal(fs.files.has(`${PATHS.dir}/wb-server.conf`), false);
  assert.equal(fs.files.get(`${PATHS.dir}/wb-admin.conf`)?.text, "server:\n  # the admin's own\n");
  assert.equal(fs.files.get(`${PATHS.dir}/other.conf`)?.text, "x");

  const bare = new ScriptedExec(); // rejects every command
  const remote = new UnboundResource({ exec: bare, fs: new MemFs(), log: memoryLogger(), paths: PATHS });
  assert.deepEqual(await remote.reconcile(null), { ok: true, commands: 0, error: null, report: null });
  assert.equal(bare.calls.length, 0);
});

Deno.test("UnboundResource: Unbound stopped or missing is reported with what to do; files still written", async () => {
  const fs = new MemFs();
  const { exec } = fakeUnbound(fs, { running: false });
  const r = new UnboundResource({ exec, fs, log: memoryLogger(), paths: PATHS });
  const res = await r.reconcile(cfg("server:\n"));
  assert.equal(res.ok, true);
  assert.equal(res.report?.running, false);
  assert.match(
    res.report!.detail,
    /Unbound is not running \(.*No such file.*\): start it with "systemctl start unbound"/,
  );
  assert.ok(fs.files.has(`${PATHS.dir}/wb-server.conf`));
  const missing = new UnboundResource({
    exec: { run: () => Promise.reject(new Error("No such file or directory (os error 2)")) },
    fs: new MemFs(),
    log: memoryLogger(),
    paths: PATHS,
  });
  const m = await missing.reconcile(cfg("server:\n"));
  assert.match(m.report!.detail, /not installed .*install\.sh --dns/);
});

Deno.test("UnboundResource after a crash between two writes finishes the job on the next tick", async () => {
  const fs = new MemFs();
  const { host, exec } = fakeUnbound(fs);
  let writes = 0;
  const crashing = Object.assign(Object.create(fs), {
    writeTextAtomic: (p: string, t: string, m?: number) => {
      if (!p.includes(".staged") && ++writes === 2) return Promise.reject(new Error("killed"));
      return fs.writeTextAtomic(p, t, m);
    },
  });
  const want = cfg("server:\n", { "wb-blocklist.conf": "server:\n" });
  const first = await new UnboundResource({ exec, fs: crashing, log: memoryLogger(), paths: PATHS })
    .reconcile(want);
  assert.equal(first.ok, false);
  assert.equal(host.reloads, 0, "no reload of a half-written set");
  const again = await new UnboundResource({ exec, fs, log: memoryLogger(), paths: PATHS }).reconcile(want);
  assert.equal(again.ok, true);
  assert.deepEqual(live(fs), Object.fromEntries(desiredFiles(want, PATHS).map((x) => [x.name, x.text])));
  assert.equal(host.reloads, 1);
});

// --- the query log ----------------------------------------------------------------------------------

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  return [...out, n];
}
const field = (no: number, bytes: number[]) => [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
const intField = (no: number, v: number) => [...varint(no << 3), ...varint(v)];

/** A dnstap CLIENT_RESPONSE frame for an A answer from `client`. */
function responseFrame(client: number[], qname: string, rcode: number, answer: number[] | null): Uint8Array {
  const labels = qname.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  const an = answer ? 1 : 0;
  const msg = [0x12, 0x34, 0x81, 0x80 | rcode, 0, 1, 0, an, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1];
  if (answer) msg.push(0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...answer);
  const message = [...intField(1, 6), ...field(4, client), ...intField(12, 1_800_000_000), ...field(14, msg)];
  const dnstap = [...intField(15, 1), ...field(14, message)];
  const frame = new Uint8Array(4 + dnstap.length);
  new DataView(frame.buffer).setUint32(0, dnstap.length);
  frame.set(dnstap, 4);
  return frame;
}

function fakeConn(chunks: Uint8Array[]): StreamConn & { written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  return {
    written,
    read: (buf) => {
      const c = chunks.shift();
      if (!c) return Promise.resolve(null);
      buf.set(c);
      return Promise.resolve(c.length);
    },
    write: (d) => (written.push(d.slice()), Promise.resolve(d.length)),
    close: () => {},
  };
}

Deno.test("serveConn() answers the Frame Streams handshake and queues each client response once, skipping opted-out clients", async () => {
  const q = new DnsLogQueue(":memory:", 100);
  const both = new Uint8Array([
    ...responseFrame([10, 13, 13, 2], "allowed.lab.example", 0, [192, 0, 2, 10]),
    ...responseFrame([10, 13, 13, 3], "secret.example", 0, [192, 0, 2, 11]),
  ]);
  const blocked = responseFrame([10, 13, 13, 2], "ads.lab.example", 5, null);
  const conn = fakeConn([
    controlFrame(CONTROL.READY),
    controlFrame(CONTROL.START),
    both.slice(0, 20), // a frame split across reads
    both.slice(20),
    blocked,
    controlFrame(CONTROL.STOP, null),
  ]);
  const stop = new AbortController();
  const n = await serveConn(conn, {
    log: memoryLogger(),
    queue: q,
    skip: () => new Set(["10.13.13.3"]),
    stop: stop.signal,
  });
  assert.equal(n, 2);
  const replies = new FrameReader().push(new Uint8Array(conn.written.flatMap((w) => [...w])));
  assert.deepEqual(replies.map((r) => r.kind === "control" && r.type), [CONTROL.ACCEPT, CONTROL.FINISH]);
  const batch = q.batch();
  assert.deepEqual(batch.map((e) => [e.seq, e.client, e.qname, e.rcode, e.answer]), [
    [1, "10.13.13.2", "allowed.lab.example.", "NOERROR", "192.0.2.10"],
    [2, "10.13.13.2", "ads.lab.example.", "REFUSED", ""],
  ]);
  assert.equal(batch[0]!.at, 1_800_000_000_000);
  q.close();
});

Deno.test("DnsBeat sends the report when it changes, a batch of the log, and asks again at once while a full batch was acked", () => {
  const q = new DnsLogQueue(":memory:", 10_000);
  q.enqueue(
    Array.from(
      { length: 700 },
      (_, i) => ({ at: i, client: "10.0.0.2", qname: `q${i}.`, qtype: "A", rcode: "NOERROR", answer: "" }),
    ),
  );
  let report = { running: true, detail: "Unbound 1.17.1 is running", error: null as string | null };
  const beat = new DnsBeat(q, () => report, memoryLogger());
  const first = beat.body();
  assert.equal(first.batch, 500);
  assert.deepEqual(first.fields.dns, report);
  assert.equal(beat.delivered(first, 500), true, "a full batch: more wait");
  const second = beat.body();
  assert.equal(second.fields.dns, undefined, "the report went with the last beat");
  assert.equal(second.batch, 200);
  assert.equal(second.fields.dns_log![0]!.seq, 501);
  assert.equal(beat.delivered(second, undefined), false, "no ack: nothing deleted");
  assert.equal(q.stats().size, 200);
  assert.equal(beat.delivered(second, 700), false);
  assert.equal(q.stats().size, 0);
  report = { ...report, running: false };
  assert.deepEqual(beat.body().fields.dns, report, "a changed report goes at once");
  q.close();
});
