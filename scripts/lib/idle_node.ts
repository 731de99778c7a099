// deno-lint-ignore-file no-console
// The idle node whose memory scripts/bench-apply measures: the node daemon's code loaded (src/node/agent.ts
// and what it imports, as src/node/main.ts has it; not run: there is no master), and its reconcile engine
// holding a converged interface of 10,000 peers, ticking every second like the reconcile loop (incremental
// no-op ticks between full observes). Prints one JSON line per tick; ended by SIGTERM from the bench.
//   idle_node.ts --enter '["nsenter", ...]' --state FILE --desired FILE --sockets DIR
import { parseArgs } from "node:util";
import { HostStateSchema } from "../../src/core/host_state.ts";
import { memoryLogger } from "../../src/core/logger.ts";
import type { Exec } from "../../src/core/ports/types.ts";
import { realExec, realFs, realUnixRequest } from "../../src/core/ports/real.ts";
import { createEngine } from "../../src/node/reconcile/engine.ts";
import { socketUapi } from "../../src/node/drivers/uapi.ts";
import "../../src/node/agent.ts";
import "node:tls";

const DRIFT_MS = 60_000;
const args = parseArgs({
  options: {
    enter: { type: "string", default: "[]" },
    state: { type: "string" },
    desired: { type: "string" },
    sockets: { type: "string" },
  },
}).values;
const prefix = JSON.parse(args.enter!) as string[];
const exec: Exec = { run: (argv, options) => realExec.run([...prefix, ...argv], options) };
const desired = HostStateSchema.parse(JSON.parse(await Deno.readTextFile(args.desired!)));
await Deno.remove(args.desired!);
const engine = createEngine(
  { exec, fs: realFs, log: memoryLogger("warn"), uapi: socketUapi(realUnixRequest, args.sockets) },
  { statePath: args.state!, wgImpl: "auto", driftIntervalMs: DRIFT_MS },
);
for (let tick = 0;; tick++) {
  const t = performance.now();
  const r = await engine.reconcileOnce(desired);
  const ms = performance.now() - t;
  if (!r.ok) throw r.error;
  const m = Deno.memoryUsage();
  const mb = (n: number) => Math.round(n / 1e5) / 10;
  console.log(JSON.stringify({
    commands: r.commands,
    observed: r.observed,
    // The first tick observes all peers and plans them (a full tick): what V8 flags cost in CPU.
    ...(tick === 0 ? { fullTickMs: Math.round(ms) } : {}),
    heapUsedMb: mb(m.heapUsed),
    heapTotalMb: mb(m.heapTotal),
    externalMb: mb(m.external),
  }));
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
