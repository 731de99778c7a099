// RFC 2136 dynamic updates signed with TSIG (RFC 8945): the UPDATE message that makes a name's A and
// AAAA records exactly a given list of addresses, and the reading of the server's signed answer. Pure:
// the message id and the time come from the caller, the bytes travel through a port (master/dns_tcp.ts).
//
//   header      id, opcode UPDATE (5), ZOCOUNT 1, PRCOUNT 0, UPCOUNT n, ADCOUNT 1
//   zone        <zone> SOA IN
//   update      <name> A ANY 0 (delete the RRset), <name> AAAA ANY 0, then <name> A|AAAA IN <ttl> <addr>...
//   additional  <key> TSIG ANY 0 { algorithm, time signed, fudge 300, MAC, original id, error 0, other 0 }
//
// Names go out uncompressed; answers are parsed with compression pointers, bounds checked throughout.
import { createHmac, timingSafeEqual } from "node:crypto";
import { parseIp } from "./cidr.ts";

export type TsigAlgorithm = "hmac-sha256" | "hmac-sha512";
export const TSIG_ALGORITHMS: readonly TsigAlgorithm[] = ["hmac-sha256", "hmac-sha512"];
export type TsigKey = { name: string; algorithm: TsigAlgorithm; secret: Uint8Array };

/** What one UPDATE sets: `name`'s A and AAAA records become exactly `addresses`, each with `ttl`. */
export type RecordSet = {
  zone: string;
  name: string;
  ttl: number;
  addresses: readonly string[];
  /** Names whose A and AAAA records are deleted in the same message (a pool's former name). */
  alsoDelete?: readonly string[];
};

export const FUDGE_SECONDS = 300;
export const TYPE = { A: 1, SOA: 6, AAAA: 28, TSIG: 250 } as const;
export const CLASS = { IN: 1, ANY: 255 } as const;
export const OPCODE_UPDATE = 5;

const RCODES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
  19: "BADMODE",
  20: "BADNAME",
  21: "BADALG",
  22: "BADTRUNC",
};
export const rcodeName = (code: number): string => RCODES[code] ?? `RCODE${code}`;

const MAC_BYTES: Record<TsigAlgorithm, number> = { "hmac-sha256": 32, "hmac-sha512": 64 };
const HASH: Record<TsigAlgorithm, string> = { "hmac-sha256": "sha256", "hmac-sha512": "sha512" };

