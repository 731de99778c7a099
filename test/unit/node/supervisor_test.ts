// The wireguard-go supervisor (issue 17, item 9) and the engine's side of it, with fakes: the node asks
// for an interface with a request file, the supervisor keeps one `wireguard-go -f IF` for it, starts it
// again when it dies, stops it when the request goes, and leaves a wireguard-go it did not start alone.
import assert from "node:assert/strict";
import { memoryLogger } from "../../../src/core/logger.ts";
import type { ExecResult } from "../../../src/core/ports/types.ts";
import { createEngine } from "../../../src/node/reconcile/engine.ts";
import { requestPath, supervisedWireguardGo } from "../../../src/node/reconcile/userspace.ts";
import { type Child, runSupervisor } from "../../../src/node/supervisor.ts";
import { FakeClock, MemFs, ScriptedExec } from "../../support/fakes.ts";
import { FakeHost } from "./fake_host.ts";
import { key } from "./fixtures.ts";

const DIR = "/run/wireguard/.wirebuddy";

class FakeChild implements Child {
  signals: string[] = [];
  #exit!: (code: number) => void;
  readonly exited = new Promise<number>((r) => (this.#exit = r));
  constructor(readonly pid: number, readonly argv: string[]) {}
  kill(signal: "SIGTERM" | "SIGKILL") {
    this.signals.push(signal);
    this.#exit(signal === "SIGTERM" ? 0 : 137);
  }
  die(code = 1) {
    this.#exit(code);
  }
}

/** Lets the supervisor's loop run after the clock moved. */
async function tick(clock: FakeClock, ms: number) {
  clock.advance(ms);
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

function supervisor() {
  const clock = new FakeClock();
  const log = memoryLogger();
  const wanted = new Set<string>();
  const children: FakeChild[] = [];
  const answering = new Set<string>(); // interfaces whose UAPI answers without us (started elsewhere)
  const exec = new ScriptedExec((argv): ExecResult | undefined => {
    if (argv[0] === "wg" && argv[1] === "show") {
      const iface = argv[2]!;
      const up = answering.has(iface) || children.some((c) => c.argv[2] === iface && !c.signals.length);
      return { code: up ? 0 : 1, stdout: "", stderr: up ? "" : "Unable to access interface" };
    }
    return undefined;
  });
  const stop = new AbortController();
  const done = runSupervisor(
    {
      clock,
      log,
      exec,
      list: () => Promise.resolve([...wanted]),
      mkdir: () => Promise.resolve(),
      spawn: (argv) => {
        const child = new FakeChild(1000 + children.length, argv);
        children.push(child);
        return child;
      },
    },
    { dir: DIR, pollMs: 500 },
    stop.signal,
  );
  return { clock, log, wanted, children, answering, stop, done };
}

Deno.test("supervisor: one wireguard-go -f per requested interface, started again when it dies, stopped when the request goes", async () => {
  const s = supervisor();
  await tick(s.clock, 0);
  assert.equal(s.children.length, 0);
  s.wanted.add("wg0");
  await tick(s.clock, 500);
  assert.deepEqual(s.children.map((c) => c.argv), [["wireguard-go", "-f", "wg0"]]);
  await tick(s.clock, 500);
  assert.equal(s.children.length, 1, "one process per interface, not one per look");
  // It dies: started again after 1 s, then 2 s if it dies again at once.
  s.children[0]!.die(1);
  await tick(s.clock, 0);
  await tick(s.clock, 500);
  assert.equal(s.children.length, 1, "not at once");
  await tick(s.clock, 1_000);
  assert.equal(s.children.length, 2);
  s.children[1]!.die(1);
  await tick(s.clock, 0);
  await tick(s.clock, 1_500);
  assert.equal(s.children.length, 2, "backing off");
  await tick(s.clock, 1_000);
  assert.equal(s.children.length, 3);
  assert.match(s.log.lines.join("\n"), /wireguard-go for wg0 exited \(code 1\); starting it again in 2s/);
  // The request goes: SIGTERM, and no restart.
  s.wanted.delete("wg0");
  await tick(s.clock, 500);
  assert.deepEqual(s.children[2]!.signals, ["SIGTERM"]);
  await tick(s.clock, 5_000);
  assert.equal(s.children.length, 3);
  s.stop.abort();
  await s.done;
});

Deno.test("supervisor: an interface whose UAPI already answers is left alone; a stop ends what it started", async () => {
  const s = supervisor();
  s.answering.add("wg0"); // an older node's wireguard-go
  s.wanted.add("wg0");
  s.wanted.add("wg1");
  s.wanted.add("../etc"); // not an interface name: ignored
  await tick(s.clock, 500);
  assert.deepEqual(s.children.map((c) => c.argv[2]), ["wg1"]);
  s.answering.delete("wg0"); // it went away: now the supervisor keeps it
  await tick(s.clock, 500);
  assert.deepEqual(s.children.map((c) => c.argv[2]), ["wg1", "wg0"]);
  s.stop.abort();
  await tick(s.clock, 0);
  await s.done;
  assert.deepEqual(s.children.map((c) => c.signals), [["SIGTERM"], ["SIGTERM"]]);
  assert.equal(s.clock.pendingSleeps, 0);
});

/** A memory filesystem where a request file makes the fake host's "supervisor" bring the interface up. */
class SupervisedFs extends MemFs {
  constructor(private readonly host: FakeHost) {
    super();
  }
  override writeTextAtomic(path: string, text: string, mode?: number): Promise<void> {
    const m = path.match(/\/want\/([^/]+)$/);
    if (m) this.host.userspaceUp(m[1]!);
    return super.writeTextAtomic(path, text, mode);
  }
  override remove(path: string): Promise<void> {
    const m = path.match(/\/want\/([^/]+)$/);
    if (m) this.host.links.delete(m[1]!); // the supervisor stops wireguard-go: the interface goes
    return super.remove(path);
  }
}

Deno.test("engine with a supervisor: a userspace interface is requested (never spawned by the node) and withdrawn before it is deleted", async () => {
  const host = new FakeHost();
  const fs = new SupervisedFs(host);
  const log = memoryLogger();
  const clock = new FakeClock();
  const engine = createEngine({
    exec: host,
    fs,
    log,
    wireguardGo: supervisedWireguardGo({ fs, exec: host, clock, log }, DIR),
  }, { statePath: "/s.json", wgImpl: "userspace" });
  const desired = {
    interfaces: [{
      name: "wg0",
      privateKey: key(1),
      addresses: ["10.0.0.1/24"],
      listenPort: 51820,
      peers: [{ publicKey: key(11), allowedIps: ["10.0.0.2/32"] }],
      routes: [],
      forward: true,
      masquerade: true,
    }],
    forwarding: { ipv4: true, ipv6: false },
  };
  const r = await engine.reconcileOnce(desired);
  assert.ok(r.ok, r.error?.message ?? "");
  assert.ok(fs.files.has(requestPath(DIR, "wg0")));
  assert.ok(!host.commands.some((c) => c.startsWith("wireguard-go")), host.commands.join("\n"));
  assert.ok(
    log.lines.some((l) => l.includes("[#] request wireguard-go wg0 from wirebuddy-wireguard-go.service")),
  );
  assert.ok(host.peer("wg0", key(11)));
  const down = await engine.reconcileOnce({ interfaces: [], forwarding: desired.forwarding });
  assert.ok(down.ok, down.error?.message ?? "");
  assert.ok(!fs.files.has(requestPath(DIR, "wg0")), "the request is withdrawn");
  assert.ok(!host.links.has("wg0"));
});

Deno.test("engine with a supervisor that does not answer: a clear error within the deadline", async () => {
  const host = new FakeHost();
  const fs = new MemFs(); // nobody reads the request
  const clock = new FakeClock();
  const log = memoryLogger();
  const engine = createEngine({
    exec: host,
    fs,
    log,
    wireguardGo: supervisedWireguardGo({ fs, exec: host, clock, log }, DIR, 1_000),
  }, { statePath: "/s.json", wgImpl: "userspace" });
  const pending = engine.reconcileOnce({
    interfaces: [{
      name: "wg0",
      privateKey: key(1),
      addresses: ["10.0.0.1/24"],
      peers: [],
      routes: [],
      forward: true,
      masquerade: true,
    }],
    forwarding: { ipv4: false, ipv6: false },
  });
  for (let i = 0; i < 20 && clock.pendingSleeps === 0; i++) await new Promise((r) => setTimeout(r, 1));
  while (clock.pendingSleeps > 0) await tick(clock, 100);
  const r = await pending;
  assert.equal(r.ok, false);
  assert.match(
    r.error!.message,
    /wireguard-go for wg0 did not start within 1s: is wirebuddy-wireguard-go.service running\?/,
  );
});
