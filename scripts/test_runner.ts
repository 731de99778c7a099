// deno-lint-ignore-file no-console
// The test driver behind scripts/test: runs each suite with its own permissions, reads the JUnit
// report deno writes, and prints one closing line "N passed, N failed" that CI reads.
//
// Suites:
//   check        deno task check (fmt, lint, types, import boundaries), counted as one test
//   unit         test/unit, with no permissions at all: a unit test that touches the machine fails
//   integration  test/integration (real SQLite files, processes, network namespaces; root for netns)
//   e2e          test/e2e (whole programs, Chromium)
import { parseArgs } from "node:util";

type Suite = { name: string; args: string[]; dirs: string[] };

const SUITES: Suite[] = [
  { name: "unit", args: ["--no-prompt", "--parallel"], dirs: ["test/unit"] },
  { name: "integration", args: ["--allow-all"], dirs: ["test/integration"] },
  { name: "e2e", args: ["--allow-all"], dirs: ["test/e2e"] },
];

type Counts = { passed: number; failed: number; skipped: number };

function countJunit(xml: string): Counts {
  const head = xml.match(/<testsuites\b[^>]*>/)?.[0] ?? "";
  const attr = (name: string) => Number(head.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
  const tests = attr("tests");
  const failed = attr("failures") + attr("errors");
  const skipped = attr("ignored");
  return { passed: tests - failed - skipped, failed, skipped };
}

async function hasTests(dir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith("_test.ts")) return true;
      if (entry.isDirectory && await hasTests(`${dir}/${entry.name}`)) return true;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  return false;
}

async function run(cmd: string, args: string[]): Promise<number> {
  const child = new Deno.Command(cmd, { args, stdin: "null" }).spawn();
  return (await child.status).code;
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { filter: { type: "string" } },
  allowPositionals: true,
});
const wanted = positionals.length > 0 ? new Set(positionals) : null;
const deno = Deno.execPath();
const total: Counts = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];
const reportDir = await Deno.makeTempDir({ prefix: "wirebuddy-junit-" });

try {
  if (!wanted || wanted.has("check")) {
    console.log("== check: deno task check");
    const code = await run(deno, ["task", "--quiet", "check"]);
    if (code === 0) total.passed++;
    else (total.failed++, failures.push("check"));
  }
  for (const suite of SUITES) {
    if (wanted && !wanted.has(suite.name)) continue;
    const dirs = [];
    for (const dir of suite.dirs) if (await hasTests(dir)) dirs.push(dir);
    if (dirs.length === 0) continue;
    console.log(`== ${suite.name}: ${dirs.join(" ")}`);
    const junit = `${reportDir}/${suite.name}.xml`;
    const filter = values.filter ? ["--filter", values.filter] : [];
    const code = await run(deno, ["test", ...suite.args, ...filter, `--junit-path=${junit}`, ...dirs]);
    let counts: Counts;
    try {
      counts = countJunit(await Deno.readTextFile(junit));
    } catch {
      counts = { passed: 0, failed: 1, skipped: 0 }; // deno test died before writing a report
    }
    if (code !== 0 && counts.failed === 0) counts.failed = 1; // e.g. a type error in a test file
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    if (counts.failed > 0) failures.push(suite.name);
  }
} finally {
  await Deno.remove(reportDir, { recursive: true });
}

if (failures.length > 0) console.log(`failed suites: ${failures.join(", ")}`);
const skipped = total.skipped > 0 ? `, ${total.skipped} skipped` : "";
console.log(`${total.passed} passed, ${total.failed} failed${skipped}`);
Deno.exit(total.failed > 0 ? 1 : 0);
