// deno-lint-ignore-file no-console
// Writes the README's configuration tables from the programs' env declarations, so docs cannot drift.
// `deno run --allow-read --allow-write scripts/gen_env_docs.ts` rewrites; `--check` only verifies.
import { envTable, type EnvVar } from "../src/core/env.ts";
import { MASTER_ENV } from "../src/master/config.ts";

const SECTIONS: Record<string, readonly EnvVar[]> = { master: MASTER_ENV };
try {
  // The node's variables, once the node program declares them.
  const node = await import("../src/node/config.ts" + "");
  if (node.NODE_ENV) SECTIONS.node = node.NODE_ENV;
} catch {
  // no node config yet
}

const path = new URL("../README.md", import.meta.url);
const before = await Deno.readTextFile(path);
let after = before;
for (const [name, spec] of Object.entries(SECTIONS)) {
  const start = `<!-- env:${name}:start -->`;
  const end = `<!-- env:${name}:end -->`;
  const i = after.indexOf(start);
  const j = after.indexOf(end);
  if (i < 0 || j < i) {
    console.error(`README.md has no ${start} ... ${end} section`);
    Deno.exit(1);
  }
  after = after.slice(0, i + start.length) + "\n" + envTable(spec) + "\n" + after.slice(j);
}
if (Deno.args.includes("--check")) {
  if (after !== before) {
    console.error(
      "README.md's configuration tables are out of date: run deno run -A scripts/gen_env_docs.ts",
    );
    Deno.exit(1);
  }
} else if (after !== before) {
  await Deno.writeTextFile(path, after);
}
