// Unbound's query log as dnstap: the Frame Streams protocol (bidirectional, as Unbound speaks it on a
// unix socket), the few protobuf fields of a dnstap Message we read, and the DNS wire format of the
// response Unbound sent the client. Pure: bytes in, values out.
//
// Frame Streams: a data frame is a 32-bit big-endian length and the payload; a control frame starts with
// a zero length ("escape"), then the control frame's length, its type and fields. The writer (Unbound)
// sends READY, we answer ACCEPT, it sends START, data frames, and STOP, which we answer with FINISH.

export const CONTENT_TYPE = "protobuf:dnstap.Dnstap";
export const CONTROL = { ACCEPT: 1, START: 2, STOP: 3, READY: 4, FINISH: 5 } as const;
/** Frames larger than this are refused (a dnstap message of one DNS reply is far smaller). */
export const MAX_FRAME = 256 * 1024;

export type Frame =
  | { kind: "control"; type: number; contentTypes: string[] }
  | { kind: "data"; payload: Uint8Array };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A control frame (escape, length, type, one content-type field unless FINISH). */
export function controlFrame(type: number, contentType: string | null = CONTENT_TYPE): Uint8Array {
  const ct = contentType === null ? new Uint8Array() : enc.encode(contentType);
  const fieldLen = contentType === null ? 0 : 8 + ct.length;
  const out = new Uint8Array(12 + fieldLen);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0);
  v.setUint32(4, 4 + fieldLen);
  v.setUint32(8, type);
  if (contentType !== null) {
    v.setUint32(12, 1); // FSTRM_CONTROL_FIELD_CONTENT_TYPE
    v.setUint32(16, ct.length);
    out.set(ct, 20);
  }
  return out;
}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameReader {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): Frame[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    const frames: Frame[] = [];
    let at = 0;
    const view = new DataView(joined.buffer);
    while (joined.length - at >= 4) {
      const len = view.getUint32(at);
      if (len > 0) {
        if (len > MAX_FRAME) throw new Error(`dnstap frame of ${len} bytes exceeds ${MAX_FRAME}`);
        if (joined.length - at - 4 < len) break;
        frames.push({ kind: "data", payload: joined.slice(at + 4, at + 4 + len) });
        at += 4 + len;
        continue;
      }
      if (joined.length - at < 8) break;
      const clen = view.getUint32(at + 4);
      if (clen < 4 || clen > 512) throw new Error(`bad Frame Streams control frame length ${clen}`);
      if (joined.length - at - 8 < clen) break;
      const type = view.getUint32(at + 8);
      const contentTypes: string[] = [];
      let f = at + 12;
      while (f + 8 <= at + 8 + clen) {
        const flen = view.getUint32(f + 4);
        if (view.getUint32(f) === 1) contentTypes.push(dec.decode(joined.subarray(f + 8, f + 8 + flen)));
        f += 8 + flen;
      }
      frames.push({ kind: "control", type, contentTypes });
      at += 8 + clen;
    }
    this.#buf = joined.slice(at);
    return frames;
  }
}

// --- protobuf (only what dnstap needs: varints, length-delimited, fixed32/64) -----------------------

type Field = { no: number; wire: number; int: bigint; bytes: Uint8Array | null };

function* fields(b: Uint8Array): Generator<Field> {
  let i = 0;
  const varint = (): bigint => {
    let out = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= b.length) throw new Error("truncated protobuf varint");
      const byte = b[i++]!;
      out |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return out;
      shift += 7n;
      if (shift > 63n) throw new Error("protobuf varint too long");
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { no, wire, int: varint(), bytes: null };
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > b.length) throw new Error("truncated protobuf field");
      yield { no, wire, int: 0n, bytes: b.subarray(i, i + len) };
      i += len;
    } else if (wire === 5 || wire === 1) {
      const n = wire === 5 ? 4 : 8;
      if (i + n > b.length) throw new Error("truncated protobuf field");
      let v = 0n;
      for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[i + k]!);
      yield { no, wire, int: v, bytes: null };
      i += n;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

export const MESSAGE_TYPE = { CLIENT_QUERY: 5, CLIENT_RESPONSE: 6 } as const;