/** A name without its trailing dot, lower case (DNS names compare case-insensitively). */
export function normalizeName(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

/** The wire form of a name, uncompressed; throws on an empty label or one over 63 bytes. */
export function encodeName(name: string): Uint8Array {
  const text = name.replace(/\.$/, "");
  const out: number[] = [];
  for (const label of text === "" ? [] : text.split(".")) {
    const bytes = new TextEncoder().encode(label);
    if (bytes.length === 0 || bytes.length > 63) {
      throw new RangeError(`DNS name "${name}" has a label of ${bytes.length} bytes (1-63 allowed)`);
    }
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  if (out.length > 255) throw new RangeError(`DNS name "${name}" is over 255 bytes`);
  return new Uint8Array(out);
}

/** Is `name` the zone or below it? */
export function inZone(name: string, zone: string): boolean {
  const [n, z] = [normalizeName(name), normalizeName(zone)];
  return z === "" || n === z || n.endsWith(`.${z}`);
}

class Writer {
  #bytes: number[] = [];
  u8(v: number) {
    this.#bytes.push(v & 255);
    return this;
  }
  u16(v: number) {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number) {
    return this.u16(Math.floor(v / 65536)).u16(v % 65536);
  }
  /** 48-bit unsigned (TSIG's time signed). */
  u48(v: number) {
    return this.u16(Math.floor(v / 2 ** 32)).u32(v % 2 ** 32);
  }
  raw(b: Uint8Array) {
    for (const x of b) this.#bytes.push(x);
    return this;
  }
  rr(name: string, type: number, cls: number, ttl: number, rdata: Uint8Array) {
    return this.raw(encodeName(name)).u16(type).u16(cls).u32(ttl).u16(rdata.length).raw(rdata);
  }
  done(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }
}

function addressRdata(address: string): { type: number; rdata: Uint8Array } {
  const ip = parseIp(address);
  const n = ip.version === 4 ? 4 : 16;
  const rdata = new Uint8Array(n);
  for (let i = 0; i < n; i++) rdata[i] = Number((ip.value >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return { type: ip.version === 4 ? TYPE.A : TYPE.AAAA, rdata };
}

/** The unsigned UPDATE message (ADCOUNT 0; signTsig appends the TSIG record). */
export function encodeUpdate(set: RecordSet, id: number): Uint8Array {
  if (!inZone(set.name, set.zone)) {
    throw new RangeError(`DNS name "${set.name}" is not within zone "${set.zone}"`);
  }
  if (!Number.isInteger(set.ttl) || set.ttl < 0 || set.ttl > 2 ** 31 - 1) {
    throw new RangeError(`TTL ${set.ttl} is out of range`);
  }
  const adds = set.addresses.map(addressRdata);
  const deletes = [set.name, ...(set.alsoDelete ?? [])];
  const w = new Writer()
    .u16(id).u8(OPCODE_UPDATE << 3).u8(0)
    .u16(1).u16(0).u16(deletes.length * 2 + adds.length).u16(0)
    .raw(encodeName(set.zone)).u16(TYPE.SOA).u16(CLASS.IN);
  for (const name of deletes) {
    w.rr(name, TYPE.A, CLASS.ANY, 0, new Uint8Array()).rr(name, TYPE.AAAA, CLASS.ANY, 0, new Uint8Array());
  }
  for (const a of adds) w.rr(set.name, a.type, CLASS.IN, set.ttl, a.rdata);
  return w.done();
}

type TsigFields = {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  error: number;
  other: Uint8Array;
};

/** The TSIG variables (RFC 8945 4.3.3) in canonical form: names lower case and uncompressed. */
function tsigVariables(t: TsigFields): Uint8Array {
  return new Writer()
    .raw(encodeName(normalizeName(t.keyName))).u16(CLASS.ANY).u32(0)
    .raw(encodeName(normalizeName(t.algorithm))).u48(t.timeSigned).u16(t.fudge)
    .u16(t.error).u16(t.other.length).raw(t.other)
    .done();
}

function hmac(key: TsigKey, parts: Uint8Array[]): Uint8Array {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Appends a TSIG record to `message` (a request, ADCOUNT counted up); returns the message and its MAC. */
export function signTsig(
  message: Uint8Array,
  key: TsigKey,
  timeSigned: number,
): { message: Uint8Array; mac: Uint8Array } {
  const fields = { keyName: key.name, algorithm: key.algorithm, timeSigned, fudge: FUDGE_SECONDS };
  const mac = hmac(key, [message, tsigVariables({ ...fields, error: 0, other: new Uint8Array() })]);
  const id = (message[0]! << 8) | message[1]!;
  const rdata = new Writer()
    .raw(encodeName(key.algorithm)).u48(timeSigned).u16(FUDGE_SECONDS)
    .u16(mac.length).raw(mac).u16(id).u16(0).u16(0)
    .done();
  const tsig = new Writer().rr(key.name, TYPE.TSIG, CLASS.ANY, 0, rdata).done();
  const out = new Uint8Array(message.length + tsig.length);
  out.set(message);
  out.set(tsig, message.length);
  const arcount = ((out[10]! << 8) | out[11]!) + 1;
  out[10] = arcount >> 8;
  out[11] = arcount & 255;
  return { message: out, mac };
}

/** A signed UPDATE: the bytes to send and what verifyUpdateAnswer needs to check the answer. */
export type SignedUpdate = { message: Uint8Array; id: number; mac: Uint8Array };

export function signedUpdate(set: RecordSet, key: TsigKey, id: number, nowMs: number): SignedUpdate {
  const { message, mac } = signTsig(encodeUpdate(set, id), key, Math.floor(nowMs / 1000));
  return { message, id, mac };
}

// ---- reading answers ----

export class DnsFormatError extends Error {
  override readonly name = "DnsFormatError";
}

export type ParsedRecord = {
  name: string;
  type: number;
  cls: number;
  ttl: number;
  rdata: Uint8Array;
  /** Where the record starts in the message, and where its RDATA starts. */
  offset: number;
  rdataOffset: number;
};
export type ParsedTsig = TsigFields & { mac: Uint8Array; originalId: number; offset: number };
export type ParsedMessage = {
  id: number;
  qr: boolean;
  opcode: number;
  rcode: number;
  counts: [number, number, number, number];
  /** The first section (question, or zone for UPDATE): name, type, class. */
  questions: { name: string; type: number; cls: number }[];
  answers: ParsedRecord[];
  authority: ParsedRecord[];
  additional: ParsedRecord[];
  /** The TSIG record, when it is the last additional record (the only place RFC 8945 allows). */
  tsig: ParsedTsig | null;
};

/** Reads a possibly compressed name at `offset`; `end` is where the name ends in place. */
export function readName(msg: Uint8Array, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let length = 1;
  for (let jumps = 0;; jumps++) {
    if (pos >= msg.length) throw new DnsFormatError(`name at byte ${offset} runs past the message`);
    const len = msg[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new DnsFormatError(`name at byte ${offset} runs past the message`);
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (target >= pos || jumps > 127) {
        throw new DnsFormatError(`name at byte ${offset} has a compression pointer that does not point back`);
      }
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError(`name at byte ${offset} has an unknown label type`);
    if (pos + 1 + len > msg.length) throw new DnsFormatError(`name at byte ${offset} runs past the message`);
    length += len + 1;
    if (length > 255) throw new DnsFormatError(`name at byte ${offset} is over 255 bytes`);
    labels.push(new TextDecoder().decode(msg.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join("."), end };
}

function u16(msg: Uint8Array, at: number): number {
  if (at + 2 > msg.length) throw new DnsFormatError(`message ends at byte ${msg.length}, inside a field`);
  return (msg[at]! << 8) | msg[at + 1]!;
}
const u32 = (msg: Uint8Array, at: number) => u16(msg, at) * 65536 + u16(msg, at + 2);

function parseTsig(r: ParsedRecord, msg: Uint8Array): ParsedTsig {
  const alg = readName(msg, r.rdataOffset);
  let p = alg.end;
  const timeSigned = u16(msg, p) * 2 ** 32 + u32(msg, p + 2);
  const fudge = u16(msg, p + 6);
  const macSize = u16(msg, p + 8);
  p += 10;
  const end = r.rdataOffset + r.rdata.length;
  if (p + macSize + 6 > end) throw new DnsFormatError("TSIG record's MAC runs past its data");
  const mac = msg.slice(p, p + macSize);
  p += macSize;
  const [originalId, error, otherLen] = [u16(msg, p), u16(msg, p + 2), u16(msg, p + 4)];
  p += 6;
  if (p + otherLen !== end) throw new DnsFormatError("TSIG record's length does not match its fields");
  return {
    keyName: r.name,
    algorithm: alg.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    other: msg.slice(p, p + otherLen),
    offset: r.offset,
  };
}

/** Parses a whole DNS message; throws DnsFormatError when it is malformed or has trailing bytes. */
export function parseMessage(msg: Uint8Array): ParsedMessage {
  if (msg.length < 12) throw new DnsFormatError(`message of ${msg.length} bytes is shorter than a header`);
  const flags = u16(msg, 2);
  const counts: [number, number, number, number] = [u16(msg, 4), u16(msg, 6), u16(msg, 8), u16(msg, 10)];
  let pos = 12;
  const questions = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(msg, pos);
    questions.push({ name: n.name, type: u16(msg, n.end), cls: u16(msg, n.end + 2) });
    pos = n.end + 4;
  }
  const records = (count: number) => {
    const out: ParsedRecord[] = [];
    for (let i = 0; i < count; i++) {
      const offset = pos;
      const n = readName(msg, pos);
      const rdlength = u16(msg, n.end + 8);
      const rdataOffset = n.end + 10;
      if (rdataOffset + rdlength > msg.length) {
        throw new DnsFormatError(`record at byte ${offset} runs past the message`);
      }
      out.push({
        name: n.name,
        type: u16(msg, n.end),
        cls: u16(msg, n.end + 2),
        ttl: u32(msg, n.end + 4),
        rdata: msg.slice(rdataOffset, rdataOffset + rdlength),
        offset,
        rdataOffset,
      });
      pos = rdataOffset + rdlength;
    }
    return out;
  };
  const [answers, authority, additional] = [records(counts[1]), records(counts[2]), records(counts[3])];
  if (pos !== msg.length) throw new DnsFormatError(`${msg.length - pos} bytes after the last record`);
  const last = additional.at(-1);
  if (additional.slice(0, -1).some((r) => r.type === TYPE.TSIG)) {
    throw new DnsFormatError("a TSIG record that is not the last record");
  }
  return {
    id: u16(msg, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 15,
    rcode: flags & 15,
    counts,
    questions,
    answers,
    authority,
    additional,
    tsig: last?.type === TYPE.TSIG ? parseTsig(last, msg) : null,
  };
}

/** The MAC a signed answer must carry (RFC 8945 4.3.3): over the request's MAC, the answer, its variables. */
export function answerMac(
  answer: Uint8Array,
  tsig: ParsedTsig,
  requestMac: Uint8Array,
  key: TsigKey,
): Uint8Array {
  const body = answer.slice(0, tsig.offset);
  body[0] = tsig.originalId >> 8;
  body[1] = tsig.originalId & 255;
  const arcount = u16(body, 10) - 1;
  body[10] = arcount >> 8;
  body[11] = arcount & 255;
  const prefix = new Writer().u16(requestMac.length).raw(requestMac).done();
  return hmac(key, [prefix, body, tsigVariables(tsig)]);
}

export type UpdateOutcome = { ok: true } | { ok: false; rcode: string; error: string };

const TSIG_ERRORS: Record<number, (key: TsigKey, t: ParsedTsig, set: RecordSet) => string> = {
  16: (k) =>
    `the server rejected our TSIG signature (BADSIG): the secret of key "${k.name}" differs from the server's`,
  // Knot also answers BADKEY when its ACL does not let a known key update the name.
  17: (k, _t, s) =>
    `the server does not accept TSIG key "${k.name}" (${k.algorithm}) for this update (BADKEY): it does not ` +
    `know the key, or its ACL does not let the key update "${normalizeName(s.name)}" in zone "${
      normalizeName(s.zone)
    }"`,
  18: (_k, t) => {
    const server = t.other.length === 6 ? u16(t.other, 0) * 2 ** 32 + u32(t.other, 2) : null;
    const at = server === null ? "" : `; the server's time is ${new Date(server * 1000).toISOString()}`;
    return `the server's clock and ours differ by more than ${FUDGE_SECONDS} s (BADTIME${at})`;
  },
  21: (k) => `the server does not support the TSIG algorithm ${k.algorithm} (BADALG)`,
  22: () => "the server rejected our truncated MAC (BADTRUNC)",
};

const RCODE_ERRORS: Record<number, (set: RecordSet, key: TsigKey) => string> = {
  1: () => "the server could not parse the update (FORMERR)",
  2: () => "the server failed to apply the update (SERVFAIL)",
  4: () => "the server does not implement dynamic updates (NOTIMP)",
  5: (s, k) =>
    `the server refused the update (REFUSED): allow key "${k.name}" to update zone "${
      normalizeName(s.zone)
    }" in its ACL`,
  9: (s) => `the server is not authoritative for zone "${normalizeName(s.zone)}" (NOTAUTH)`,
  10: (s) => `"${normalizeName(s.name)}" is not within zone "${normalizeName(s.zone)}" (NOTZONE)`,
};

/** Checks the server's answer to a signed UPDATE: its id, its TSIG signature and time, then its rcode. */
export function verifyUpdateAnswer(
  answer: Uint8Array,
  request: SignedUpdate,
  set: RecordSet,
  key: TsigKey,
  nowMs: number,
): UpdateOutcome {
  const fail = (rcode: string, error: string): UpdateOutcome => ({ ok: false, rcode, error });
  let m: ParsedMessage;
  try {
    m = parseMessage(answer);
  } catch (err) {
    return fail("FORMERR", `malformed answer: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (m.id !== request.id || !m.qr || m.opcode !== OPCODE_UPDATE) {
    return fail("FORMERR", `the answer (id ${m.id}) is not an answer to our update (id ${request.id})`);
  }
  const t = m.tsig;
  if (t && t.error !== 0) {
    const explain = TSIG_ERRORS[t.error];
    return fail(rcodeName(t.error), explain ? explain(key, t, set) : `TSIG error ${rcodeName(t.error)}`);
  }
  if (!t || t.mac.length === 0) {
    // An unsigned error answer can still say why; an unsigned success cannot be trusted.
    if (m.rcode !== 0) return rcodeFailure(m.rcode, set, key, " (answer not signed)");
    return fail("BADSIG", "the answer is not signed with our TSIG key: cannot trust it");
  }
  if (normalizeName(t.keyName) !== normalizeName(key.name) || normalizeName(t.algorithm) !== key.algorithm) {
    return fail("BADKEY", `the answer is signed with key "${t.keyName}" (${t.algorithm}), not ours`);
  }
  if (t.mac.length !== MAC_BYTES[key.algorithm]) {
    return fail("BADTRUNC", `the answer's MAC is ${t.mac.length} bytes, not ${MAC_BYTES[key.algorithm]}`);
  }
  const expected = answerMac(answer, t, request.mac, key);
  if (!timingSafeEqual(expected, t.mac)) {
    return fail("BADSIG", "the answer's TSIG signature does not verify: wrong secret or altered answer");
  }
  const skew = Math.abs(Math.floor(nowMs / 1000) - t.timeSigned);
  if (skew > t.fudge) {
    return fail("BADTIME", `the answer was signed ${skew} s away from our clock (fudge ${t.fudge} s)`);
  }
  return m.rcode === 0 ? { ok: true } : rcodeFailure(m.rcode, set, key, "");
}

function rcodeFailure(rcode: number, set: RecordSet, key: TsigKey, suffix: string): UpdateOutcome {
  const explain = RCODE_ERRORS[rcode];
  const error = (explain ? explain(set, key) : `the server answered ${rcodeName(rcode)}`) + suffix;
  return { ok: false, rcode: rcodeName(rcode), error };
}

/** A TSIG secret from its base64 form (as in knot's and BIND's key files). */
export function tsigSecret(base64: string): Uint8Array {
  const text = base64.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new RangeError("TSIG secret is not base64");
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
