// The import boundary rules of scripts/check_boundaries.ts as a table: import graphs (file → the
// specifiers it imports) and the violations they must give.
import assert from "node:assert/strict";
import { checkImports, checkSources, importsOf, resolveImport } from "../../../scripts/lib/boundaries.ts";

type Row = { name: string; graph: Record<string, string[]>; violations: string[] };

const ROWS: Row[] = [
  {
    name: "a clean graph passes",
    graph: {
      "src/core/cidr.ts": [],
      "src/core/sync.ts": ["./cidr.ts", "zod"],
      "src/master/db/nodes_repo.ts": ["../../core/sync.ts"],
      "src/master/service/nodes.ts": ["../db/nodes_repo.ts", "../../core/cidr.ts"],
      "src/master/http/api_routes.ts": ["../service/nodes.ts", "hono"],
      "src/master/app.ts": ["./http/api_routes.ts", "../../ui/views/nodes.tsx"],
      "src/node/drivers/ip.ts": ["../../core/cidr.ts"],
      "src/node/reconcile/plan.ts": ["../drivers/ip.ts", "../../core/cidr.ts"],
      "ui/views/nodes.tsx": ["./layout.tsx", "../../src/core/cidr.ts"],
      "ui/views/layout.tsx": ["hono/jsx"],
    },
    violations: [],
  },
  {
    name: "http importing db is flagged",
    graph: {
      "src/master/http/wg_ui.tsx": ["../service/wireguard.ts", "../db/wg_repo.ts"],
      "src/master/service/wireguard.ts": ["../db/wg_repo.ts"],
      "src/master/db/wg_repo.ts": [],
    },
    violations: [
      "src/master/http/wg_ui.tsx: imports ../db/wg_repo.ts (HTTP never touches the database; go through a service)",
    ],
  },
  {
    name: "a side-effect import of db from a nested http file is flagged too",
    graph: { "src/master/http/api/peers.ts": ["../../db/db.ts"], "src/master/db/db.ts": [] },
    violations: [
      "src/master/http/api/peers.ts: imports ../../db/db.ts (HTTP never touches the database; go through a service)",
    ],
  },
  {
    name: "drivers importing reconcile are flagged",
    graph: {
      "src/node/drivers/wg.ts": ["../reconcile/cidr.ts"],
      "src/node/reconcile/cidr.ts": [],
    },
    violations: [
      "src/node/drivers/wg.ts: imports ../reconcile/cidr.ts (drivers never import the reconciler)",
    ],
  },
  {
    name: "a 2-cycle is flagged once, as a path back to where it started",
    graph: {
      "src/master/http/ui_routes.tsx": ["./nodes_ui.tsx"],
      "src/master/http/nodes_ui.tsx": ["./ui_routes.tsx"],
    },
    violations: [
      "src/master/http/nodes_ui.tsx: imports ./ui_routes.tsx, a cycle: src/master/http/nodes_ui.tsx → src/master/http/ui_routes.tsx → src/master/http/nodes_ui.tsx (no import cycles)",
    ],
  },
  {
    name: "a 3-cycle across directories is flagged once",
    graph: {
      "ui/views/a.tsx": ["./b.tsx"],
      "ui/views/b.tsx": ["../parts/c.tsx", "./d.tsx"],
      "ui/parts/c.tsx": ["../views/a.tsx"],
      "ui/views/d.tsx": [],
    },
    violations: [
      "ui/parts/c.tsx: imports ../views/a.tsx, a cycle: ui/parts/c.tsx → ui/views/a.tsx → ui/views/b.tsx → ui/parts/c.tsx (no import cycles)",
    ],
  },
  {
    name: "a file importing itself is a cycle",
    graph: { "src/core/x.ts": ["./x.ts"] },
    violations: ["src/core/x.ts: imports ./x.ts, a cycle: src/core/x.ts → src/core/x.ts (no import cycles)"],
  },
  {
    name: "two cycles through one file are both reported",
    graph: {
      "src/node/a.ts": ["./b.ts", "./c.ts"],
      "src/node/b.ts": ["./a.ts"],
      "src/node/c.ts": ["./a.ts"],
    },
    violations: [
      "src/node/a.ts: imports ./b.ts, a cycle: src/node/a.ts → src/node/b.ts → src/node/a.ts (no import cycles)",
      "src/node/a.ts: imports ./c.ts, a cycle: src/node/a.ts → src/node/c.ts → src/node/a.ts (no import cycles)",
    ],
  },
  {
    name: "the earlier rules still hold",
    graph: {
      "src/core/log.ts": ["../master/app.ts", "../../ui/views/x.tsx"],
      "src/master/app.ts": ["../node/agent.ts"],
      "src/node/agent.ts": ["../master/db/db.ts", "../../ui/views/x.tsx"],
      "ui/views/x.tsx": ["../../src/master/db/db.ts", "../../src/master/service/nodes.ts"],
    },
    violations: [
      "src/core/log.ts: imports ../master/app.ts (core imports nothing from master, node or ui)",
      "src/core/log.ts: imports ../../ui/views/x.tsx (core imports nothing from master, node or ui)",
      "src/master/app.ts: imports ../node/agent.ts (master never imports node)",
      "src/node/agent.ts: imports ../master/db/db.ts (node never imports master or ui)",
      "src/node/agent.ts: imports ../../ui/views/x.tsx (node never imports master or ui)",
      "ui/views/x.tsx: imports ../../src/master/db/db.ts (views never touch the DB)",
      "ui/views/x.tsx: imports ../../src/master/service/nodes.ts (views never touch the DB)",
    ],
  },
];

