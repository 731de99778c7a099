// iproute2: argv for the commands we run and parsers for the JSON it prints (`ip -j`).
import { observedCidr, observedNetwork } from "../../core/cidr.ts";

export type IpLink = {
  name: string;
  up: boolean;
  mtu: number;
  /** linkinfo.info_kind from `ip -d`: "wireguard", "tun", "veth", … or null for plain devices. */
  kind: string | null;
  /** Global and host-scope addresses in canonical `addr/len` form (link-local ones are left out). */
  addresses: string[];
};

export type IpRoute = { dst: string; dev: string | null; family: 4 | 6 };

/** A policy rule from `ip -j rule show`: fwmark as `value/mask` (null without one), table by name or number. */
export type IpRule = { priority: number; fwmark: string | null; table: string };

const fam = (family: 4 | 6) => (family === 4 ? "-4" : "-6");
const famOf = (cidr: string) => (cidr.includes(":") ? "-6" : "-4");

export const ipArgv = {
  /** Links with their addresses and link kind, in one read. */
  showAddresses: () => ["ip", "-j", "-d", "address", "show"],
  showRoutes: (family: 4 | 6) =>
    family === 4
      ? ["ip", "-j", "route", "show", "table", "main"]
      : ["ip", "-6", "-j", "route", "show", "table", "main"],
  linkAddWireguard: (name: string) => ["ip", "link", "add", "dev", name, "type", "wireguard"],
  linkDelete: (name: string) => ["ip", "link", "delete", "dev", name],
  linkUp: (name: string) => ["ip", "link", "set", "dev", name, "up"],
  linkMtu: (name: string, mtu: number) => ["ip", "link", "set", "dev", name, "mtu", String(mtu)],
  addressAdd: (name: string, cidr: string) => ["ip", "address", "add", cidr, "dev", name],
  addressDelete: (name: string, cidr: string) => ["ip", "address", "del", cidr, "dev", name],
  routeReplace: (name: string, cidr: string) => [
    "ip",
    ...(cidr.includes(":") ? ["-6"] : ["-4"]),
    "route",
    "replace",
    cidr,
    "dev",
    name,
  ],
  routeDelete: (name: string, cidr: string) => [
    "ip",
    ...(cidr.includes(":") ? ["-6"] : ["-4"]),
    "route",
    "del",
    cidr,
    "dev",
    name,
  ],
  showRules: (family: 4 | 6) =>
    family === 4 ? ["ip", "-j", "rule", "show"] : ["ip", "-6", "-j", "rule", "show"],
  showTable: (family: 4 | 6, table: number) =>
    family === 4
      ? ["ip", "-j", "route", "show", "table", String(table)]
      : ["ip", "-6", "-j", "route", "show", "table", String(table)],
  /** `fwmark` is `value/mask`; the rule's priority is the table's number. */
  ruleAdd: (
    family: 4 | 6,
    fwmark: string,
    table: number,
  ) => [
    "ip",
    fam(family),
    "rule",
    "add",
    "fwmark",
    fwmark,
    "lookup",
    String(table),
    "priority",
    String(table),
  ],
  ruleDelete: (
    family: 4 | 6,
    fwmark: string,
    table: number,
  ) => [
    "ip",
    fam(family),
    "rule",
    "del",
    "fwmark",
    fwmark,
    "lookup",
    String(table),
    "priority",
    String(table),
  ],
  tableRouteReplace: (
    name: string,
    cidr: string,
    table: number,
  ) => ["ip", famOf(cidr), "route", "replace", cidr, "dev", name, "table", String(table)],
  tableRouteDelete: (
    name: string,
    cidr: string,
    table: number,
  ) => ["ip", famOf(cidr), "route", "del", cidr, "dev", name, "table", String(table)],
};

/** Parses `ip [-6] -j rule show`. */
export function parseIpRules(text: string): IpRule[] {
  type Raw = { priority?: number; fwmark?: string; fwmask?: string; table?: string };
  return (parseJsonArray(text, "ip -j rule show") as Raw[]).flatMap((raw) => {
    if (typeof raw.priority !== "number" || typeof raw.table !== "string") return [];
    const fwmark = raw.fwmark === undefined ? null : `${raw.fwmark}/${raw.fwmask ?? "0xffffffff"}`;
    return [{ priority: raw.priority, fwmark, table: raw.table }];
  });
}

type RawAddr = { family?: string; local?: string; prefixlen?: number; scope?: string };
type RawLink = {
  ifname?: string;
  flags?: string[];
  mtu?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: RawAddr[];
};

function parseJsonArray(text: string, what: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    throw new Error(`Cannot parse ${what}: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new Error(`Cannot parse ${what}: expected a JSON array`);
  return value;
}

/** Parses `ip -j -d address show`. */
export function parseIpAddress(text: string): IpLink[] {
  return (parseJsonArray(text, "ip -j address show") as RawLink[]).flatMap((raw) => {
    if (typeof raw.ifname !== "string") return [];
    // Addresses on devices in another namespace show as "name@if5"; the name is before the "@".
    const name = raw.ifname.split("@")[0]!;
    const addresses = (raw.addr_info ?? [])
      .filter((a) => (a.family === "inet" || a.family === "inet6") && a.scope !== "link" && a.local)
      .map((a) => observedCidr(`${a.local}/${a.prefixlen}`));
    return [{
      name,
      up: (raw.flags ?? []).includes("UP"),
      mtu: raw.mtu ?? 0,
      kind: raw.linkinfo?.info_kind ?? null,
      addresses,
    }];
  });
}

/** Parses `ip [-6] -j route show table main`. Host routes print without a prefix length; we add it. */
export function parseIpRoutes(text: string, family: 4 | 6): IpRoute[] {
  return (parseJsonArray(text, "ip -j route show") as { dst?: string; dev?: string; type?: string }[])
    .flatMap((raw) => {
      if (typeof raw.dst !== "string") return [];
      if (raw.type !== undefined && raw.type !== "unicast") return [];
      const dst = raw.dst === "default" ? "default" : observedNetwork(raw.dst);
      return [{ dst, dev: raw.dev ?? null, family }];
    });
}

/** The egress interface of the default route (the first one, as the kernel would pick by metric order). */
export function defaultEgress(routes: IpRoute[]): string | null {
  return routes.find((r) => r.dst === "default" && r.dev !== null)?.dev ?? null;
}
