// Prints the WIREBUDDY_* variables a program takes, one per line: `deno run scripts/lib/env_names.ts node`.
// scripts/dev uses it to give the master and its local node each only their own settings (both refuse a
// WIREBUDDY_* variable they do not know).
import { MASTER_ENV } from "../../src/master/config.ts";
import { NODE_ENV } from "../../src/node/config.ts";

const which = Deno.args[0];
const spec = which === "master" ? MASTER_ENV : which === "node" ? NODE_ENV : null;
if (!spec) {
  Deno.stderr.writeSync(new TextEncoder().encode("usage: env_names.ts master|node\n"));
  Deno.exit(64);
}
Deno.stdout.writeSync(new TextEncoder().encode(spec.map((v) => v.name).join("\n") + "\n"));
