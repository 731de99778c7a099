// The enrollment token (DESIGN §2), split out of sync.ts and re-exported from it: HMAC-signed with a key
// derived from WIREBUDDY_SECRET_KEY, so it cannot be forged; it carries the master URL, the node id, a
// one-time secret, the SHA-256 pin of the master's TLS certificate and the master's response-verification
// key. Packed in binary (about 270 characters); the older JSON tokens that carried the whole certificate
// still read. Pure (WebCrypto only).
import { z } from "zod";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./seal.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The first token format (JSON with the whole certificate); still read. */
export const TOKEN_PREFIX = "wbn1.";
/** The packed format every new token has. */
export const TOKEN_PREFIX_V2 = "wbn2.";
export const TokenPayloadSchema = z.object({
  v: z.literal(1),
  url: z.url({ protocol: /^https?$/ }),
  node_id: z.number().int().positive(),
  secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  exp: z.number().int(),
  /**
   * The SHA-256 pin of the master's certificate (null with a publicly trusted one), and the certificate
   * (PEM) itself in old tokens; new ones leave it out and the node fetches it, checked against the pin.
   */
  tls: z.object({ cert: z.string().max(4000).optional(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
    .nullable(),
  /** The master's response-verification key: SPKI, base64. */
  verify_key: z.string().max(400),
});
export type TokenPayload = z.infer<typeof TokenPayloadSchema>;

// The packed token: "wbn2." + base64url(body ‖ HMAC-SHA256("wbn2." ‖ body)), body =
//   flags (1: bit 0 = a TLS pin follows) ‖ node id (4) ‖ expiry in ms (6) ‖ secret (32) ‖ [pin (32)] ‖
//   verification key, an uncompressed P-256 point (65) ‖ the master URL (UTF-8, the rest).
const SPKI_P256_HEADER = fromHex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
const MAC_BYTES = 32;

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
}
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function packBody(p: TokenPayload): Uint8Array<ArrayBuffer> {
  const spki = fromBase64(p.verify_key);
  if (spki.length !== 91 || !SPKI_P256_HEADER.every((b, i) => spki[i] === b)) {
    throw new Error("the verification key is not an uncompressed P-256 public key");
  }
  const fixed = new Uint8Array(11);
  const view = new DataView(fixed.buffer);
  fixed[0] = p.tls ? 1 : 0;
  view.setUint32(1, p.node_id);
  view.setUint16(5, Math.floor(p.exp / 2 ** 32));
  view.setUint32(7, p.exp % 2 ** 32);
  return concat(
    fixed,
    fromBase64Url(p.secret),
    p.tls ? fromHex(p.tls.sha256) : new Uint8Array(0),
    spki.subarray(SPKI_P256_HEADER.length),
    encoder.encode(p.url),
  );
}

function unpackBody(body: Uint8Array): TokenPayload | null {
  const pinned = body[0] === 1;
  const min = 11 + 32 + (pinned ? 32 : 0) + 65 + 1;
  if ((body[0] !== 0 && body[0] !== 1) || body.length < min) return null;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 11;
  const take = (n: number) => body.subarray(at, at += n);
  const secret = toBase64Url(take(32));
  const pin = pinned ? toHex(take(32)) : null;
  const point = take(65);
  const parsed = TokenPayloadSchema.safeParse({
    v: 1,
    url: decoder.decode(body.subarray(at)),
    node_id: view.getUint32(1),
    secret,
    exp: view.getUint16(5) * 2 ** 32 + view.getUint32(7),
    tls: pin ? { sha256: pin } : null,
    verify_key: toBase64(concat(SPKI_P256_HEADER, point)),
  });
  return parsed.success ? parsed.data : null;
}

/** A new token (packed; the certificate itself is left out, its pin stays). */
export async function encodeToken(payload: TokenPayload, hmacKey: CryptoKey): Promise<string> {
  const body = packBody(payload);
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", hmacKey, concat(encoder.encode(TOKEN_PREFIX_V2), body)),
  );
  return TOKEN_PREFIX_V2 + toBase64Url(concat(body, mac));
}

const V1 = /^wbn1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;
const V2 = /^wbn2\.([A-Za-z0-9_-]{150,1400})$/;

/** Reads a token (either format) without checking its MAC (the node cannot; the master does on enrollment). */
export function readToken(token: string): TokenPayload | null {
  const t = token.trim();
  try {
    const v2 = t.match(V2);
    if (v2) {
      const raw = fromBase64Url(v2[1]!);
      return raw.length > MAC_BYTES ? unpackBody(raw.subarray(0, raw.length - MAC_BYTES)) : null;
    }
    const m = t.match(V1);
    if (!m) return null;
    const parsed = TokenPayloadSchema.safeParse(JSON.parse(decoder.decode(fromBase64Url(m[1]!))));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The payload when the token's MAC is valid (constant time), else null. */
export async function verifyToken(token: string, hmacKey: CryptoKey): Promise<TokenPayload | null> {
  const t = token.trim();
  const v2 = t.match(V2);
  if (v2) {
    const raw = fromBase64Url(v2[1]!);
    if (raw.length <= MAC_BYTES) return null;
    const body = raw.subarray(0, raw.length - MAC_BYTES);
    const ok = await crypto.subtle.verify(
      "HMAC",
      hmacKey,
      raw.subarray(raw.length - MAC_BYTES),
      concat(encoder.encode(TOKEN_PREFIX_V2), body),
    );
    return ok ? unpackBody(body) : null;
  }
  const m = t.match(V1);
  if (!m) return null;
  const ok = await crypto.subtle.verify(
    "HMAC",
    hmacKey,
    fromBase64Url(m[2]!),
    encoder.encode(TOKEN_PREFIX + m[1]),
  );
  return ok ? readToken(t) : null;
}

/**
 * The master's certificate chain as the node trusts it: PEM of the certificates the master presented,
 * when the first one's SHA-256 is the token's pin; an error otherwise (someone else answered).
 */
export async function pinnedChainPem(chain: Uint8Array[], pin: string): Promise<string> {
  const leaf = chain[0];
  if (!leaf) throw new Error("the master presented no certificate");
  const got = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", concat(leaf))));
  if (got !== pin) {
    throw new Error(
      `the master's TLS certificate does not match the token's pin (sha256 ${got}, expected ${pin}): refusing it`,
    );
  }
  return chain.map((der) =>
    `-----BEGIN CERTIFICATE-----\n${
      toBase64(concat(der)).replace(/(.{64})/g, "$1\n").replace(/\n$/, "")
    }\n-----END CERTIFICATE-----\n`
  ).join("");
}
