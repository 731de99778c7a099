// iptables / ip6tables: argv for save and restore, and a parser for `iptables-save` output. We only ever
// write through `iptables-restore --noflush`, so each change to our chains is one atomic transaction and
// chains we do not own are never flushed.

export type Family = 4 | 6;

export type SavedChain = { name: string; policy: string };
/** `spec` is the rule as iptables-save prints it after `-A CHAIN `, e.g. `-i wg0 -j ACCEPT`. */
export type SavedRule = { chain: string; spec: string };
export type SavedTable = { chains: Map<string, SavedChain>; rules: SavedRule[] };
export type SavedTables = Map<string, SavedTable>;

export const iptablesArgv = {
  save: (family: Family) => [family === 4 ? "iptables-save" : "ip6tables-save"],
  restoreNoflush: (family: Family) => [family === 4 ? "iptables-restore" : "ip6tables-restore", "--noflush"],
};

/** Parses iptables-save output. A table that has never been used is absent (an empty ruleset is valid). */
export function parseIptablesSave(text: string): SavedTables {
  const tables: SavedTables = new Map();
  let current: SavedTable | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      current = { chains: new Map(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (line === "COMMIT") {
      current = null;
    } else if (!current) {
      throw new Error(`Cannot parse iptables-save: ${JSON.stringify(line)} outside a table`);
    } else if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(/\s+/);
      current.chains.set(name, { name, policy });
    } else if (line.startsWith("-A ")) {
      const m = line.match(/^-A (\S+)(?: (.*))?$/)!;
      current.rules.push({ chain: m[1]!, spec: m[2] ?? "" });
    } else {
      throw new Error(`Cannot parse iptables-save: unexpected line ${JSON.stringify(line)}`);
    }
  }
  return tables;
}

/** The rules of one chain, in order. */
export function chainRules(tables: SavedTables, table: string, chain: string): string[] {
  return (tables.get(table)?.rules ?? []).filter((r) => r.chain === chain).map((r) => r.spec);
}

export function hasChain(tables: SavedTables, table: string, chain: string): boolean {
  return tables.get(table)?.chains.has(chain) ?? false;
}
