// plan(): pure. From the desired host state, what the host looks like and what the state file says we
// own, the steps that bring the host to the desired state, touching nothing we do not own. Planning
// again after the steps ran gives no steps at all.
import { ipVersionOf, observedCidr, observedNetwork } from "../../core/cidr.ts";
import type { HostState, InterfaceSpec, PeerSpec } from "../../core/host_state.ts";
import { Secret } from "../../core/secret.ts";
import { chainRules, hasChain, type SavedTables } from "../drivers/iptables.ts";
import { FORWARDING_KEYS } from "../drivers/sysctl.ts";
import type { WgDevice, WgPeer } from "../drivers/wg.ts";
import {
  FWD_CHAIN,
  NAT_CHAIN,
  type NewPeer,
  type Observed,
  type Ownership,
  type PeerFields,
  type Plan,
  type Step,
} from "./steps.ts";

/** WireGuard's usual MTU (1500 minus its IPv6 overhead), used when the desired state names none. */
const DEFAULT_MTU = 1420;

const EMPTY_DEVICE: WgDevice = {
  name: "",
  privateKey: null,
  publicKey: null,
  listenPort: 0,
  peers: new Map(),
};

const sameSet = (a: readonly string[], b: readonly string[]) => {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
};
const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
const sameRecord = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

export function plan(desired: HostState, observed: Observed, ownership: Ownership): Plan {
  const steps: Step[] = [];
  const warnings: string[] = [];
  const wanted = new Map<string, InterfaceSpec>();
  for (const spec of desired.interfaces) {
    if (wanted.has(spec.name)) warnings.push(`Interface ${spec.name} is desired twice; using the first`);
    else wanted.set(spec.name, spec);
  }

  // 1. Interfaces we own that are no longer desired: delete them (their routes go with them).
  for (const name of Object.keys(ownership.interfaces).sort()) {
    if (wanted.has(name)) continue;
    if (observed.links.has(name)) steps.push({ kind: "link-delete", iface: name });
    steps.push({ kind: "forget-interface", iface: name });
  }

  // 2. Desired interfaces.
  const managed: InterfaceSpec[] = [];
  for (const spec of wanted.values()) {
    const interfaceSteps = planInterface(spec, observed, ownership, warnings);
    if (interfaceSteps === null) continue;
    managed.push(spec);
    steps.push(...interfaceSteps);
  }

  // 3. Firewall: our two chains per family, derived from the interfaces we manage.
  for (const family of [4, 6] as const) {
    const tables = observed.firewall[family];
    if (tables === null) {
      if (managed.length > 0) warnings.push(`Cannot read the IPv${family} firewall; leaving it alone`);
      continue;
    }
    const script = planFirewall(family, tables, managed, observed, warnings);
    if (script !== null) steps.push({ kind: "firewall", family, script });
  }

  // 4. Forwarding sysctls: only ever turned on. Last, so a read-only /proc/sys blocks nothing else.
  for (const family of ["ipv4", "ipv6"] as const) {
    if (!desired.forwarding[family]) continue;
    const key = FORWARDING_KEYS[family];
    const value = observed.sysctl.get(key);
    if (value === undefined) warnings.push(`Cannot read ${key}; ${family} forwarding is not checked`);
    else if (value !== "1") steps.push({ kind: "sysctl", key });
  }
  return { steps, warnings };
}

