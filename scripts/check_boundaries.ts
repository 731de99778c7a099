// deno-lint-ignore-file no-console
// Checks the import boundaries of STYLE.md: core imports nothing from master, node or ui; master and
// node never import each other; views never touch the DB; Deno.* only in main.ts files and the real
// implementations of ports (src/core/ports/real.ts). Prints every violation; exits 1 if any.
const violations: string[] = [];

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (/\.(ts|tsx)$/.test(entry.name)) yield path;
  }
}

const rules: { from: RegExp; forbid: RegExp; why: string }[] = [
  {
    from: /^src\/core\//,
    forbid: /\/(master|node)\/|\/ui\//,
    why: "core imports nothing from master, node or ui",
  },
  { from: /^src\/master\//, forbid: /\/node\//, why: "master never imports node" },
  { from: /^src\/node\//, forbid: /\/master\/|\/ui\//, why: "node never imports master or ui" },
  { from: /^ui\//, forbid: /\/master\/(db|service)\//, why: "views never touch the DB" },
];
const DENO_ALLOWED = /(^|\/)main\.ts$|^src\/core\/ports\/real\.ts$/;

for (const root of ["src", "ui"]) {
  for await (const path of walk(root)) {
    const text = await Deno.readTextFile(path);
    const imports = [
      ...text.matchAll(/(?:import|export)[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g),
    ]
      .map((m) => m[1] ?? m[2] ?? "");
    for (const rule of rules) {
      if (!rule.from.test(path)) continue;
      for (const spec of imports) {
        if (spec.startsWith(".") && rule.forbid.test(new URL(spec, `file:///${path}`).pathname)) {
          violations.push(`${path}: imports ${spec} (${rule.why})`);
        }
      }
    }
    if (
      !DENO_ALLOWED.test(path) &&
      /(?<!["'])\bDeno\.(?!test\b|errors\b)[a-zA-Z]/.test(text.replace(/\/\/.*$/gm, ""))
    ) {
      violations.push(`${path}: uses Deno.* (only main.ts files and real port implementations may)`);
    }
  }
}

for (const v of violations) console.error(v);
if (violations.length > 0) {
  console.error(`${violations.length} import boundary violation(s)`);
  Deno.exit(1);
}
