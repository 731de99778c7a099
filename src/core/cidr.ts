// IPv4 and IPv6 addresses and prefixes as bigints: strict parsing (no leading zeros in IPv4 octets, no
// zone ids, no embedded dotted IPv4 in IPv6), RFC 5952 output, and the set maths the master needs for
// address pools and AllowedIPs. Text that tools print (the node's observe) has its own lenient entry,
// parseObservedCidr(), which rewrites the spellings strict input refuses and then uses the same parser.
// Pure: no I/O.
import { AppError } from "./errors.ts";

export type IpVersion = 4 | 6;

/** One address: its family and its value as an unsigned integer (32 or 128 bits). */
export type IpAddress = { version: IpVersion; value: bigint };

/** An address with a prefix length. `address` may have host bits set (`10.13.13.1/24`); see `networkOf`. */
export type Cidr = { version: IpVersion; address: bigint; prefix: number };

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };
const MAX_INPUT = 64;

/** Shortens user input for an error message, so a huge string never ends up in a log line. */
function quote(text: string): string {
  const short = text.length > MAX_INPUT ? `${text.slice(0, MAX_INPUT)}...` : text;
  return JSON.stringify(short);
}

function invalid(what: string, text: string, why: string): AppError {
  return new AppError("validation", `Invalid ${what} ${quote(text)}: ${why}`);
}

const V4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Fast path for the common, valid case: returns -1 for anything unusual, which `parseV4` then explains. */
function scanV4(text: string): number {
  let value = 0, octet = 0, digits = 0, dots = 0;
  for (let i = 0; i <= text.length; i++) {
    const ch = i < text.length ? text.charCodeAt(i) : 46;
    if (ch === 46) {
      if (digits === 0 || octet > 255) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + ch - 48;
      digits++;
    } else {
      return -1;
    }
  }
  return dots === 4 ? value : -1;
}

function parseV4(text: string): bigint | string {
  const fast = scanV4(text);
  if (fast >= 0) return BigInt(fast);
  const parts = text.split(".");
  if (parts.length !== 4) return "an IPv4 address has four dot-separated numbers";
  let value = 0n;
  for (const part of parts) {
    if (!V4_OCTET.test(part)) {
      return part === "" || /[^0-9]/.test(part)
        ? `"${part.slice(0, 8)}" is not a number`
        : `"${part}" has a leading zero`;
    }
    const n = Number(part);
    if (n > 255) return `${n} is greater than 255`;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): number[] | string {
  if (text === "") return [];
  const groups: number[] = [];
  for (const part of text.split(":")) {
    if (!V6_GROUP.test(part)) {
      if (part === "") return "a single colon may not start, end or repeat inside an address";
      if (part.includes(".")) return "embedded IPv4 notation is not supported; write the hex form";
      return `"${part.slice(0, 8)}" is not a group of 1-4 hex digits`;
    }
    groups.push(parseInt(part, 16));
  }
  return groups;
}

/** Fast path for the common, valid case: returns undefined for anything unusual, which `parseV6` explains. */
function scanV6(text: string): bigint | undefined {
  const head: number[] = [], tail: number[] = [];
  let groups = head, group = 0, digits = 0, compressed = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 58) {
      if (i + 1 < text.length && text.charCodeAt(i + 1) === 58) {
        if (compressed) return undefined;
        if (digits > 0) head.push(group);
        else if (i !== 0) return undefined;
        compressed = true;
        groups = tail;
        i++;
      } else {
        if (digits === 0) return undefined;
        groups.push(group);
      }
      group = 0;
      digits = 0;
      continue;
    }
    const d = ch >= 48 && ch <= 57
      ? ch - 48
      : ch >= 97 && ch <= 102
      ? ch - 87
      : ch >= 65 && ch <= 70
      ? ch - 55
      : -1;
    if (d < 0 || digits === 4) return undefined;
    group = group * 16 + d;
    digits++;
  }
  if (digits > 0) groups.push(group);
  else if (!(compressed && text.endsWith("::"))) return undefined;
  const count = head.length + tail.length;
  if (compressed ? count > 7 : count !== 8) return undefined;
  let value = 0n;
  for (const g of head) value = (value << 16n) | BigInt(g);
  value <<= BigInt(16 * (8 - head.length));
  let low = 0n;
  for (const g of tail) low = (low << 16n) | BigInt(g);
  return value | low;
}

function parseV6(text: string): bigint | string {
  const fast = scanV6(text);
  if (fast !== undefined) return fast;
  if (text.includes("%")) return "zone ids are not allowed";
  const halves = text.split("::");
  if (halves.length > 2) return '"::" may appear only once';
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]);
    if (typeof head === "string") return head;
    const tail = parseGroups(halves[1]);
    if (typeof tail === "string") return tail;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return '"::" must stand for at least one group';
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (typeof all === "string") return all;
    if (all.length !== 8) return "an IPv6 address has eight groups unless it uses ::";
    groups = all;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

