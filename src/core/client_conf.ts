// A client's `.conf` file, as the stock WireGuard apps and wg-quick read it, and the routing presets that
// decide its AllowedIPs. Rendering validates every value first, so no input can add a line or a section.
// Pure: the master renders, the browser test parses a decoded QR code back.
import { AppError, type FieldIssue } from "./errors.ts";
import { contains, formatCidr, formatIp, normalizeCidr, parseCidr, parseIp, tryParseIp } from "./cidr.ts";
import { isWgKey } from "./wg_keys.ts";

export type Endpoint = { host: string; port: number };

export type ClientConf = {
  interface: {
    privateKey: string;
    /** The client's tunnel addresses, IPv4 and optionally IPv6: `10.13.13.2/32`, `fd42::2/128`. */
    addresses: string[];
    /** Resolver addresses; a non-address entry is a search domain, as in wg-quick. */
    dns?: string[];
    mtu?: number;
  };
  peer: {
    /** The public key of whatever serves this client: the master's or a node's interface. */
    publicKey: string;
    presharedKey?: string;
    allowedIps: string[];
    endpoint: Endpoint;
    /** Seconds; 0 or absent means off and writes no line. */
    persistentKeepalive?: number;
  };
};

export const MTU_MIN = 1280;
export const MTU_MAX = 9000;
const MAX_LIST = 256;

const HOSTNAME = /^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

function fail(issues: FieldIssue[]): never {
  const summary = issues.map((i) => `${i.field} ${i.message}`).join("; ");
  throw new AppError("validation", `Invalid client config: ${summary}`, { fields: issues });
}

/** True for a DNS name such as `vpn.example.com` (letters, digits and hyphens; no trailing dot). */
export function isHostname(text: string): boolean {
  return HOSTNAME.test(text) && !/^[0-9.]+$/.test(text);
}

/** `host:port`, with an IPv6 host in brackets (`[2001:db8::1]:51820`). */
export function formatEndpoint(endpoint: Endpoint): string {
  const ip = tryParseIp(endpoint.host);
  if (ip !== undefined) {
    const host = formatIp(ip);
    return ip.version === 6 ? `[${host}]:${endpoint.port}` : `${host}:${endpoint.port}`;
  }
  return `${endpoint.host.toLowerCase()}:${endpoint.port}`;
}

/** Reads `host:port` or `[v6]:port`; throws a validation AppError naming the field `endpoint`. */
export function parseEndpoint(text: string, field = "endpoint"): Endpoint {
  const m = /^(?:\[([0-9A-Fa-f:]+)\]|([^\[\]:]+)):([0-9]{1,5})$/.exec(text);
  if (m === null) fail([{ field, message: "must be host:port, with an IPv6 host in [brackets]" }]);
  const endpoint = { host: m[1] ?? m[2], port: Number(m[3]) };
  const issue = endpointIssue(endpoint, field);
  if (issue !== undefined) fail([issue]);
  return normalizeEndpoint(endpoint);
}

function endpointIssue(endpoint: Endpoint, field: string): FieldIssue | undefined {
  if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
    return { field, message: "port must be 1-65535" };
  }
  if (
    typeof endpoint.host !== "string" ||
    (!isHostname(endpoint.host) && tryParseIp(endpoint.host) === undefined)
  ) {
    return { field, message: "host must be a DNS name or an IP address" };
  }
  return undefined;
}

function normalizeEndpoint(endpoint: Endpoint): Endpoint {
  const ip = tryParseIp(endpoint.host);
  return { host: ip === undefined ? endpoint.host.toLowerCase() : formatIp(ip), port: endpoint.port };
}

/** An address or CIDR; a bare address means the single host (`/32`, `/128`). */
function cidrOrHost(text: string): { version: 4 | 6; text: string; network: string } {
  if (text.includes("/")) {
    const c = parseCidr(text);
    return { version: c.version, text: formatCidr(c), network: normalizeCidr(c) };
  }
  const a = parseIp(text);
  const full = `${formatIp(a)}/${a.version === 4 ? 32 : 128}`;
  return { version: a.version, text: full, network: full };
}

