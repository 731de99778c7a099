import assert from "node:assert/strict";
import { AppError } from "../../../src/core/errors.ts";
import {
  clampPrivateKey,
  decodeWgKey,
  generateKeyPair,
  generatePresharedKey,
  generatePrivateKey,
  isWgKey,
  publicKeyFromPrivate,
} from "../../../src/core/wg_keys.ts";

// Computed once with wireguard-tools: `echo PRIVATE | wg pubkey`.
const WG_PUBKEY_VECTORS: { name: string; privateKey: string; publicKey: string }[] = [
  {
    name: "wg genkey output",
    privateKey: "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFg=",
    publicKey: "XpZUsI1/9UYyG6nqtakvU9nWfkDb5VpmVjXpguX7VSo=",
  },
  {
    name: "wg genkey output with + and /",
    privateKey: "iMU00o2/+Wb/J6T7PiWa4ZvuQfhH4Zjkvq33QdNfJFk=",
    publicKey: "83lqNFkF+nmIODGCmWK6XmFMrqS6fzFKD6A09e4EAD0=",
  },
  {
    name: "wg genkey output starting with A",
    privateKey: "APRHvcu7wxcpDrBjukA93lNKIqvfR1tcZvuYfuYkWnw=",
    publicKey: "jDZxAYUa8AVsUDVOOPT4TIsE3QMlaRcxZHjy1ng790o=",
  },
  {
    name: "unclamped all-zero key",
    privateKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    publicKey: "L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=",
  },
  {
    name: "unclamped all-ones key",
    privateKey: "//////////////////////////////////////////8=",
    publicKey: "hHwNLDdSNPNl5mCVUYejc1oPdhPRYJ06ak2MU66qWiI=",
  },
  {
    name: "unclamped bytes 0..31",
    privateKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    publicKey: "j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8=",
  },
];

for (const v of WG_PUBKEY_VECTORS) {
  Deno.test(`publicKeyFromPrivate() equals wg pubkey for ${v.name}`, async () => {
    assert.equal(await publicKeyFromPrivate(v.privateKey), v.publicKey);
  });
}

const NOT_KEYS: { name: string; value: unknown }[] = [
  { name: "empty string", value: "" },
  { name: "43 characters without padding", value: "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFg" },
  { name: "base64url alphabet", value: "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXb_Fg=" },
  { name: "non-zero padding bits", value: "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFh=" },
  { name: "a trailing newline", value: "cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFg=\n" },
  { name: "33 bytes", value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
  { name: "a number", value: 42 },
  { name: "undefined", value: undefined },
];

for (const c of NOT_KEYS) {
  Deno.test(`isWgKey() rejects ${c.name}`, () => {
    assert.equal(isWgKey(c.value), false);
  });
}

Deno.test("isWgKey() accepts private, public and preshared keys", () => {
  for (const v of WG_PUBKEY_VECTORS) {
    assert.ok(isWgKey(v.privateKey));
    assert.ok(isWgKey(v.publicKey));
  }
  assert.ok(isWgKey(generatePresharedKey()));
});

Deno.test("publicKeyFromPrivate() rejects a malformed key without quoting it", async () => {
  const bad = "not-a-key-but-maybe-a-secret";
  await assert.rejects(() => publicKeyFromPrivate(bad), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "validation");
    assert.ok(!err.message.includes(bad));
    return true;
  });
});

Deno.test("generateKeyPair() gives a clamped private key and its matching public key", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const pair = await generateKeyPair();
    assert.ok(isWgKey(pair.privateKey) && isWgKey(pair.publicKey));
    const raw = decodeWgKey(pair.privateKey);
    assert.equal(raw[0] & 7, 0, "low three bits cleared");
    assert.equal(raw[31] & 0xc0, 0x40, "bit 255 clear, bit 254 set");
    assert.equal(await publicKeyFromPrivate(pair.privateKey), pair.publicKey);
    seen.add(pair.privateKey);
  }
  assert.equal(seen.size, 20, "keys are random");
});

Deno.test("generatePrivateKey() output is already clamped", () => {
  const raw = decodeWgKey(generatePrivateKey());
  assert.deepEqual(clampPrivateKey(raw.slice()), raw);
});

Deno.test("clampPrivateKey() clamps as wg genkey does", () => {
  const bytes = new Uint8Array(32).fill(0xff);
  clampPrivateKey(bytes);
  assert.equal(bytes[0], 0xf8);
  assert.equal(bytes[31], 0x7f);
  const zeros = clampPrivateKey(new Uint8Array(32));
  assert.equal(zeros[0], 0);
  assert.equal(zeros[31], 0x40);
});

Deno.test("generatePresharedKey() gives 32 distinct random bytes each time", () => {
  const a = generatePresharedKey(), b = generatePresharedKey();
  assert.ok(isWgKey(a) && isWgKey(b));
  assert.equal(decodeWgKey(a).length, 32);
  assert.notEqual(a, b);
});