/** Steps for one desired interface, or null when a foreign, non-WireGuard device holds its name. */
function planInterface(
  spec: InterfaceSpec,
  observed: Observed,
  ownership: Ownership,
  warnings: string[],
): Step[] | null {
  const name = spec.name;
  const steps: Step[] = [];
  const owned = ownership.interfaces[name];
  let link = observed.links.get(name);
  let device = observed.wg.get(name);

  if (link && !device) {
    if (!owned) {
      warnings.push(`Interface ${name} exists and is not WireGuard; it is not ours, so it is left alone`);
      return null;
    }
    // Ours but no longer a WireGuard device (its userspace daemon died, say): make it again.
    steps.push({ kind: "link-delete", iface: name });
    link = undefined;
  }
  if (!owned) {
    if (link) warnings.push(`Adopting the existing WireGuard interface ${name}`);
    steps.push({ kind: "own-interface", iface: name });
  }
  if (!link) {
    steps.push({ kind: "link-add", iface: name });
    device = undefined;
  }
  const dev = device ?? EMPTY_DEVICE;

  // WireGuard: interface key and port, then peers as a diff.
  const setKey = dev.privateKey !== spec.privateKey;
  const setPort = spec.listenPort !== undefined && dev.listenPort !== spec.listenPort;
  const recorded = owned?.endpoints ?? {};
  const desiredPeers = new Map<string, PeerSpec>(spec.peers.map((p) => [p.publicKey, p]));
  const removals: Step[] = [];
  const changes: Step[] = [];
  const added: NewPeer[] = [];
  for (const key of dev.peers.keys()) {
    if (!desiredPeers.has(key)) removals.push({ kind: "peer-remove", iface: name, publicKey: key });
  }
  const endpoints: Record<string, string> = {};
  for (const peer of desiredPeers.values()) {
    if (peer.endpoint !== undefined) endpoints[peer.publicKey] = peer.endpoint;
    const allowedIps = unique(peer.allowedIps.map(observedNetwork));
    const current = dev.peers.get(peer.publicKey);
    if (!current) {
      added.push({
        publicKey: peer.publicKey,
        allowedIps,
        ...(peer.presharedKey ? { presharedKey: new Secret(peer.presharedKey) } : {}),
        ...(peer.endpoint ? { endpoint: peer.endpoint } : {}),
        ...(peer.persistentKeepalive ? { persistentKeepalive: peer.persistentKeepalive } : {}),
      });
      continue;
    }
    const fields = peerDiff(peer, allowedIps, current, recorded[peer.publicKey]);
    if (Object.keys(fields).length > 0) {
      changes.push({ kind: "peer-set", iface: name, publicKey: peer.publicKey, fields });
    }
  }
  steps.push(...removals);
  if (setKey || setPort || added.length > 1) {
    steps.push({
      kind: "wg-addconf",
      iface: name,
      ...(setKey ? { privateKey: new Secret(spec.privateKey) } : {}),
      ...(setPort ? { listenPort: spec.listenPort } : {}),
      peers: added,
    });
  } else if (added.length === 1) {
    const p = added[0]!;
    const fields: PeerFields = {
      ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
      ...(p.endpoint ? { endpoint: p.endpoint } : {}),
      ...(p.persistentKeepalive ? { persistentKeepalive: p.persistentKeepalive } : {}),
      ...(p.allowedIps.length > 0 ? { allowedIps: p.allowedIps } : {}),
    };
    steps.push({ kind: "peer-set", iface: name, publicKey: p.publicKey, fields });
  }
  steps.push(...changes);
  if (!sameRecord(endpoints, recorded)) steps.push({ kind: "note-endpoints", iface: name, endpoints });

  // Addresses, MTU, up.
  const wantAddresses = unique(spec.addresses.map(observedCidr));
  const haveAddresses = link?.addresses ?? [];
  // Removing an interface's last IPv4 address makes the kernel drop its IPv4 routes: once we delete an
  // address of a family, that family's routes are re-added (`ip route replace` is idempotent).
  const flushed = new Set<number>();
  for (const cidr of haveAddresses) {
    if (wantAddresses.includes(cidr)) continue;
    steps.push({ kind: "address-delete", iface: name, cidr });
    flushed.add(ipVersionOf(cidr));
  }
  for (const cidr of wantAddresses) {
    if (!haveAddresses.includes(cidr)) steps.push({ kind: "address-add", iface: name, cidr });
  }
  // A new link comes up with 1420 from both the kernel module and wireguard-go.
  const mtu = spec.mtu ?? DEFAULT_MTU;
  if ((link?.mtu ?? DEFAULT_MTU) !== mtu) {
    steps.push({ kind: "mtu", iface: name, mtu });
  }
  if (!link?.up) steps.push({ kind: "link-up", iface: name });

  // Extra routes through this interface: recorded before they are added.
  const wantRoutes = unique(spec.routes.map(observedNetwork));
  const ownedRoutes = owned?.routes ?? [];
  const present = (cidr: string) =>
    link !== undefined && observed.routes.some((r) => r.dst === cidr && r.dev === name);
  for (const cidr of ownedRoutes) {
    if (wantRoutes.includes(cidr)) continue;
    // (deleting a route the kernel already dropped with an address counts as done)
    if (present(cidr)) steps.push({ kind: "route-delete", iface: name, cidr });
    steps.push({ kind: "forget-route", iface: name, cidr });
  }
  for (const cidr of wantRoutes) {
    if (!ownedRoutes.includes(cidr)) steps.push({ kind: "own-route", iface: name, cidr });
    if (!present(cidr) || flushed.has(ipVersionOf(cidr))) {
      steps.push({ kind: "route-add", iface: name, cidr });
    }
  }
  return steps;
}