/** Validates and canonicalises a list; collects one issue per bad entry. */
function eachOf(
  list: unknown,
  field: string,
  issues: FieldIssue[],
  each: (text: string) => string,
  { required }: { required: boolean },
): string[] {
  if (!Array.isArray(list)) {
    issues.push({ field, message: "must be a list" });
    return [];
  }
  if (required && list.length === 0) issues.push({ field, message: "must not be empty" });
  if (list.length > MAX_LIST) {
    issues.push({ field, message: `must have at most ${MAX_LIST} entries` });
    return [];
  }
  const out: string[] = [];
  for (const entry of list) {
    try {
      if (typeof entry !== "string") throw new AppError("validation", "must be text");
      const value = each(entry.trim());
      if (!out.includes(value)) out.push(value);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      issues.push({ field, message: err.message });
    }
  }
  return out;
}

function integerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Checks every field and returns the canonical form: addresses in RFC 5952, AllowedIPs as networks,
 * duplicates dropped. Throws one validation AppError listing every problem by field.
 */
export function validateClientConf(conf: ClientConf): ClientConf {
  const issues: FieldIssue[] = [];
  // Typed input may still come from JSON: check every field as if it were unknown.
  const i: Partial<ClientConf["interface"]> = conf.interface ?? {};
  const p: Partial<ClientConf["peer"]> = conf.peer ?? {};
  if (!isWgKey(i.privateKey)) {
    issues.push({ field: "interface.privateKey", message: "must be a WireGuard key" });
  }
  const addresses = eachOf(i.addresses, "interface.addresses", issues, (t) => cidrOrHost(t).text, {
    required: true,
  });
  const dns = i.dns === undefined ? undefined : eachOf(i.dns, "interface.dns", issues, (t) => {
    const ip = tryParseIp(t);
    if (ip !== undefined) return formatIp(ip);
    if (isHostname(t)) return t.toLowerCase();
    throw new AppError("validation", `${JSON.stringify(t.slice(0, 64))} is not an IP address or a domain`);
  }, { required: false });
  if (i.mtu !== undefined && !integerIn(i.mtu, MTU_MIN, MTU_MAX)) {
    issues.push({ field: "interface.mtu", message: `must be a whole number ${MTU_MIN}-${MTU_MAX}` });
  }
  if (!isWgKey(p.publicKey)) issues.push({ field: "peer.publicKey", message: "must be a WireGuard key" });
  if (p.presharedKey !== undefined && !isWgKey(p.presharedKey)) {
    issues.push({ field: "peer.presharedKey", message: "must be a WireGuard key" });
  }
  const allowedIps = eachOf(p.allowedIps, "peer.allowedIps", issues, (t) => cidrOrHost(t).network, {
    required: true,
  });
  const endpointProblem = p.endpoint === undefined || p.endpoint === null || typeof p.endpoint !== "object"
    ? { field: "peer.endpoint", message: "is required" }
    : endpointIssue(p.endpoint, "peer.endpoint");
  if (endpointProblem !== undefined) issues.push(endpointProblem);
  if (p.persistentKeepalive !== undefined && !integerIn(p.persistentKeepalive, 0, 65535)) {
    issues.push({ field: "peer.persistentKeepalive", message: "must be a whole number 0-65535" });
  }
  if (issues.length > 0) fail(issues);

  const out: ClientConf = {
    interface: { privateKey: i.privateKey as string, addresses },
    peer: {
      publicKey: p.publicKey as string,
      allowedIps,
      endpoint: normalizeEndpoint(p.endpoint as Endpoint),
    },
  };
  if (dns !== undefined && dns.length > 0) out.interface.dns = dns;
  if (i.mtu !== undefined) out.interface.mtu = i.mtu;
  if (p.presharedKey !== undefined) out.peer.presharedKey = p.presharedKey;
  if (p.persistentKeepalive !== undefined && p.persistentKeepalive > 0) {
    out.peer.persistentKeepalive = p.persistentKeepalive;
  }
  return out;
}

/**
 * The `.conf` text: `[Interface]` then `[Peer]`, fields in a fixed order, lists joined with ", ", no
 * trailing spaces, one trailing newline. Validates first (see `validateClientConf`).
 */
