// The backup file: a text envelope (so it passes through any copy-paste, mail or `cat`) holding the
// master's database snapshot, its secret key, TLS identity and signing key, gzip-compressed and then
// encrypted with AES-256-GCM under a key stretched from a passphrase with scrypt.
//
//   WIREBUDDY-BACKUP 1
//   {"format":1,"app_version":"0.1.0","schema":5,"created_at":"…","kdf":{…},"iv":"…","sha256":"…",…}
//   <base64 ciphertext, 76 characters a line>
//
// The header line is the manifest: readable without the passphrase (version, schema, time), bound to the
// ciphertext as GCM additional data (a changed header does not decrypt), and carrying the SHA-256 of the
// ciphertext (a damaged file is told apart from a wrong passphrase) and a passphrase check value.
import { scrypt } from "node:crypto";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import { fromBase64, sha256Hex, toBase64 } from "../../core/seal.ts";

const MAGIC = "WIREBUDDY-BACKUP 1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** scrypt cost: 2^15 x 8 x 1 takes 32 MiB and ~0.1 s per derivation (OWASP's floor is 2^17 x 8 x 1 / 2^15…). */
const KDF = { N: 32768, r: 8, p: 1 } as const;

export const manifestSchema = z.object({
  format: z.literal(1),
  app_version: z.string(),
  schema: z.number().int().nonnegative(),
  created_at: z.string(),
  kdf: z.object({
    alg: z.literal("scrypt"),
    N: z.number().int().min(1024).max(1 << 20),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: z.string(),
  }),
  cipher: z.literal("AES-256-GCM"),
  iv: z.string(),
  /** SHA-256 of the ciphertext: a damaged file, not a wrong passphrase. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** SHA-256 of the second half of the scrypt output: a wrong passphrase, before any decryption. */
  check: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** What a backup holds. */
export const payloadSchema = z.object({
  db_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The database snapshot, base64. */
  db: z.string(),
  /** WIREBUDDY_SECRET_KEY of the master that made it: opens the sealed values in the database. */
  secret_key: z.string().min(32),
  /** The TLS identity (self-signed: the pin in every node's token); null when TLS is off or from files. */
  tls: z.object({ cert: z.string(), key: z.string() }).nullable(),
});
export type Payload = z.infer<typeof payloadSchema>;

/** A damaged or foreign file (exit 65), a wrong passphrase (77) and a newer schema (78), as AppErrors. */
export const corrupt = (why: string) =>
  new AppError("validation", `This is not a readable WireBuddy backup: ${why}`);
export const wrongPassphrase = () =>
  new AppError("unauthorized", "Wrong passphrase: this backup was encrypted with another passphrase");

function stretch(passphrase: string, salt: Uint8Array, k: { N: number; r: number; p: number }) {
  return new Promise<Uint8Array>((resolve, reject) =>
    scrypt(
      passphrase.normalize("NFC"),
      salt,
      64,
      { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r },
      (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
    )
  );
}

async function gcmKey(bytes: Uint8Array, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", bytes.slice(0, 32), "AES-GCM", false, [usage]);
}

async function pipe(data: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** Encrypts a payload into the backup file's text. */
export async function sealBackup(
  payload: Payload,
  meta: { appVersion: string; schema: number; createdAt: Date },
  passphrase: string,
): Promise<string> {
  if (passphrase.length < 12) {
    throw new AppError("validation", "The backup passphrase must be at least 12 characters", {
      fields: [{ field: "passphrase", message: "at least 12 characters" }],
    });
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const stretched = await stretch(passphrase, salt, KDF);
  const plain = await pipe(encoder.encode(JSON.stringify(payload)), new CompressionStream("gzip"));
  // The header without the two values that depend on the ciphertext is the additional data.
  const bound = {
    format: 1 as const,
    app_version: meta.appVersion,
    schema: meta.schema,
    created_at: meta.createdAt.toISOString(),
    kdf: { alg: "scrypt" as const, ...KDF, salt: toBase64(salt) },
    cipher: "AES-256-GCM" as const,
    iv: toBase64(iv),
  };
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(JSON.stringify(bound)) },
      await gcmKey(stretched, "encrypt"),
      plain as Uint8Array<ArrayBuffer>,
    ),
  );
  const manifest: Manifest = {
    ...bound,
    sha256: await sha256Hex(ct),
    check: await sha256Hex(stretched.slice(32)),
  };
  const body = toBase64(ct).replace(/.{76}/g, "$&\n");
  return `${MAGIC}\n${JSON.stringify(manifest)}\n${body}${body.endsWith("\n") ? "" : "\n"}`;
}

/** The manifest and ciphertext of a backup file's text; a damaged or foreign file is refused. */
export async function readEnvelope(text: string): Promise<{ manifest: Manifest; ct: Uint8Array }> {
  const [magic, header, ...rest] = text.split("\n");
  if (magic?.trim() !== MAGIC) {
    throw corrupt(
      magic?.startsWith("WIREBUDDY-BACKUP")
        ? `unknown format "${magic}"`
        : "it does not start with WIREBUDDY-BACKUP",
    );
  }
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(header ?? ""));
  } catch {
    throw corrupt("its manifest (second line) is damaged");
  }
  let ct: Uint8Array<ArrayBuffer>;
  try {
    ct = fromBase64(rest.join("").replace(/\s+/g, ""));
  } catch {
    throw corrupt("its encrypted body is not base64 (damaged or truncated)");
  }
  if (ct.length < 16 || (await sha256Hex(ct)) !== manifest.sha256) {
    throw corrupt("its encrypted body does not match its checksum (damaged or truncated)");
  }
  return { manifest, ct };
}

/** Decrypts a checked envelope: a wrong passphrase is told as such, a tampered header as damage. */
export async function openBackup(manifest: Manifest, ct: Uint8Array, passphrase: string): Promise<Payload> {
  const stretched = await stretch(passphrase, fromBase64(manifest.kdf.salt), manifest.kdf);
  if ((await sha256Hex(stretched.slice(32))) !== manifest.check) throw wrongPassphrase();
  const { sha256: _s, check: _c, ...bound } = manifest;
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: fromBase64(manifest.iv),
          additionalData: encoder.encode(JSON.stringify(bound)),
        },
        await gcmKey(stretched, "decrypt"),
        ct as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    throw corrupt("it does not decrypt (its manifest was changed)");
  }
  let payload: Payload;
  try {
    payload = payloadSchema.parse(
      JSON.parse(decoder.decode(await pipe(plain, new DecompressionStream("gzip")))),
    );
  } catch {
    throw corrupt("its contents are not a WireBuddy backup payload");
  }
  if ((await sha256Hex(fromBase64(payload.db))) !== payload.db_sha256) {
    throw corrupt("the database inside does not match its checksum");
  }
  return payload;
}
