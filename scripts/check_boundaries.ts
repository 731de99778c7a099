// deno-lint-ignore-file no-console
// Checks the import boundaries of STYLE.md: core imports nothing from master, node or ui; master and
// node never import each other; views never touch the DB; master's HTTP layer never imports its db;
// node drivers never import the reconciler; no import cycles in src/ and ui/; Deno.* only in main.ts
// files and the real implementations of ports (src/core/ports/real.ts). The rules live in
// scripts/lib/boundaries.ts. Prints every violation; exits 1 if any.
//
//   deno run --allow-read scripts/check_boundaries.ts [ROOT]    (ROOT: the tree to check, default ".")
import { checkSources } from "./lib/boundaries.ts";

const root = (Deno.args[0] ?? ".").replace(/\/+$/, "");

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (/\.(ts|tsx)$/.test(entry.name)) yield path;
  }
}

const files = new Map<string, string>();
for (const dir of ["src", "ui"]) {
  for await (const path of walk(dir)) files.set(path, await Deno.readTextFile(`${root}/${path}`));
}

const violations = checkSources(files);
for (const v of violations) console.error(v);
if (violations.length > 0) {
  console.error(`${violations.length} import boundary violation(s)`);
  Deno.exit(1);
}