/**
 * The fields of an existing peer that differ from the desired ones. The endpoint is set only when the
 * desired endpoint changed since we last set it (or the peer has none): a roamed endpoint is left alone.
 */
function peerDiff(
  peer: PeerSpec,
  allowedIps: string[],
  current: WgPeer,
  recordedEndpoint: string | undefined,
): PeerFields {
  const fields: PeerFields = {};
  const psk = peer.presharedKey ?? null;
  if (current.presharedKey !== psk) fields.presharedKey = psk === null ? null : new Secret(psk);
  if (
    peer.endpoint !== undefined && current.endpoint !== peer.endpoint &&
    (recordedEndpoint !== peer.endpoint || current.endpoint === null)
  ) {
    fields.endpoint = peer.endpoint;
  }
  const keepalive = peer.persistentKeepalive ?? 0;
  if (current.persistentKeepalive !== keepalive) fields.persistentKeepalive = keepalive;
  if (!sameSet(current.allowedIps, allowedIps)) fields.allowedIps = allowedIps;
  return fields;
}

/** The restore script that makes our chains and jumps right for one family, or null when they are. */
function planFirewall(
  family: 4 | 6,
  tables: SavedTables,
  managed: InterfaceSpec[],
  observed: Observed,
  warnings: string[],
): string | null {
  const want = managed.length > 0;
  const forward = managed.filter((s) => s.forward).flatMap((s) => [
    `-i ${s.name} -j ACCEPT`,
    `-o ${s.name} -j ACCEPT`,
  ]);
  const egress = observed.egress[family];
  const subnets = unique(
    managed.filter((s) => s.masquerade).flatMap((s) =>
      s.addresses.filter((a) => ipVersionOf(a) === family).map(observedNetwork)
    ),
  );
  let nat: string[] = [];
  if (subnets.length > 0) {
    if (egress === null) {
      warnings.push(`No IPv${family} default route: traffic from ${subnets.join(", ")} is not masqueraded`);
    } else if (managed.some((s) => s.name === egress)) {
      warnings.push(`The IPv${family} default route leaves through ${egress}: not masquerading`);
    } else {
      nat = subnets.map((s) => `-s ${s} -o ${egress} -j MASQUERADE`);
    }
  }
  const sections = [
    chainSection(tables, "filter", "FORWARD", FWD_CHAIN, want ? forward : null),
    chainSection(tables, "nat", "POSTROUTING", NAT_CHAIN, want ? nat : null),
  ].filter((s): s is string => s !== null);
  return sections.length > 0 ? sections.join("") : null;
}

/**
 * One table's part of the restore script: our chain with exactly `rules` and one jump at position 1
 * of `parent`, or (rules null) no chain and no jump. Null when the table already looks like that.
 */
function chainSection(
  tables: SavedTables,
  table: string,
  parent: string,
  chain: string,
  rules: string[] | null,
): string | null {
  const exists = hasChain(tables, table, chain);
  const jumps = chainRules(tables, table, parent)
    .map((spec, i) => (spec === `-j ${chain}` ? i : -1))
    .filter((i) => i >= 0);
  const lines: string[] = [];
  if (rules === null) {
    for (const _ of jumps) lines.push(`-D ${parent} -j ${chain}`);
    if (exists) lines.push(`-F ${chain}`, `-X ${chain}`);
  } else {
    const current = chainRules(tables, table, chain);
    const rulesOk = exists && current.length === rules.length && current.every((r, i) => r === rules[i]);
    const jumpOk = jumps.length === 1 && jumps[0] === 0;
    if (!rulesOk) lines.push(`:${chain} - [0:0]`, ...rules.map((r) => `-A ${chain} ${r}`));
    if (!jumpOk) {
      for (const _ of jumps) lines.push(`-D ${parent} -j ${chain}`);
      lines.push(`-I ${parent} 1 -j ${chain}`);
    }
  }
  return lines.length > 0 ? `*${table}\n${lines.join("\n")}\nCOMMIT\n` : null;
}
