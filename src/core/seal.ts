// Secrets at rest: AES-256-GCM under keys derived with HKDF-SHA256 from WIREBUDDY_SECRET_KEY. Each
// purpose gets its own derived key (sealing, token HMAC, ...), so one never doubles as another.
import { AppError } from "./errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SEAL_PREFIX = "v1.";
/** The plaintext of the check value stored in the database to detect a wrong secret key. */
export const KEY_CHECK_PLAINTEXT = "wirebuddy secret key check v1";

export type KeyPurpose = "seal" | "token-hmac" | "session";

async function hkdfBase(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, [
    "deriveKey",
    "deriveBits",
  ]);
}

function hkdfParams(purpose: KeyPurpose): HkdfParams {
  return {
    name: "HKDF",
    hash: "SHA-256",
    salt: encoder.encode("wirebuddy/hkdf/v1"),
    info: encoder.encode(purpose),
  };
}

/** The AES-256-GCM key used to seal private keys, PSKs and other secrets in the database. */
export async function deriveSealKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.deriveKey(
    hkdfParams("seal"),
    await hkdfBase(secret),
    { name: "AES-GCM", length: 256 },
    false,
    [
      "encrypt",
      "decrypt",
    ],
  );
}

/** An HMAC-SHA256 key for signing tokens (setup links, enrollment tokens). */
export async function deriveHmacKey(secret: string, purpose: KeyPurpose = "token-hmac"): Promise<CryptoKey> {
  return await crypto.subtle.deriveKey(
    hkdfParams(purpose),
    await hkdfBase(secret),
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}

/** Seals `plaintext`; `context` (e.g. "peer:42:private_key") is bound as additional data. */
export async function seal(key: CryptoKey, plaintext: string, context = ""): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
      key,
      encoder.encode(plaintext),
    ),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return SEAL_PREFIX + toBase64(out);
}

/** Opens a sealed value; throws AppError("config") when the key (or context) does not match. */
export async function unseal(key: CryptoKey, sealed: string, context = ""): Promise<string> {
  if (!sealed.startsWith(SEAL_PREFIX)) throw new AppError("internal", "sealed value has an unknown format");
  const raw = fromBase64(sealed.slice(SEAL_PREFIX.length));
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: raw.subarray(0, 12), additionalData: encoder.encode(context) },
      key,
      raw.subarray(12),
    );
    return decoder.decode(pt);
  } catch (cause) {
    throw new AppError("config", "a sealed secret cannot be opened with this WIREBUDDY_SECRET_KEY", {
      cause,
    });
  }
}

export async function sha256Hex(text: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const data = typeof text === "string" ? encoder.encode(text) : text;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A random token of `bytes` bytes, base64url, with an optional readable prefix (`wbt_...`). */
export function randomToken(bytes = 32, prefix = ""): string {
  return prefix + toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}
