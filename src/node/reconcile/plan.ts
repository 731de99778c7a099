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
  MARK_CHAIN,
  MARK_OUT_CHAIN,
  NAT_CHAIN,
  type NewPeer,
  type Observed,
  type Ownership,
  type PeerFields,
  type Plan,
  REPLY_MARK,
  REPLY_TABLE,
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

  // 3. Firewall: our chains per family, derived from the interfaces we manage (and their overlaps).
  const overlaps = overlapsOf(desired, managed, warnings);
  for (const family of [4, 6] as const) {
    const tables = observed.firewall[family];
    if (tables === null) {
      if (managed.length > 0) warnings.push(`Cannot read the IPv${family} firewall; leaving it alone`);
      continue;
    }
    const script = planFirewall(family, tables, managed, overlaps, observed, warnings);
    if (script !== null) steps.push({ kind: "firewall", family, script });
  }

  // 4. A key rotation's reply routing: our rule and table, after the devices they name.
  steps.push(...planReplies(overlaps, observed, ownership, steps, warnings));

  // 5. Forwarding sysctls: only ever turned on. Last, so a read-only /proc/sys blocks nothing else.
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

/** A key rotation's overlap between two managed devices, with the old device's subnets. */
type Overlap = { old: string; next: string; subnets: string[] };

function overlapsOf(desired: HostState, managed: InterfaceSpec[], warnings: string[]): Overlap[] {
  const byName = new Map(managed.map((s) => [s.name, s]));
  const taken = new Set<string>();
  const out: Overlap[] = [];
  for (const o of desired.overlaps ?? []) {
    const old = byName.get(o.old);
    if (!old || !byName.has(o.next) || o.old === o.next) {
      warnings.push(
        `The overlap of ${o.old} and ${o.next} needs both interfaces; its replies are not routed`,
      );
      continue;
    }
    // A subnet is routed through one next device only (the first overlap that names it).
    const subnets = unique(old.addresses.map(observedNetwork)).filter((c) => !taken.has(c));
    for (const c of subnets) taken.add(c);
    out.push({ old: o.old, next: o.next, subnets });
  }
  return out;
}

const MARK = `${REPLY_MARK}/${REPLY_MARK}`;

/**
 * Our policy rule per family and our table's routes for the overlaps: each old device's subnets through
 * its next device. Recorded before they are made, forgotten after they are gone; while the rules or the
 * table cannot be read (observed.replies null), nothing is planned for them.
 */
function planReplies(
  overlaps: Overlap[],
  observed: Observed,
  ownership: Ownership,
  earlier: readonly Step[],
  warnings: string[],
): Step[] {
  const owned = ownership.replies ?? { rules: [], routes: [] };
  const seen = observed.replies;
  const want = overlaps.flatMap((o) => o.subnets.map((cidr) => ({ cidr, dev: o.next })));
  if (seen === null) {
    if (want.length > 0 || owned.rules.length > 0 || owned.routes.length > 0) {
      warnings.push("The policy rules were not read; a key rotation's reply routing is left as it is");
    }
    return [];
  }
  // A link deleted or made again earlier in this plan took its routes with it; an address of a family
  // deleted from it may have (the last IPv4 one): such routes are added again (`replace` is idempotent).
  const gone = (dev: string) =>
    earlier.some((s) => (s.kind === "link-delete" || s.kind === "link-add") && s.iface === dev);
  const flushed = (dev: string, family: number) =>
    gone(dev) ||
    earlier.some((s) => s.kind === "address-delete" && s.iface === dev && ipVersionOf(s.cidr) === family);
  const seenRoute = (r: { cidr: string; dev: string }) =>
    seen.routes.some((x) => x.dst === r.cidr && x.dev === r.dev);
  const same = (a: { cidr: string; dev: string }) => (b: { cidr: string; dev: string }) =>
    a.cidr === b.cidr && a.dev === b.dev;

  const removals: Step[] = [];
  const additions: Step[] = [];
  for (const family of [4, 6] as const) {
    const rules = seen.rules[family];
    const wanted = want.some((r) => ipVersionOf(r.cidr) === family);
    const ours = owned.rules.includes(family);
    if (rules === null) {
      if (wanted) warnings.push(`Cannot read the IPv${family} policy rules; replies follow the main table`);
      continue;
    }
    const here = rules.some((r) =>
      r.priority === REPLY_TABLE && r.table === String(REPLY_TABLE) && r.fwmark === MARK
    );
    if (wanted) {
      if (!ours) additions.push({ kind: "own-reply-rule", family });
      if (!here) additions.push({ kind: "reply-rule-add", family });
    } else if (ours) {
      if (here) removals.push({ kind: "reply-rule-delete", family });
      removals.push({ kind: "forget-reply-rule", family });
    }
  }
  for (const r of owned.routes) {
    if (want.some(same(r))) continue;
    if (seenRoute(r) && !gone(r.dev)) {
      removals.push({ kind: "reply-route-delete", iface: r.dev, cidr: r.cidr });
    }
    removals.push({ kind: "forget-reply-route", iface: r.dev, cidr: r.cidr });
  }
  const routes: Step[] = [];
  for (const r of want) {
    if (!owned.routes.some(same(r))) routes.push({ kind: "own-reply-route", iface: r.dev, cidr: r.cidr });
    if (!seenRoute(r) || flushed(r.dev, ipVersionOf(r.cidr))) {
      routes.push({ kind: "reply-route-add", iface: r.dev, cidr: r.cidr });
    }
  }
  // The table's routes before the rule that sends packets to it; the rule goes before its routes.
  return [...removals, ...routes, ...additions];
}

/** The restore script that makes our chains and jumps right for one family, or null when they are. */
function planFirewall(
  family: 4 | 6,
  tables: SavedTables,
  managed: InterfaceSpec[],
  overlaps: Overlap[],
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
  // A connection that arrives on a next device is marked (the old device clears the mark: a client that
  // went back); every packet of a marked connection carries the mark, forwarded or the node's own.
  const marking = overlaps.filter((o) => o.subnets.some((c) => ipVersionOf(c) === family));
  const restore = `-j CONNMARK --restore-mark --nfmask ${REPLY_MARK} --ctmask ${REPLY_MARK}`;
  const mark = marking.length === 0 ? null : [
    ...marking.flatMap((o) => [
      `-i ${o.next} -j CONNMARK --set-xmark ${MARK}`,
      `-i ${o.old} -j CONNMARK --set-xmark 0x0/${REPLY_MARK}`,
    ]),
    restore,
  ];
  const sections: [string, string[]][] = [
    ["filter", chainLines(tables, "filter", "FORWARD", FWD_CHAIN, want ? forward : null)],
    ["nat", chainLines(tables, "nat", "POSTROUTING", NAT_CHAIN, want ? nat : null)],
    ["mangle", [
      ...chainLines(tables, "mangle", "PREROUTING", MARK_CHAIN, mark),
      ...chainLines(tables, "mangle", "OUTPUT", MARK_OUT_CHAIN, mark === null ? null : [restore]),
    ]],
  ];
  const script = sections.filter(([, lines]) => lines.length > 0)
    .map(([table, lines]) => `*${table}\n${lines.join("\n")}\nCOMMIT\n`).join("");
  return script === "" ? null : script;
}

/**
 * One chain's lines of the restore script: our chain with exactly `rules` and one jump at position 1
 * of `parent`, or (rules null) no chain and no jump. None when the table already looks like that.
 */
function chainLines(
  tables: SavedTables,
  table: string,
  parent: string,
  chain: string,
  rules: string[] | null,
): string[] {
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
  return lines;
}