export function renderClientConf(conf: ClientConf): string {
  const c = validateClientConf(conf);
  const lines = ["[Interface]", `PrivateKey = ${c.interface.privateKey}`];
  lines.push(`Address = ${c.interface.addresses.join(", ")}`);
  if (c.interface.dns !== undefined) lines.push(`DNS = ${c.interface.dns.join(", ")}`);
  if (c.interface.mtu !== undefined) lines.push(`MTU = ${c.interface.mtu}`);
  lines.push("", "[Peer]", `PublicKey = ${c.peer.publicKey}`);
  if (c.peer.presharedKey !== undefined) lines.push(`PresharedKey = ${c.peer.presharedKey}`);
  lines.push(`AllowedIPs = ${c.peer.allowedIps.join(", ")}`);
  lines.push(`Endpoint = ${formatEndpoint(c.peer.endpoint)}`);
  if (c.peer.persistentKeepalive !== undefined) {
    lines.push(`PersistentKeepalive = ${c.peer.persistentKeepalive}`);
  }
  return lines.join("\n") + "\n";
}

const INTERFACE_KEYS: Record<string, string> = {
  privatekey: "PrivateKey",
  address: "Address",
  dns: "DNS",
  mtu: "MTU",
};
const PEER_KEYS: Record<string, string> = {
  publickey: "PublicKey",
  presharedkey: "PresharedKey",
  allowedips: "AllowedIPs",
  endpoint: "Endpoint",
  persistentkeepalive: "PersistentKeepalive",
};

function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Reads a client config with one `[Interface]` and one `[Peer]`: the keys `renderClientConf` writes, in
 * any order and case, `#` comments, repeated list keys (as wg-quick allows). Anything else (another
 * section, an unknown key such as PostUp) is refused. Returns the validated, canonical form.
 */
export function parseClientConf(text: string): ClientConf {
  const issues: FieldIssue[] = [];
  const fields: { interface: Record<string, string[]>; peer: Record<string, string[]> } = {
    interface: {},
    peer: {},
  };
  let section: "interface" | "peer" | undefined;
  const seen = { interface: 0, peer: 0 };
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    const where = `line ${index + 1}`;
    if (line === "") continue;
    const header = /^\[\s*(\w+)\s*\]$/.exec(line);
    const eq = line.indexOf("=");
    if (header !== null) {
      const name = header[1].toLowerCase();
      section = name === "interface" || name === "peer" ? name : undefined;
      if (section === undefined) {
        issues.push({ field: where, message: `unknown section [${header[1].slice(0, 32)}]` });
      } else seen[section]++;
    } else if (eq < 0) {
      issues.push({ field: where, message: "expected Key = Value" });
    } else if (section === undefined) {
      issues.push({ field: where, message: "key outside a section" });
    } else {
      const name = line.slice(0, eq).trim();
      const known = section === "interface" ? INTERFACE_KEYS : PEER_KEYS;
      if (Object.hasOwn(known, name.toLowerCase())) {
        (fields[section][name.toLowerCase()] ??= []).push(line.slice(eq + 1).trim());
      } else {
        issues.push({ field: where, message: `unknown key ${name.slice(0, 32)}` });
      }
    }
  }
  if (seen.interface !== 1) issues.push({ field: "interface", message: "exactly one [Interface] is needed" });
  if (seen.peer !== 1) issues.push({ field: "peer", message: "exactly one [Peer] is needed" });
  for (const [section, known] of [["interface", INTERFACE_KEYS], ["peer", PEER_KEYS]] as const) {
    for (const [key, values] of Object.entries(fields[section])) {
      if (values.length > 1 && !["address", "dns", "allowedips"].includes(key)) {
        issues.push({ field: `${section}.${known[key]}`, message: "appears more than once" });
      }
    }
  }
  if (issues.length > 0) fail(issues);

  const one = (section: "interface" | "peer", key: string) => fields[section][key]?.[0];
  const list = (section: "interface" | "peer", key: string) => fields[section][key]?.flatMap(splitList);
  const number = (
    value: string | undefined,
  ) => (value === undefined ? undefined : /^[0-9]{1,6}$/.test(value) ? Number(value) : NaN);
  const endpointText = one("peer", "endpoint");
  let endpoint: Endpoint | undefined;
  if (endpointText === undefined) fail([{ field: "peer.endpoint", message: "is required" }]);
  else endpoint = parseEndpoint(endpointText, "peer.endpoint");
  const keepalive = one("peer", "persistentkeepalive");
  return validateClientConf({
    interface: {
      privateKey: one("interface", "privatekey") ?? "",
      addresses: list("interface", "address") ?? [],
      dns: list("interface", "dns"),
      mtu: number(one("interface", "mtu")),
    },
    peer: {
      publicKey: one("peer", "publickey") ?? "",
      presharedKey: one("peer", "presharedkey"),
      allowedIps: list("peer", "allowedips") ?? [],
      endpoint,
      persistentKeepalive: keepalive?.toLowerCase() === "off" ? 0 : number(keepalive),
    },
  });
}