export type DnstapMessage = {
  type: number;
  /** The client's address (text) and port. */
  client: string | null;
  clientPort: number | null;
  /** Response time (or query time when absent), ms since the epoch. */
  at: number;
  response: Uint8Array | null;
};

function ipText(b: Uint8Array): string | null {
  if (b.length === 4) return [...b].join(".");
  if (b.length !== 16) return null;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952: the longest run (2+) of zero groups becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** The Message of one dnstap frame, or null for frames that carry none. */
export function decodeDnstap(payload: Uint8Array): DnstapMessage | null {
  let message: Uint8Array | null = null;
  for (const f of fields(payload)) if (f.no === 14 && f.bytes) message = f.bytes;
  if (!message) return null;
  const m: DnstapMessage = { type: 0, client: null, clientPort: null, at: 0, response: null };
  let qs = 0n, qns = 0n, rs = 0n, rns = 0n;
  for (const f of fields(message)) {
    if (f.no === 1) m.type = Number(f.int);
    else if (f.no === 4 && f.bytes) m.client = ipText(f.bytes);
    else if (f.no === 6) m.clientPort = Number(f.int);
    else if (f.no === 8) qs = f.int;
    else if (f.no === 9) qns = f.int;
    else if (f.no === 12) rs = f.int;
    else if (f.no === 13) rns = f.int;
    else if (f.no === 14 && f.bytes) m.response = f.bytes.slice();
  }
  const [s, ns] = rs > 0n ? [rs, rns] : [qs, qns];
  m.at = Number(s) * 1000 + Math.floor(Number(ns) / 1e6);
  return m;
}

// --- DNS messages -----------------------------------------------------------------------------------

export const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];
const TYPES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  64: "SVCB",
  65: "HTTPS",
  255: "ANY",
};
export const typeName = (t: number) => TYPES[t] ?? `TYPE${t}`;

export type DnsAnswer = { name: string; type: string; data: string };
export type DnsReply = { rcode: string; qname: string; qtype: string; answers: DnsAnswer[] };

function readName(b: Uint8Array, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = start;
  let end = -1;
  for (let hops = 0; hops < 64; hops++) {
    if (i >= b.length) throw new Error("truncated DNS name");
    const len = b[i]!;
    if (len === 0) {
      if (end < 0) end = i + 1;
      return { name: labels.length ? labels.join(".") + "." : ".", end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = i + 2;
      i = ((len & 0x3f) << 8) | b[i + 1]!;
      continue;
    }
    labels.push(dec.decode(b.subarray(i + 1, i + 1 + len)).toLowerCase());
    i += 1 + len;
  }
  throw new Error("DNS name with too many labels or a pointer loop");
}

/** The question and the answer section of a DNS response (A, AAAA, CNAME and PTR data as text). */
export function parseDnsReply(b: Uint8Array): DnsReply {
  if (b.length < 12) throw new Error("DNS message shorter than its header");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const rcode = RCODES[b[3]! & 0x0f] ?? `RCODE${b[3]! & 0x0f}`;
  const qd = v.getUint16(4), an = v.getUint16(6);
  let at = 12;
  let qname = "", qtype = "";
  for (let q = 0; q < qd; q++) {
    const n = readName(b, at);
    if (q === 0) [qname, qtype] = [n.name, typeName(v.getUint16(n.end))];
    at = n.end + 4;
  }
  const answers: DnsAnswer[] = [];
  for (let a = 0; a < an && at < b.length; a++) {
    const n = readName(b, at);
    const type = v.getUint16(n.end);
    const rdlen = v.getUint16(n.end + 8);
    const rd = n.end + 10;
    if (rd + rdlen > b.length) throw new Error("truncated DNS record");
    let data = `(${rdlen} bytes)`;
    if (type === 1 || type === 28) data = ipText(b.subarray(rd, rd + rdlen)) ?? data;
    else if (type === 5 || type === 12) data = readName(b, rd).name;
    answers.push({ name: n.name, type: typeName(type), data });
    at = rd + rdlen;
  }
  return { rcode, qname, qtype, answers };
}
