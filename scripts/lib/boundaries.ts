// The import boundaries of STYLE.md as pure functions over source texts, so scripts/check_boundaries.ts
// only reads files and prints, and the rules themselves have a unit test. Paths are relative to the
// repository root, with forward slashes: `src/master/http/api_routes.ts`.

/** A layer rule: files matching `from` may not import (relatively) a file matching `forbid`. */
export type Rule = { from: RegExp; forbid: RegExp; why: string };

export const RULES: readonly Rule[] = [
  {
    from: /^src\/core\//,
    forbid: /^(src\/(master|node)|ui)\//,
    why: "core imports nothing from master, node or ui",
  },
  { from: /^src\/master\//, forbid: /^src\/node\//, why: "master never imports node" },
  { from: /^src\/node\//, forbid: /^(src\/master|ui)\//, why: "node never imports master or ui" },
  { from: /^ui\//, forbid: /^src\/master\/(db|service)\//, why: "views never touch the DB" },
  {
    from: /^src\/master\/http\//,
    forbid: /^src\/master\/db\//,
    why: "HTTP never touches the database; go through a service",
  },
  {
    from: /^src\/node\/drivers\//,
    forbid: /^src\/node\/reconcile\//,
    why: "drivers never import the reconciler",
  },
];

/** Files that may use `Deno.*`: main.ts files and the real implementations of the ports. */
const DENO_ALLOWED = /(^|\/)main\.ts$|^src\/core\/ports\/real\.ts$/;

/** The module specifiers a source file imports or re-exports: static, side-effect and dynamic. */
export function importsOf(text: string): string[] {
  const pattern = new RegExp(
    [
      // import x from "…", import type { y } from "…", export * from "…", over several lines
      String.raw`^[ \t]*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']`,
      // import "…"; (side effects only)
      String.raw`^[ \t]*import\s*["']([^"']+)["']`,
      // import("…")
      String.raw`\bimport\(\s*["']([^"']+)["']\s*\)`,
    ].join("|"),
    "gm",
  );
  return [...text.matchAll(pattern)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

/** `spec` as imported by the file `from`, relative to the root; null when it is not a relative import. */
export function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return null;
  const parts = from.split("/").slice(0, -1);
  for (const part of spec.split("/")) {
    if (part === "." || part === "") continue;
    if (part === ".." && parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/**
 * Layer rules and import cycles over an import graph: each file (relative to the root) with the
 * specifiers it imports. Only relative imports count; cycles only through files in the graph. Returns
 * one message per violation, each naming the file and the import.
 */
export function checkImports(graph: ReadonlyMap<string, readonly string[]>, rules = RULES): string[] {
  const violations: string[] = [];
  const edges = new Map<string, { spec: string; target: string }[]>();
  for (const [file, specs] of graph) {
    const out: { spec: string; target: string }[] = [];
    for (const spec of specs) {
      const target = resolveImport(file, spec);
      if (target === null) continue;
      for (const rule of rules) {
        if (rule.from.test(file) && rule.forbid.test(target)) {
          violations.push(`${file}: imports ${spec} (${rule.why})`);
        }
      }
      if (graph.has(target) && !out.some((e) => e.target === target)) out.push({ spec, target });
    }
    edges.set(file, out);
  }
  for (const cycle of findCycles(edges)) {
    const spec = edges.get(cycle[0]!)!.find((e) => e.target === cycle[1])!.spec;
    violations.push(`${cycle[0]}: imports ${spec}, a cycle: ${cycle.join(" → ")} (no import cycles)`);
  }
  return violations;
}

/**
 * Import cycles as paths `a, b, …, a`: for every file on a cycle, the shortest cycle through it, each
 * cycle once (so a file on two cycles can need a second run to show the other). Deterministic order.
 */
function findCycles(edges: ReadonlyMap<string, readonly { target: string }[]>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  for (const start of [...edges.keys()].sort()) {
    const path = shortestPathBack(edges, start);
    if (!path) continue;
    // The same cycle found from another of its files is the same rotation: key it by its smallest file.
    const ring = path.slice(0, -1);
    const first = ring.indexOf([...ring].sort()[0]!);
    const rotated = [...ring.slice(first), ...ring.slice(0, first)];
    const key = rotated.join("\n");
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push([...rotated, rotated[0]!]);
  }
  return cycles;
}

/** Breadth-first: the shortest path start → … → start, or null when none. */
function shortestPathBack(
  edges: ReadonlyMap<string, readonly { target: string }[]>,
  start: string,
): string[] | null {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i]!;
    for (const { target } of edges.get(file) ?? []) {
      if (target === start) {
        const path = [start];
        for (let at = file; at !== start; at = parent.get(at)!) path.unshift(at);
        path.unshift(start);
        return path;
      }
      if (parent.has(target)) continue;
      parent.set(target, file);
      queue.push(target);
    }
  }
  return null;
}

/** Every violation in a set of sources (path relative to the root → text): imports, cycles, `Deno.*`. */
export function checkSources(files: ReadonlyMap<string, string>): string[] {
  const graph = new Map([...files].map(([path, text]) => [path, importsOf(text)]));
  const violations = checkImports(graph);
  for (const [path, text] of files) {
    if (
      !DENO_ALLOWED.test(path) &&
      /(?<!["'])\bDeno\.(?!test\b|errors\b)[a-zA-Z]/.test(text.replace(/\/\/.*$/gm, ""))
    ) {
      violations.push(`${path}: uses Deno.* (only main.ts files and real port implementations may)`);
    }
  }
  return violations;
}