export const ROUTING_PRESETS = ["full", "split", "custom"] as const;
export type RoutingPreset = (typeof ROUTING_PRESETS)[number];

export type PresetInput = {
  /** The interface's subnets or own addresses with prefix (`10.13.13.1/24`, `fd42::1/64`). */
  interfaceSubnets: string[];
  /** The DNS addresses handed to the client; non-address entries (search domains) are ignored. */
  dnsAddresses?: string[];
  /** For `custom`: a list, or the text of a form field separated by commas, spaces or newlines. */
  custom?: string[] | string;
};

/**
 * The AllowedIPs of a routing preset:
 * - `full`: everything, `0.0.0.0/0`, plus `::/0` when the interface has an IPv6 subnet;
 * - `split`: the interface's subnets, plus each DNS address (as /32 or /128) not already inside them;
 * - `custom`: the given list, validated and normalised (host bits zeroed, bare addresses as /32 or /128).
 * Throws a validation AppError naming the field `allowedIps` (or `routing` for an unknown preset).
 */
export function allowedIpsForPreset(preset: RoutingPreset, input: PresetInput): string[] {
  const subnets = input.interfaceSubnets.map((s) => parseCidr(s));
  switch (preset) {
    case "full":
      return subnets.some((s) => s.version === 6) ? ["0.0.0.0/0", "::/0"] : ["0.0.0.0/0"];
    case "split": {
      const out: string[] = [];
      for (const s of subnets) {
        const n = normalizeCidr(s);
        if (!out.includes(n)) out.push(n);
      }
      for (const d of input.dnsAddresses ?? []) {
        const ip = tryParseIp(d.trim());
        if (ip === undefined) continue;
        const host = `${formatIp(ip)}/${ip.version === 4 ? 32 : 128}`;
        if (!out.includes(host) && !subnets.some((s) => contains(s, ip))) {
          out.push(host);
        }
      }
      return out;
    }
    case "custom": {
      const raw = typeof input.custom === "string"
        ? input.custom.split(/[\s,]+/).filter((s) => s !== "")
        : input.custom ?? [];
      const issues: FieldIssue[] = [];
      const out = eachOf(raw, "allowedIps", issues, (t) => cidrOrHost(t).network, { required: true });
      if (issues.length > 0) {
        throw new AppError("validation", `Invalid AllowedIPs: ${issues.map((i) => i.message).join("; ")}`, {
          fields: [{ field: "allowedIps", message: issues.map((i) => i.message).join("; ") }],
        });
      }
      return out;
    }
    default:
      throw new AppError(
        "validation",
        `Unknown routing preset ${JSON.stringify(String(preset).slice(0, 32))}`,
        {
          fields: [{ field: "routing", message: `must be one of ${ROUTING_PRESETS.join(", ")}` }],
        },
      );
  }
}

/**
 * A safe download name `<name>.conf`. The WireGuard apps name the tunnel after the file, and wg-quick
 * wants an interface name: at most 15 of `A-Za-z0-9_=+.-`. Other characters become `-`.
 */
export function clientConfFileName(name: string): string {
  const ascii = name.normalize("NFKD").replace(/\p{M}+/gu, "");
  const base = ascii.replace(/[^A-Za-z0-9_=+.-]+/g, "-").replace(/^[-.]+/, "").slice(0, 15).replace(
    /-+$/,
    "",
  );
  return `${base === "" ? "wireguard" : base}.conf`;
}
