// Delta sync: what changed between two of a node's configs, in ops proportional to the change (a peer
// added, changed or removed; an interface's settings; a top-level section), and the node's side that
// applies them to the config it holds. The master sends one when the node asks for deltas and holds
// the version the node has (`from`); else the full config. A delta travels in the same proven answer
// as a config (session MAC or signature), and the node checks `from` is exactly what it applied.
import { z } from "zod";
import {
  type NodeConfig,
  NodeConfigSchema,
  type NodeInterfaceConfig,
  NodeInterfaceConfigSchema,
} from "./sync.ts";

type Peer = NodeInterfaceConfig["peers"][number];
const PeerSchema = NodeInterfaceConfigSchema.shape.peers.element;
/** An interface's settings: everything but its peers. */
const HeaderSchema = NodeInterfaceConfigSchema.omit({ peers: true });

export const ConfigDeltaSchema = z.object({
  kind: z.literal("delta"),
  node_id: z.number().int().positive(),
  from: z.number().int().nonnegative(),
  config_version: z.number().int().nonnegative(),
  issued_at: z.number().int(),
  /** The interfaces' names in their new order (what is not named is removed). */
  order: NodeConfigSchema.shape.interfaces.element.shape.name.array().max(1024),
  /** Interfaces whose settings changed or that are new (a new one lists all its peers in `peers`). */
  headers: z.array(HeaderSchema).max(1024),
  /** Per interface: peers added or changed (whole), and the public keys of peers removed. */
  peers: z.record(z.string(), z.object({ upsert: z.array(PeerSchema), remove: z.array(z.string().max(64)) })),
  /** Other top-level sections (e.g. `dns`) that changed: their new value (null removes it). */
  sections: z.record(z.string(), z.unknown()),
});
export type ConfigDelta = z.infer<typeof ConfigDeltaSchema>;

const FIXED = new Set(["node_id", "config_version", "issued_at", "interfaces"]);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const headerOf = ({ peers: _, ...h }: NodeInterfaceConfig) => h;

/** The ops that turn `from` into `to` (both configs of one node). */
export function diffConfigs(from: NodeConfig, to: NodeConfig): ConfigDelta {
  const old = new Map(from.interfaces.map((i) => [i.name, i]));
  const headers: ConfigDelta["headers"] = [];
  const peers: ConfigDelta["peers"] = {};
  for (const iface of to.interfaces) {
    const was = old.get(iface.name);
    if (!was || !same(headerOf(was), headerOf(iface))) headers.push(headerOf(iface));
    const before = new Map((was?.peers ?? []).map((p) => [p.public_key, p]));
    const upsert: Peer[] = [];
    for (const p of iface.peers) {
      const b = before.get(p.public_key);
      before.delete(p.public_key);
      if (!b || !same(b, p)) upsert.push(p);
    }
    const remove = [...before.keys()];
    if (upsert.length > 0 || remove.length > 0) peers[iface.name] = { upsert, remove };
  }
  const sections: Record<string, unknown> = {};
  const a = from as Record<string, unknown>;
  const b = to as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!FIXED.has(k) && !same(a[k] ?? null, b[k] ?? null)) sections[k] = b[k] ?? null;
  }
  return {
    kind: "delta",
    node_id: to.node_id,
    from: from.config_version,
    config_version: to.config_version,
    issued_at: to.issued_at,
    order: to.interfaces.map((i) => i.name),
    headers,
    peers,
    sections,
  };
}

/**
 * The config a delta makes of the one the node holds; null when the delta is not for it (another node,
 * another starting version) or names an interface it cannot build: the node then asks for a full config.
 */
export function applyDelta(held: NodeConfig, d: ConfigDelta): NodeConfig | null {
  if (d.node_id !== held.node_id || d.from !== held.config_version) return null;
  const old = new Map(held.interfaces.map((i) => [i.name, i]));
  const headers = new Map(d.headers.map((h) => [h.name, h]));
  const interfaces: NodeInterfaceConfig[] = [];
  for (const name of d.order) {
    const was = old.get(name);
    const header = headers.get(name) ?? (was ? headerOf(was) : null);
    if (!header) return null;
    const ops = d.peers[name];
    let list = was?.peers ?? [];
    if (ops) {
      const gone = new Set([...ops.remove, ...ops.upsert.map((p) => p.public_key)]);
      list = [...list.filter((p) => !gone.has(p.public_key)), ...ops.upsert];
    }
    interfaces.push({ ...header, peers: list });
  }
  const next: Record<string, unknown> = {
    ...held,
    node_id: d.node_id,
    config_version: d.config_version,
    issued_at: d.issued_at,
    interfaces,
  };
  for (const [k, v] of Object.entries(d.sections)) {
    if (FIXED.has(k)) return null;
    if (v === null) delete next[k];
    else next[k] = v;
  }
  const parsed = NodeConfigSchema.safeParse(next);
  return parsed.success ? parsed.data : null;
}
