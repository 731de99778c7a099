// WireGuard keys in-process: Curve25519 (X25519) through WebCrypto, in the base64 text form `wg` uses.
// Gives the same results as `wg genkey`, `wg pubkey` and `wg genpsk`, without a subprocess or a key in argv.
import { AppError } from "./errors.ts";

export type WgKeyPair = { privateKey: string; publicKey: string };

/** 32 bytes in standard base64: 43 characters, the last of which encodes only 4 bits, then "=". */
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** PKCS#8 header of an X25519 private key (RFC 8410): the 32 raw key bytes follow it. */
const PKCS8_X25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** True for a WireGuard key in text form (private, public or preshared look the same). */
export function isWgKey(s: unknown): s is string {
  return typeof s === "string" && WG_KEY.test(s);
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Decodes a WireGuard key to its 32 bytes; throws a validation AppError (never quoting the key). */
export function decodeWgKey(key: string, what = "key"): Uint8Array {
  if (!isWgKey(key)) throw new AppError("validation", `Invalid ${what}: must be 44 characters of base64`);
  return decodeBase64(key);
}

/** Clamps a Curve25519 scalar in place as `wg genkey` does (RFC 7748): clear bits 0-2 and 255, set 254. */
export function clampPrivateKey(bytes: Uint8Array): Uint8Array {
  bytes[0] &= 248;
  bytes[31] = (bytes[31] & 127) | 64;
  return bytes;
}

/**
 * Derives the public key of a private key, equal to `wg pubkey`. X25519 clamps the scalar itself, so an
 * unclamped private key gives the same public key as its clamped form, as with `wg`.
 */
export async function publicKeyFromPrivate(privateKey: string): Promise<string> {
  const raw = decodeWgKey(privateKey, "private key");
  const pkcs8 = new Uint8Array(PKCS8_X25519_PREFIX.length + 32);
  pkcs8.set(PKCS8_X25519_PREFIX);
  pkcs8.set(raw, PKCS8_X25519_PREFIX.length);
  raw.fill(0);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  pkcs8.fill(0);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (typeof jwk.x !== "string") throw new AppError("internal", "X25519 JWK export has no public value");
  return base64UrlToBase64(jwk.x);
}

function base64UrlToBase64(text: string): string {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return b64 + "=".repeat((4 - (b64.length % 4)) % 4);
}

/** A new clamped private key, like `wg genkey`. */
export function generatePrivateKey(): string {
  const bytes = clampPrivateKey(crypto.getRandomValues(new Uint8Array(32)));
  const text = encodeBase64(bytes);
  bytes.fill(0);
  return text;
}

/** A new key pair, like `wg genkey | tee private | wg pubkey`. */
export async function generateKeyPair(): Promise<WgKeyPair> {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: await publicKeyFromPrivate(privateKey) };
}

/** A new preshared key: 32 random bytes, like `wg genpsk`. */
export function generatePresharedKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
}