for (const row of ROWS) {
  Deno.test(`checkImports(): ${row.name}`, () => {
    assert.deepEqual(checkImports(new Map(Object.entries(row.graph))), row.violations);
  });
}

Deno.test("importsOf() finds static, multi-line, type-only, side-effect, re-export and dynamic imports", () => {
  const text = `// import { no } from "./commented.ts";
import { a,
  b } from "./a.ts";
import type { T } from "../t.ts";
import "../db/db.ts";
import 'reflect-metadata';
export * from "./re.ts";
export { x } from "./x.ts";
export const s = "import nothing from './string.ts'";
const lazy = await import("./lazy.ts");
`;
  assert.deepEqual(importsOf(text), [
    "./a.ts",
    "../t.ts",
    "../db/db.ts",
    "reflect-metadata",
    "./re.ts",
    "./x.ts",
    "./lazy.ts",
  ]);
});

Deno.test("resolveImport() gives root-relative paths and leaves package imports alone", () => {
  assert.equal(resolveImport("src/master/http/wg_ui.tsx", "../db/wg_repo.ts"), "src/master/db/wg_repo.ts");
  assert.equal(resolveImport("ui/views/nodes.tsx", "./layout.tsx"), "ui/views/layout.tsx");
  assert.equal(resolveImport("ui/views/nodes.tsx", "../../src/core/cidr.ts"), "src/core/cidr.ts");
  assert.equal(resolveImport("src/master/app.ts", "hono"), null);
  assert.equal(resolveImport("src/master/app.ts", "node:crypto"), null);
});

Deno.test("checkSources() reads imports from the text and allows Deno.* only in main.ts and real ports", () => {
  const files = new Map([
    ["src/master/http/peers.ts", `import "../db/db.ts";\nexport const t = Deno.readTextFile;\n`],
    ["src/master/db/db.ts", `export const x = 1; // Deno.exit() in a comment is fine\n`],
    ["src/master/main.ts", `Deno.exit(0);\n`],
    ["src/core/ports/real.ts", `export const now = () => Deno.env.get("X");\n`],
  ]);
  assert.deepEqual(checkSources(files), [
    "src/master/http/peers.ts: imports ../db/db.ts (HTTP never touches the database; go through a service)",
    "src/master/http/peers.ts: uses Deno.* (only main.ts files and real port implementations may)",
  ]);
});