function parseOrReason(text: string): IpAddress | string {
  if (typeof text !== "string" || text.length === 0) return "empty";
  if (text.length > 45) return "too long";
  if (text.includes(":")) {
    const v = parseV6(text);
    return typeof v === "string" ? v : { version: 6, value: v };
  }
  if (/^[0-9.]+$/.test(text)) {
    const v = parseV4(text);
    return typeof v === "string" ? v : { version: 4, value: v };
  }
  return "not an IPv4 or IPv6 address";
}

/** Parses `10.13.13.2` or `fd42::2`; throws a validation AppError naming what is wrong. */
export function parseIp(text: string): IpAddress {
  const result = parseOrReason(text);
  if (typeof result === "string") throw invalid("IP address", String(text), result);
  return result;
}

/** Like `parseIp`, but returns undefined instead of throwing. */
export function tryParseIp(text: string): IpAddress | undefined {
  const result = parseOrReason(text);
  return typeof result === "string" ? undefined : result;
}

/** True for a strictly valid IPv4 or IPv6 address without a prefix. */
export function isValidIp(text: string): boolean {
  return typeof parseOrReason(text) !== "string";
}

/** Formats an address: dotted quad for IPv4, RFC 5952 (lower case, longest zero run as `::`) for IPv6. */
export function formatIp(addr: IpAddress): string {
  if (addr.version === 4) {
    const v = Number(addr.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of two or more zero groups; the first one wins a tie (RFC 5952 section 4.2.3).
  let bestStart = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Re-formats an address in canonical form (`FD42:0::02` -> `fd42::2`). */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

function parseCidrOrReason(text: string): Cidr | string {
  if (typeof text !== "string" || text.length === 0) return "empty";
  const slash = text.indexOf("/");
  if (slash < 0) return "missing /prefix";
  const addr = parseOrReason(text.slice(0, slash));
  if (typeof addr === "string") return addr;
  const prefixText = text.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(prefixText)) {
    return `prefix "${prefixText.slice(0, 8)}" is not a number`;
  }
  const prefix = Number(prefixText);
  const max = BITS[addr.version];
  if (prefix > max) return `prefix ${prefix} is out of range 0-${max}`;
  return { version: addr.version, address: addr.value, prefix };
}

/** Parses `10.13.13.1/24` or `fd42::1/64`, keeping host bits; throws a validation AppError. */
export function parseCidr(text: string): Cidr {
  const result = parseCidrOrReason(text);
  if (typeof result === "string") throw invalid("CIDR", String(text), result);
  return result;
}

/** True for a strictly valid `address/prefix` (host bits may be set). */
export function isValidCidr(text: string): boolean {
  return typeof parseCidrOrReason(text) !== "string";
}

/** Formats a CIDR as `address/prefix`, host bits as they are. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ version: cidr.version, value: cidr.address })}/${cidr.prefix}`;
}

function toCidr(cidr: Cidr | string): Cidr {
  return typeof cidr === "string" ? parseCidr(cidr) : cidr;
}

function hostMask(version: IpVersion, prefix: number): bigint {
  return (1n << BigInt(BITS[version] - prefix)) - 1n;
}

/** The network of a CIDR: host bits zeroed (`10.13.13.1/24` -> `10.13.13.0/24`). */
export function networkOf(cidr: Cidr | string): Cidr {
  const c = toCidr(cidr);
  return { version: c.version, address: c.address & ~hostMask(c.version, c.prefix), prefix: c.prefix };
}

/** Canonical network text of a CIDR: host bits zeroed, RFC 5952 (`FD42::1/64` -> `fd42::/64`). */
export function normalizeCidr(cidr: Cidr | string): string {
  return formatCidr(networkOf(cidr));
}

/** Number of addresses in the CIDR (`/24` -> 256n, `/128` -> 1n). */
export function sizeOf(cidr: Cidr | string): bigint {
  const c = toCidr(cidr);
  return 1n << BigInt(BITS[c.version] - c.prefix);
}

/** First and last address of the CIDR's network, inclusive. */
export function rangeOf(cidr: Cidr | string): { first: bigint; last: bigint } {
  const c = toCidr(cidr);
  const first = c.address & ~hostMask(c.version, c.prefix);
  return { first, last: first | hostMask(c.version, c.prefix) };
}

/** The address at offset `n` in the network (0 = network address); throws a RangeError outside it. */
export function hostAddress(cidr: Cidr | string, n: number | bigint): IpAddress {
  const c = toCidr(cidr);
  const offset = BigInt(n);
  if (offset < 0n || offset >= sizeOf(c)) {
    throw new RangeError(`Offset ${offset} is outside ${normalizeCidr(c)} (size ${sizeOf(c)})`);
  }
  return { version: c.version, value: rangeOf(c).first + offset };
}

/**
 * True when `inner` lies inside `cidr`. `inner` is an address (`10.13.13.7`), a CIDR (`10.13.13.64/26`,
 * whose whole network must fit) or a parsed value. Different families never contain each other.
 */
export function contains(cidr: Cidr | string, inner: string | IpAddress | Cidr): boolean {
  const outer = rangeOf(cidr);
  const version = toCidr(cidr).version;
  let innerRange: { first: bigint; last: bigint };
  let innerVersion: IpVersion;
  if (typeof inner === "string") {
    if (inner.includes("/")) {
      innerVersion = parseCidr(inner).version;
      innerRange = rangeOf(inner);
    } else {
      const a = parseIp(inner);
      [innerVersion, innerRange] = [a.version, { first: a.value, last: a.value }];
    }
  } else if ("prefix" in inner) {
    [innerVersion, innerRange] = [inner.version, rangeOf(inner)];
  } else {
    [innerVersion, innerRange] = [inner.version, { first: inner.value, last: inner.value }];
  }
  return innerVersion === version && innerRange.first >= outer.first && innerRange.last <= outer.last;
}

/** True when the two networks share at least one address (same family only). */
export function overlaps(a: Cidr | string, b: Cidr | string): boolean {
  const ca = toCidr(a), cb = toCidr(b);
  if (ca.version !== cb.version) return false;
  const ra = rangeOf(ca), rb = rangeOf(cb);
  return ra.first <= rb.last && rb.first <= ra.last;
}

// --- Text the kernel's tools print: what a node reads from its host, never user input -------------------
// A foreign interface may carry an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), a host route has no
// prefix length: reading them must not fail a whole observe, so this entry is lenient.

const UP_TO_3_DIGITS = /^\d{1,3}$/;

/** The strict spelling of an address a tool printed (`::ffff:192.0.2.1` -> `::ffff:c000:201`), or null. */
function strictSpelling(addr: string): string | null {
  const colon = addr.lastIndexOf(":");
  const quad = colon < 0 ? addr : addr.slice(colon + 1);
  if (colon >= 0 && !quad.includes(".")) return addr;
  const octets = quad.split(".");
  if (octets.length !== 4 || !octets.every((o) => UP_TO_3_DIGITS.test(o))) return null;
  const [a, b, c, d] = octets.map(Number) as [number, number, number, number];
  if (colon < 0) return `${a}.${b}.${c}.${d}`; // leading zeros dropped; > 255 is refused below
  if (Math.max(a, b, c, d) > 255) return null;
  return `${addr.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/**
 * Parses an address or prefix as a tool printed it, reading surrounding whitespace, a bare address (a
 * host prefix), leading zeros and IPv6 ending in dotted IPv4. Null when the text is no address at all.
 */
export function parseObservedCidr(text: string): Cidr | null {
  const [addr = "", len, extra] = text.trim().split("/");
  if (extra !== undefined) return null;
  let ip = parseOrReason(addr);
  if (typeof ip === "string") {
    const spelled = strictSpelling(addr);
    if (spelled === null) return null;
    ip = parseOrReason(spelled);
    if (typeof ip === "string") return null;
  }
  const max = BITS[ip.version];
  const prefix = len === undefined ? max : UP_TO_3_DIGITS.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { version: ip.version, address: ip.value, prefix };
}

function mustObserve(text: string): Cidr {
  const cidr = parseObservedCidr(text);
  if (!cidr) throw new AppError("internal", `not an address/prefix: ${quote(text)}`);
  return cidr;
}

const HOST_V4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/32$/;

/**
 * The canonical network text of printed text, as `ip` and `wg` print it (`10.13.13.7/24` ->
 * `10.13.13.0/24`, `fd77::13` -> `fd77::13/128`). Throws an internal AppError on text that is no prefix.
 */
export function observedNetwork(text: string): string {
  // The common case, a canonical IPv4 host (every peer's allowed IP), is its own network: 10,000 of them
  // through the parser were a third of an observe-and-plan tick.
  if (HOST_V4.test(text)) return text;
  return normalizeCidr(mustObserve(text));
}

/** An interface address in canonical text, host bits kept (`FD42:13:0::1/64` -> `fd42:13::1/64`). */
export function observedCidr(text: string): string {
  return formatCidr(mustObserve(text));
}

/** The family of an address or prefix text, by its colon (no validation). */
export function ipVersionOf(text: string): IpVersion {
  return text.includes(":") ? 6 : 4;
}
