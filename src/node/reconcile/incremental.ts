// The incremental path: a change planned against what the engine last observed (and has applied since)
// instead of re-reading the host. Only the peers that differ from the last desired state are planned;
// anything else that differs (an interface's key, port, addresses, routes; interfaces added or gone)
// takes the full path. Pure: the engine decides when the baseline is too old (the drift interval).
import { observedNetwork } from "../../core/cidr.ts";
import type { HostState, InterfaceSpec, PeerSpec } from "../../core/host_state.ts";
import { plan } from "./plan.ts";
import type { Observed, Ownership, Plan, Step } from "./steps.ts";

/** What the host is known to look like: the last full observe, updated by each apply since. */
export type Baseline = { desired: HostState; observed: Observed; ownership: Ownership };

/** Per interface, the desired peers that are new or changed and the public keys no longer desired. */
export type PeerDelta = Map<string, { changed: PeerSpec[]; removed: string[] }>;

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const samePeer = (a: PeerSpec, b: PeerSpec) =>
  a === b || (a.publicKey === b.publicKey && a.presharedKey === b.presharedKey &&
    a.endpoint === b.endpoint && a.persistentKeepalive === b.persistentKeepalive &&
    sameList(a.allowedIps, b.allowedIps));

const sameInterface = (a: InterfaceSpec, b: InterfaceSpec) =>
  a.name === b.name && a.privateKey === b.privateKey && a.listenPort === b.listenPort && a.mtu === b.mtu &&
  a.forward === b.forward && a.masquerade === b.masquerade && sameList(a.addresses, b.addresses) &&
  sameList(a.routes, b.routes);

function peersDelta(prev: readonly PeerSpec[], next: readonly PeerSpec[]) {
  const changed: PeerSpec[] = [];
  const removed: string[] = [];
  // The usual case: the same peers in the same order, a few of them changed.
  if (prev.length === next.length && next.every((p, i) => p.publicKey === prev[i]!.publicKey)) {
    for (let i = 0; i < next.length; i++) if (!samePeer(prev[i]!, next[i]!)) changed.push(next[i]!);
    return { changed, removed };
  }
  const before = new Map(prev.map((p) => [p.publicKey, p]));
  const after = new Map(next.map((p) => [p.publicKey, p]));
  for (const [key, p] of after) {
    const old = before.get(key);
    if (!old || !samePeer(old, p)) changed.push(p);
  }
  for (const key of before.keys()) if (!after.has(key)) removed.push(key);
  return { changed, removed };
}

/** The peer changes from `prev` to `next`, or null when anything but peers differs. */
export function peerDelta(prev: HostState, next: HostState): PeerDelta | null {
  if (prev.forwarding.ipv4 !== next.forwarding.ipv4 || prev.forwarding.ipv6 !== next.forwarding.ipv6) {
    return null;
  }
  if (prev.interfaces.length !== next.interfaces.length) return null;
  if (JSON.stringify(prev.overlaps ?? []) !== JSON.stringify(next.overlaps ?? [])) return null;
  const delta: PeerDelta = new Map();
  for (let i = 0; i < next.interfaces.length; i++) {
    const a = prev.interfaces[i]!;
    const b = next.interfaces[i]!;
    if (!sameInterface(a, b) || delta.has(b.name)) return null;
    delta.set(b.name, peersDelta(a.peers, b.peers));
  }
  return delta;
}

/**
 * The plan for `delta` against the baseline: plan() itself, run on the changed peers alone (their
 * observed state and recorded endpoints), so it is the full plan restricted to them. The endpoints
 * record is kept whole: one note-endpoints step with every desired endpoint when it changed.
 */
export function planDelta(base: Baseline, next: HostState, delta: PeerDelta): Plan {
  const wg = new Map(base.observed.wg);
  const interfaces: Ownership["interfaces"] = { ...base.ownership.interfaces };
  const endpointSteps: Step[] = [];
  for (const [name, { changed, removed }] of delta) {
    const device = base.observed.wg.get(name);
    const owned = base.ownership.interfaces[name];
    const keys = [...changed.map((p) => p.publicKey), ...removed];
    if (device) {
      const peers = new Map();
      for (const key of keys) {
        const peer = device.peers.get(key);
        if (peer) peers.set(key, peer);
      }
      wg.set(name, { ...device, peers });
    }
    if (owned) {
      const endpoints: Record<string, string> = {};
      for (const key of keys) if (owned.endpoints[key] !== undefined) endpoints[key] = owned.endpoints[key]!;
      interfaces[name] = { ...owned, endpoints };
      const whole = { ...owned.endpoints };
      for (const key of keys) delete whole[key];
      for (const p of changed) if (p.endpoint !== undefined) whole[p.publicKey] = p.endpoint;
      const before = Object.keys(owned.endpoints);
      if (
        before.length !== Object.keys(whole).length || before.some((k) => owned.endpoints[k] !== whole[k])
      ) endpointSteps.push({ kind: "note-endpoints", iface: name, endpoints: whole });
    }
  }
  const narrowed: HostState = {
    ...next,
    interfaces: next.interfaces.map((spec) => ({ ...spec, peers: delta.get(spec.name)?.changed ?? [] })),
  };
  const p = plan(narrowed, { ...base.observed, wg }, { ...base.ownership, interfaces });
  return {
    steps: [...p.steps.filter((s) => s.kind !== "note-endpoints"), ...endpointSteps],
    warnings: p.warnings,
  };
}

/** After the delta's steps all ran: the baseline now describes `next`. */
export function advance(base: Baseline, next: HostState, delta: PeerDelta, steps: readonly Step[]): void {
  const endpointSet = new Set<string>();
  for (const s of steps) {
    if (s.kind === "peer-set" && s.fields.endpoint !== undefined) endpointSet.add(s.publicKey);
    if (s.kind === "wg-addconf") { for (const p of s.peers) if (p.endpoint) endpointSet.add(p.publicKey); }
  }
  for (const [name, { changed, removed }] of delta) {
    const device = base.observed.wg.get(name);
    if (!device) continue;
    for (const key of removed) device.peers.delete(key);
    for (const p of changed) {
      const current = device.peers.get(p.publicKey);
      device.peers.set(p.publicKey, {
        publicKey: p.publicKey,
        presharedKey: p.presharedKey ?? null,
        endpoint: endpointSet.has(p.publicKey) ? p.endpoint ?? null : current?.endpoint ?? null,
        allowedIps: [...new Set(p.allowedIps.map(observedNetwork))],
        latestHandshake: current?.latestHandshake ?? 0,
        rxBytes: current?.rxBytes ?? 0,
        txBytes: current?.txBytes ?? 0,
        persistentKeepalive: p.persistentKeepalive ?? 0,
      });
    }
  }
  base.desired = next;
}
