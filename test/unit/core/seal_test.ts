import assert from "node:assert/strict";
import {
  deriveSealKey,
  fromBase64Url,
  randomToken,
  seal,
  sha256Hex,
  toBase64Url,
  unseal,
} from "../../../src/core/seal.ts";
import { hashPassword, verifyPassword } from "../../../src/core/password.ts";
import { AppError } from "../../../src/core/errors.ts";
import { openDb } from "../../../src/master/db/db.ts";
import { initSecrets, keysMatch } from "../../../src/master/service/secrets.ts";

const CHEAP = { N: 1024, r: 8, p: 1 };

Deno.test("seal() and unseal() round-trip with a fresh IV each time", async () => {
  const key = await deriveSealKey("k".repeat(40));
  const a = await seal(key, "private key material", "peer:1");
  const b = await seal(key, "private key material", "peer:1");
  assert.notEqual(a, b);
  assert.ok(!a.includes("private"));
  assert.equal(await unseal(key, a, "peer:1"), "private key material");
});

Deno.test("unseal() fails clearly with another key or another context, never returns garbage", async () => {
  const sealed = await seal(await deriveSealKey("k".repeat(40)), "secret", "peer:1");
  const other = await deriveSealKey("z".repeat(40));
  await assert.rejects(
    () => unseal(other, sealed, "peer:1"),
    (e) => e instanceof AppError && e.code === "config",
  );
  const same = await deriveSealKey("k".repeat(40));
  await assert.rejects(() => unseal(same, sealed, "peer:2"), AppError);
});

Deno.test("initSecrets() detects a database made with another secret key", async () => {
  const db = openDb(":memory:", 1);
  const keys = await initSecrets(db, "first-secret-key-0123456789-0123456789");
  assert.ok(await keysMatch(db, keys));
  await assert.rejects(
    () => initSecrets(db, "other-secret-key-0123456789-0123456789"),
    (e) => e instanceof AppError && e.code === "config" && /does not match/.test(e.message),
  );
  db.close();
});

Deno.test("passwords hash with scrypt and verify in constant time", async () => {
  const hash = await hashPassword("correct horse battery", CHEAP);
  assert.match(hash, /^scrypt\$1024\$8\$1\$/);
  assert.equal(await verifyPassword("correct horse battery", hash), true);
  assert.equal(await verifyPassword("correct horse batterY", hash), false);
  assert.equal(await verifyPassword("x", "not-a-hash"), false);
  assert.equal(await verifyPassword("x", "scrypt$99999999$8$1$AA==$AA=="), false);
  assert.notEqual(await hashPassword("same", CHEAP), await hashPassword("same", CHEAP));
});

Deno.test("random tokens are unique and base64url round-trips", async () => {
  const t = randomToken(32, "wbt_");
  assert.match(t, /^wbt_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(t, randomToken(32, "wbt_"));
  const bytes = crypto.getRandomValues(new Uint8Array(33));
  assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
  assert.equal(await sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});
