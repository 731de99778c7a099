// Writes test/fixtures/db/schema_vN.sql: a master database as the migrations of git revision REV made it
// (default: the commit before the last change to migrations.ts, i.e. the previous schema), with a fleet in it: the local node
// and a remote one, an interface, peers with sealed keys, traffic samples, a webhook, audit entries.
// Sealed values use the unit tests' secret key (test/support/master.ts: TEST_SECRET), so the upgrade test
// can open them after migrating.
//
//   deno run --allow-read --allow-write --allow-run scripts/gen_db_fixture.ts [REV]
import { DatabaseSync } from "node:sqlite";
import { deriveSealKey, KEY_CHECK_PLAINTEXT, seal } from "../src/core/seal.ts";
import { generateKeyPair, generatePresharedKey } from "../src/core/wg_keys.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop";
async function git(...args: string[]): Promise<Uint8Array> {
  const r = await new Deno.Command("git", { args, cwd: ROOT }).output();
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return r.stdout;
}
const lastChange = new TextDecoder().decode(
  await git("log", "-1", "--format=%H", "--", "src/master/db/migrations.ts", "src/master/db/migrations"),
)
  .trim();
const rev = Deno.args[0] ?? `${lastChange.slice(0, 12)}~`;

// The migrations as they were at REV: one file then, a file per migration since (listed by migrations.ts).
const tmp = `${ROOT}scripts/.migrations-${crypto.randomUUID()}`;
const paths = new TextDecoder().decode(
  await git(
    "ls-tree",
    "-r",
    "--name-only",
    rev,
    "--",
    "src/master/db/migrations.ts",
    "src/master/db/migrations",
  ),
).split("\n").filter((p) => p.endsWith(".ts"));
let migrations: { version: number; name: string; sql: string }[];
try {
  for (const path of paths) {
    const to = `${tmp}/${path.slice("src/master/db/".length)}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(to, await git("show", `${rev}:${path}`));
  }
  migrations = (await import(`${tmp}/migrations.ts`)).MIGRATIONS;
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
const schema = migrations[migrations.length - 1]!.version;

const db = new DatabaseSync(":memory:");
db.exec("PRAGMA foreign_keys = ON");
db.exec(
  "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
);
const T0 = Date.UTC(2026, 10, 1);
for (const m of migrations) {
  db.exec(m.sql);
  db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, T0);
}

const key = await deriveSealKey(TEST_SECRET);
const q = (sql: string, ...args: (string | number | null)[]) => db.prepare(sql).run(...args);
q("INSERT INTO meta (key, value) VALUES ('key_check', ?)", await seal(key, KEY_CHECK_PLAINTEXT, "key_check"));
const wg0 = await generateKeyPair();
q(
  `INSERT INTO interfaces (id, name, address4, listen_port, dns, private_key_sealed, public_key, created_at, updated_at)
   VALUES (1, 'wg0', '10.13.13.1/24', 51820, '', ?, ?, ?, ?)`,
  await seal(key, wg0.privateKey, "interface:wg0"),
  wg0.publicKey,
  T0,
  T0,
);
q(
  `INSERT INTO nodes (id, name, fqdn, wg_port, created_at, updated_at, is_local, status, config_version)
   VALUES (1, 'local', 'localhost', 51820, ?, ?, 1, 'online', 4)`,
  T0,
  T0,
);
q(
  `INSERT INTO nodes (id, name, fqdn, wg_port, created_at, updated_at, status, config_version, node_secret_hash,
     verify_key, enrolled_at, last_seen_at)
   VALUES (2, 'tokyo', 'tokyo.example.com', 51820, ?, ?, 'online', 7, ?, 'MFkw-fixture', ?, ?)`,
  T0,
  T0,
  "ab".repeat(32),
  T0,
  T0,
);
q(
  "INSERT INTO node_interfaces (node_id, interface_id, address4, public_key) VALUES (2, 1, '10.13.13.2', ?)",
  (await generateKeyPair()).publicKey,
);
const peers: { id: number; name: string; node: number | null; ip: string }[] = [
  { id: 1, name: "alice", node: null, ip: "10.13.13.10" },
  { id: 2, name: "bob", node: 2, ip: "10.13.13.11" },
];
for (const p of peers) {
  const k = await generateKeyPair();
  q(
    `INSERT INTO peers (id, interface_id, node_id, name, public_key, private_key_sealed, psk_sealed, ipv4, routing,
       created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, 'full', ?, ?)`,
    p.id,
    p.node,
    p.name,
    k.publicKey,
    await seal(key, k.privateKey, `peer:${k.publicKey}:private`),
    await seal(key, generatePresharedKey(), `peer:${k.publicKey}:psk`),
    p.ip,
    T0,
    T0,
  );
  for (let i = 0; i < 12; i++) {
    q(
      "INSERT INTO peer_metrics (public_key, resolution, at, node_id, rx, tx, handshake, endpoint) VALUES (?, 0, ?, ?, ?, ?, ?, NULL)",
      k.publicKey,
      T0 + i * 60_000,
      p.node,
      1000 * i,
      2000 * i,
      T0 + i * 60_000,
    );
  }
}
q(
  "INSERT INTO webhooks (name, url, secret_sealed, created_at, updated_at) VALUES ('ops', 'https://hooks.example.com/wb', ?, ?, ?)",
  await seal(key, "fixture-webhook-secret", "webhook:secret"),
  T0,
  T0,
);
q("INSERT INTO audit_log (at, actor, action, target) VALUES (?, 'admin', 'peer.create', 'alice')", T0);

/** SQL text that recreates the database: schema in creation order, then every row. */
function dump(): string {
  const lines = [
    "-- Generated by scripts/gen_db_fixture.ts from " + rev + "'s migrations (schema v" + schema + ").",
    "PRAGMA foreign_keys = OFF;",
  ];
  const objects = db.prepare(
    "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
  ).all() as { type: string; name: string; sql: string }[];
  for (const o of objects) lines.push(`${o.sql};`);
  const lit = (v: unknown) =>
    v === null
      ? "NULL"
      : typeof v === "number" || typeof v === "bigint"
      ? String(v)
      : `'${String(v).replaceAll("'", "''")}'`;
  for (const o of objects.filter((o) => o.type === "table")) {
    for (const row of db.prepare(`SELECT * FROM "${o.name}"`).all() as Record<string, unknown>[]) {
      lines.push(
        `INSERT INTO "${o.name}" (${Object.keys(row).map((c) => `"${c}"`).join(", ")}) VALUES (${
          Object.values(row).map(lit).join(", ")
        });`,
      );
    }
  }
  lines.push("PRAGMA foreign_keys = ON;", "");
  return lines.join("\n");
}

const out = `${ROOT}test/fixtures/db/schema_v${schema}.sql`;
await Deno.mkdir(`${ROOT}test/fixtures/db`, { recursive: true });
await Deno.writeTextFile(out, dump());
// deno-lint-ignore no-console
console.log(`wrote ${out} (schema v${schema})`);
