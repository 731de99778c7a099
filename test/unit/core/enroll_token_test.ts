import assert from "node:assert/strict";
import {
  encodeToken,
  exportPublicKey,
  generateSigningKeys,
  pinnedChainPem,
  readToken,
  TOKEN_PREFIX,
  type TokenPayload,
  verifyToken,
} from "../../../src/core/sync.ts";
import { certFingerprint, selfSignedCert } from "../../../src/core/x509.ts";
import { fromBase64, randomToken, toBase64Url } from "../../../src/core/seal.ts";

const hmac = (secret: string) =>
  crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);

async function payload(): Promise<TokenPayload> {
  const cert = await selfSignedCert("wb.test", { dns: ["wb.test"], ip: ["127.0.0.1"] }, new Date());
  return {
    v: 1,
    url: "https://vpn.example.com:8443",
    node_id: 4242,
    secret: randomToken(32),
    exp: Date.UTC(2026, 10, 23, 10, 0, 0, 123),
    tls: { cert: cert.certPem, sha256: cert.fingerprint },
    verify_key: await exportPublicKey((await generateSigningKeys()).publicKey),
  };
}

/** A token in the first format (JSON with the whole certificate), as masters made them before. */
async function oldToken(p: TokenPayload, key: CryptoKey): Promise<string> {
  const body = toBase64Url(new TextEncoder().encode(JSON.stringify(p)));
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(TOKEN_PREFIX + body)),
  );
  return `${TOKEN_PREFIX}${body}.${toBase64Url(mac)}`;
}

Deno.test("an enrollment token is short to paste and proves the same: id, secret, expiry, TLS pin, verification key, URL", async () => {
  const key = await hmac("master secret");
  const p = await payload();
  const token = await encodeToken(p, key);
  assert.match(token, /^wbn2\.[A-Za-z0-9_-]+$/);
  assert.ok(token.length < 300, `${token.length} characters (the JSON token was about 1,350)`);
  const { cert: _cert, ...tls } = p.tls!;
  const expected = { ...p, tls };
  assert.deepEqual(readToken(token), expected, "the node reads everything but the certificate itself");
  assert.deepEqual(await verifyToken(token, key), expected, "the master verifies its MAC");
  assert.deepEqual(await verifyToken(`  ${token}\n`, key), expected, "pasted with whitespace");

  // Not forgeable: another master's key, or any changed character, is refused.
  assert.equal(await verifyToken(token, await hmac("another master")), null);
  const raw = token.slice(5);
  for (const at of [0, 5, 20, 60, raw.length - 50, raw.length - 1]) {
    const c = raw[at] === "A" ? "B" : "A";
    const bad = `wbn2.${raw.slice(0, at)}${c}${raw.slice(at + 1)}`;
    assert.equal(await verifyToken(bad, key), null, `a change at ${at}`);
  }
  assert.equal(readToken("wbn2.short"), null);
  assert.equal(readToken("wbn3." + raw), null);

  // Without a pin (a publicly trusted certificate) it is shorter still.
  const plain = await encodeToken({ ...p, tls: null, url: "https://vpn.example.com" }, key);
  assert.deepEqual(await verifyToken(plain, key), { ...p, tls: null, url: "https://vpn.example.com" });
});

Deno.test("tokens in the first (JSON) format still read and verify", async () => {
  const key = await hmac("master secret");
  const p = await payload();
  const old = await oldToken(p, key);
  assert.ok(old.length > 1000);
  assert.deepEqual(readToken(old), p, "with the certificate it carries");
  assert.deepEqual(await verifyToken(old, key), p);
  assert.equal(await verifyToken(old, await hmac("another master")), null);
});

Deno.test("the node trusts the master's certificate only when it matches the token's pin", async () => {
  const cert = await selfSignedCert("wb.test", { ip: ["127.0.0.1"] }, new Date());
  const der = fromBase64(cert.certPem.replace(/-----[A-Z ]+-----|\s/g, ""));
  const pem = await pinnedChainPem([der], cert.fingerprint);
  assert.match(pem, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/);
  assert.equal(await certFingerprint(pem), cert.fingerprint, "the same certificate, as PEM");
  const other = await selfSignedCert("evil.test", { ip: ["127.0.0.1"] }, new Date());
  const otherDer = fromBase64(other.certPem.replace(/-----[A-Z ]+-----|\s/g, ""));
  await assert.rejects(() => pinnedChainPem([otherDer], cert.fingerprint), /does not match the token's pin/);
  await assert.rejects(() => pinnedChainPem([], cert.fingerprint), /presented no certificate/);
});
