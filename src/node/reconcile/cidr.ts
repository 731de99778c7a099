// A small, private CIDR helper for the planner: parses IPv4/IPv6 prefixes and prints them the way the
// kernel, `ip`, `wg` and `iptables-save` do (inet_ntop style), so observed and desired text compare equal.

import { formatIp } from "../../core/cidr.ts";

export type Family = 4 | 6;
export type Prefix = { family: Family; bytes: Uint8Array; length: number };

function parseV4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null;
    out[i] = Number(part);
  }
  return out;
}

function parseV6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseV4(part);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses `addr/len` (or a bare address, taken as a host prefix). Returns null when it is not one. */
export function parsePrefix(text: string): Prefix | null {
  const [addr = "", len, extra] = text.trim().split("/");
  if (extra !== undefined) return null;
  const family: Family = addr.includes(":") ? 6 : 4;
  const bytes = family === 4 ? parseV4(addr) : parseV6(addr);
  if (!bytes) return null;
  const max = family === 4 ? 32 : 128;
  const length = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(length >= 0 && length <= max)) return null;
  return { family, bytes, length };
}

/** The address in canonical form (dotted quad; RFC 5952 IPv6), the one formatter of src/core/cidr.ts. */
export function formatAddress(family: Family, bytes: Uint8Array): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return formatIp({ version: family, value });
}

const HOST_V4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/32$/;

/** `10.13.13.7/24` → `10.13.13.0/24`; `fd42:13::1/64` → `fd42:13::/64`. Throws on text that is no prefix. */
export function networkOf(text: string): string {
  // The common case, a canonical IPv4 host (every peer's allowed IP), is its own network: 10,000 of them
  // through the byte parser were a third of an observe-and-plan tick.
  if (HOST_V4.test(text)) return text;
  const p = parsePrefix(text);
  if (!p) throw new Error(`not an address/prefix: ${JSON.stringify(text)}`);
  const bytes = p.bytes.slice();
  for (let bit = p.length; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${formatAddress(p.family, bytes)}/${p.length}`;
}

/** An interface address in canonical text, host bits kept: `FD42:13:0::1/64` → `fd42:13::1/64`. */
export function canonicalAddress(text: string): string {
  const p = parsePrefix(text);
  if (!p) throw new Error(`not an address/prefix: ${JSON.stringify(text)}`);
  return `${formatAddress(p.family, p.bytes)}/${p.length}`;
}

export function familyOf(text: string): Family {
  return text.includes(":") ? 6 : 4;
}
