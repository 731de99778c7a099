// A fake authoritative server for RFC 2136 UPDATEs signed with TSIG, written from the RFCs apart from
// src/core/dns_update.ts's signing code: it checks the request's MAC itself, applies the update to an
// in-memory zone and signs its answer (RFC 8945 4.3.3). Unit tests use it as the publisher's
// DnsExchange; the real-server test is test/integration/pool_dns_test.ts (knot).
import { createHmac, timingSafeEqual } from "node:crypto";
import { canonicalIp } from "../../src/core/cidr.ts";
import { type ParsedTsig, parseMessage } from "../../src/core/dns_update.ts";

export type FakeKey = { name: string; algorithm: "hmac-sha256" | "hmac-sha512"; secret: Uint8Array };

export const nameBytes = (name: string): number[] => [
  ...name.replace(/\.$/, "").split(".").filter(Boolean).flatMap((
    l,
  ) => [l.length, ...new TextEncoder().encode(l)]),
  0,
];
const be = (v: number, n: number) =>
  Array.from({ length: n }, (_, i) => Math.floor(v / 256 ** (n - 1 - i)) & 255);

/** TSIG variables as RFC 8945 4.3.3 lists them. */
export function tsigVars(t: {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  error: number;
  other: Uint8Array;
}): Uint8Array {
  return new Uint8Array([
    ...nameBytes(t.keyName.toLowerCase()),
    ...be(255, 2),
    ...be(0, 4),
    ...nameBytes(t.algorithm.toLowerCase()),
    ...be(t.timeSigned, 6),
    ...be(t.fudge, 2),
    ...be(t.error, 2),
    ...be(t.other.length, 2),
    ...t.other,
  ]);
}

export function hmacOf(alg: string, secret: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const h = createHmac(alg === "hmac-sha512" ? "sha512" : "sha256", secret);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** The message before its TSIG record, with ADCOUNT one less and the original id. */
export function withoutTsig(msg: Uint8Array, t: ParsedTsig): Uint8Array {
  const body = msg.slice(0, t.offset);
  const ar = ((body[10]! << 8) | body[11]!) - 1;
  body[10] = ar >> 8;
  body[11] = ar & 255;
  body[0] = t.originalId >> 8;
  body[1] = t.originalId & 255;
  return body;
}

/** A TSIG record (owner name written out in full, or `ownerBytes` e.g. with a compression pointer). */
export function tsigRecord(o: {
  keyName: string;
  ownerBytes?: number[];
  algorithm: string;
  timeSigned: number;
  fudge?: number;
  mac: Uint8Array;
  originalId: number;
  error?: number;
  other?: Uint8Array;
}): number[] {
  const other = o.other ?? new Uint8Array();
  const rdata = [
    ...nameBytes(o.algorithm),
    ...be(o.timeSigned, 6),
    ...be(o.fudge ?? 300, 2),
    ...be(o.mac.length, 2),
    ...o.mac,
    ...be(o.originalId, 2),
    ...be(o.error ?? 0, 2),
    ...be(other.length, 2),
    ...other,
  ];
  return [
    ...(o.ownerBytes ?? nameBytes(o.keyName)),
    0,
    250,
    0,
    255,
    0,
    0,
    0,
    0,
    ...be(rdata.length, 2),
    ...rdata,
  ];
}

/** An answer to `requestId`: header, the zone section echoed, then (if given) a TSIG record. */
export function answerHeaderAndZone(
  requestId: number,
  rcode: number,
  zone: string,
  arcount: number,
): number[] {
  return [...be(requestId, 2), 0xa8, rcode, 0, 1, 0, 0, 0, 0, 0, arcount, ...nameBytes(zone), 0, 6, 0, 1];
}

/** Signs an answer body for the request whose MAC was `requestMac`. */
export function signAnswer(
  body: number[],
  key: FakeKey,
  requestMac: Uint8Array,
  timeSigned: number,
  id: number,
  ownerBytes?: number[],
): Uint8Array {
  const bytes = new Uint8Array(body);
  const vars = tsigVars({
    keyName: key.name,
    algorithm: key.algorithm,
    timeSigned,
    fudge: 300,
    error: 0,
    other: new Uint8Array(),
  });
  const mac = hmacOf(key.algorithm, key.secret, [
    new Uint8Array([...be(requestMac.length, 2), ...requestMac]),
    bytes,
    vars,
  ]);
  const withCount = [...body];
  withCount[11] = withCount[11]! + 1;
  return new Uint8Array([
    ...withCount,
    ...tsigRecord({
      keyName: key.name,
      ownerBytes,
      algorithm: key.algorithm,
      timeSigned,
      mac,
      originalId: id,
    }),
  ]);
}

/** The fake server: zone -> name -> addresses (as in the record's RDATA, formatted). */
export class FakeUpdateServer {
  readonly records = new Map<string, string[]>();
  readonly requests: Uint8Array[] = [];
  /** Seconds since the epoch the server signs with. */
  now = () => Math.floor(Date.now() / 1000);

  constructor(readonly zone: string, readonly key: FakeKey) {}

  /** Answers one UPDATE (as a DnsExchange would return it). */
  answer(request: Uint8Array): Uint8Array {
    this.requests.push(request);
    const m = parseMessage(request);
    const t = m.tsig;
    const zone = m.questions[0]?.name ?? "";
    if (!t) return new Uint8Array(answerHeaderAndZone(m.id, 5, zone, 0));
    if (t.keyName.toLowerCase() !== this.key.name.toLowerCase()) return this.#unsigned(m.id, zone, t, 17);
    const expected = hmacOf(this.key.algorithm, this.key.secret, [withoutTsig(request, t), tsigVars(t)]);
    if (expected.length !== t.mac.length || !timingSafeEqual(expected, t.mac)) {
      return this.#unsigned(m.id, zone, t, 16);
    }
    if (zone !== this.zone) {
      return signAnswer(answerHeaderAndZone(m.id, 9, zone, 0), this.key, t.mac, this.now(), m.id);
    }
    // An UPDATE's sections are zone, prerequisite, update, additional: parseMessage's questions,
    // answers, authority and additional.
    for (const r of m.authority) {
      if (r.cls === 255) {
        this.records.set(
          r.name,
          (this.records.get(r.name) ?? []).filter((a) => !sameType(a, r.type)),
        );
      } else if (r.cls === 1) {
        this.records.set(r.name, [...(this.records.get(r.name) ?? []), formatRdata(r.rdata)]);
      }
    }
    return signAnswer(answerHeaderAndZone(m.id, 0, zone, 0), this.key, t.mac, this.now(), m.id);
  }

  #unsigned(id: number, zone: string, t: ParsedTsig, error: number): Uint8Array {
    return new Uint8Array([
      ...answerHeaderAndZone(id, 9, zone, 1),
      ...tsigRecord({
        keyName: t.keyName,
        algorithm: t.algorithm,
        timeSigned: this.now(),
        mac: new Uint8Array(),
        originalId: id,
        error,
      }),
    ]);
  }
}

const sameType = (addr: string, type: number) => (type === 28) === addr.includes(":");

function formatRdata(rdata: Uint8Array): string {
  if (rdata.length === 4) return [...rdata].join(".");
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((rdata[i]! << 8) | rdata[i + 1]!).toString(16));
  return canonicalIp(groups.join(":"));
}
