// A tiny command-line wrapper around the engine, so tests can run it as a separate process and kill it
// at any point: deno run -A test/support/engine_cli.ts --enter '["nsenter","-t","PID","-m","-n","--"]'
//   --state PATH --desired PATH [--impl auto|kernel|userspace] [--wireguard-go-dir DIR]
// (--wireguard-go-dir: ask the wireguard-go supervisor watching DIR instead of starting wireguard-go)
// Logs go to stderr (one line each, `[#] …` for every command); the result is printed as JSON on stdout.
import { parseArgs } from "node:util";
import { HostStateSchema } from "../../src/core/host_state.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Exec } from "../../src/core/ports/types.ts";
import { realClock, realExec, realFs, stderrSink } from "../../src/core/ports/real.ts";
import { supervisedWireguardGo } from "../../src/node/reconcile/userspace.ts";
import { createEngine } from "../../src/node/reconcile/engine.ts";
import type { WgImpl } from "../../src/node/reconcile/steps.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    enter: { type: "string", default: "[]" },
    state: { type: "string" },
    desired: { type: "string" },
    impl: { type: "string", default: "auto" },
    "wireguard-go-dir": { type: "string" },
  },
});
if (!values.state || !values.desired) throw new Error("--state and --desired are required");
const prefix = JSON.parse(values.enter) as string[];
const exec: Exec = { run: (argv, options) => realExec.run([...prefix, ...argv], options) };
const desired = HostStateSchema.parse(JSON.parse(await Deno.readTextFile(values.desired)));
const log = createLogger({ sink: stderrSink, format: "journald", level: "info" });
const dir = values["wireguard-go-dir"];
const engine = createEngine(
  {
    exec,
    fs: realFs,
    log,
    ...(dir ? { wireguardGo: supervisedWireguardGo({ fs: realFs, exec, clock: realClock, log }, dir) } : {}),
  },
  { statePath: values.state, wgImpl: values.impl as WgImpl },
);
const result = await engine.reconcileOnce(desired);
const { error, ...rest } = result;
// deno-lint-ignore no-console
console.log(JSON.stringify({ ...rest, error: error?.message }));
Deno.exit(result.ok ? 0 : 1);
