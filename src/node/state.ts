// What a node keeps on disk (all 0600 in a 0700 directory): its identity (P-256 key and self-signed
// certificate), its enrollment (node id, bearer secret, master URL, TLS certificate, the master's
// verification key), its sync session's HMAC key, its WireGuard private keys (never sent anywhere), and
// the last good config with its proof (the master's signature, or the session's HMAC).
import { z } from "zod";
import type { Fs } from "../core/ports/types.ts";
import { exportPrivateKey, generateSigningKeys, importPrivateKey } from "../core/sync.ts";
import { generateKeyPair, publicKeyFromPrivate } from "../core/wg_keys.ts";
import type { Carries } from "./metrics/carry.ts";

/**
 * The X.509 library, loaded when an identity is made (enrollment, identity rotation) and not before: with
 * its reflect-metadata polyfill it is ~15 MB of a node's memory, which an enrolled node at idle never uses.
 */
async function x509Library() {
  await import("reflect-metadata");
  return await import("@peculiar/x509");
}

const EnrollmentSchema = z.object({
  node_id: z.number().int().positive(),
  name: z.string(),
  node_secret: z.string(),
  url: z.string(),
  tls: z.object({ cert: z.string(), sha256: z.string() }).nullable(),
  verify_key: z.string(),
  /** The master's announced next verification key, accepted beside verify_key (master_trust.ts). */
  next_verify_key: z.string().optional(),
  /** The master's announced next TLS certificate, accepted beside `tls` (master_trust.ts). */
  next_tls: z.object({ cert: z.string(), sha256: z.string() }).optional(),
});
export type Enrollment = z.infer<typeof EnrollmentSchema>;

const SavedConfigSchema = z.object({
  body: z.string(),
  signature: z.string(),
  nonce: z.string(),
  node_id: z.number(),
});
export type SavedConfig = z.infer<typeof SavedConfigSchema>;

/** The sync session (its HMAC key) and a few before it, so a config saved under one still verifies. */
const SessionsSchema = z.object({
  current: z.object({ id: z.string(), key: z.string() }),
  previous: z.array(z.object({ id: z.string(), key: z.string() })).max(3),
});

export type Identity = { key: CryptoKey; certPem: string };

export class NodeState {
  constructor(private readonly fs: Fs, readonly dir: string) {}

  #path(name: string): string {
    return `${this.dir}/${name}`;
  }

  async #readJson<T>(name: string, schema: z.ZodType<T>): Promise<T | null> {
    const text = await this.fs.readText(this.#path(name));
    if (text === null) return null;
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new Error(`${this.#path(name)} is damaged: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data;
  }

  async #writeJson(name: string, value: unknown): Promise<void> {
    await this.fs.mkdir(this.dir, 0o700);
    await this.fs.writeTextAtomic(this.#path(name), JSON.stringify(value), 0o600);
  }

  /** The node's signing identity, made on first boot (P-256 key, self-signed certificate). */
  async identity(hostname: string, now: Date): Promise<Identity & { created: boolean }> {
    const keyText = await this.fs.readText(this.#path("identity.key"));
    const certPem = await this.fs.readText(this.#path("identity.crt"));
    if (keyText !== null && certPem !== null) {
      return { key: await importPrivateKey(keyText.trim()), certPem, created: false };
    }
    const made = await this.makeIdentity(hostname, now);
    await this.saveIdentity(made);
    return { key: made.key, certPem: made.certPem, created: true };
  }

  /** A new identity (P-256 key, self-signed certificate), not saved yet (identity rotation saves it once accepted). */
  async makeIdentity(hostname: string, now: Date): Promise<Identity & { keyPem: string }> {
    const pair = await generateSigningKeys();
    const x509 = await x509Library();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: `CN=${hostname.replace(/[,=+<>#;"\\]/g, "") || "wirebuddy-node"}`,
      notBefore: new Date(now.getTime() - 3_600_000),
      notAfter: new Date(now.getTime() + 3650 * 86_400_000),
      keys: pair,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    const keyPem = await exportPrivateKey(pair.privateKey);
    return { key: await importPrivateKey(keyPem), certPem: cert.toString("pem") + "\n", keyPem };
  }

  /** Keeps an identity as the node's own (key 0600, certificate 0644). */
  async saveIdentity(id: { keyPem: string; certPem: string }): Promise<void> {
    await this.fs.mkdir(this.dir, 0o700);
    await this.fs.writeTextAtomic(this.#path("identity.key"), id.keyPem + "\n", 0o600);
    await this.fs.writeTextAtomic(this.#path("identity.crt"), id.certPem, 0o644);
  }

  enrollment(): Promise<Enrollment | null> {
    return this.#readJson("enrollment.json", EnrollmentSchema);
  }

  saveEnrollment(e: Enrollment): Promise<void> {
    return this.#writeJson("enrollment.json", e);
  }

  lastConfig(): Promise<SavedConfig | null> {
    return this.#readJson("last-config.json", SavedConfigSchema);
  }

  saveConfig(c: SavedConfig): Promise<void> {
    return this.#writeJson("last-config.json", c);
  }

  /** The current sync session (see SessionKeeper), if any. */
  async loadSession(): Promise<{ id: string; key: string } | null> {
    return (await this.#readJson("session.json", SessionsSchema))?.current ?? null;
  }

  /** Keeps a new session (the three before it stay, for configs saved under them). */
  async saveSession(s: { id: string; key: string }): Promise<void> {
    const old = await this.#readJson("session.json", SessionsSchema);
    const previous = old ? [old.current, ...old.previous].slice(0, 3) : [];
    await this.#writeJson("session.json", { current: s, previous });
  }

  /** The key of a session this node held (a saved config's MAC names it), or null. */
  async sessionKey(id: string): Promise<string | null> {
    const all = await this.#readJson("session.json", SessionsSchema);
    return [all?.current, ...(all?.previous ?? [])].find((x) => x?.id === id)?.key ?? null;
  }

  /** The node's WireGuard private keys by interface name; keys for `names` are made (and saved) if missing. */
  async wgKeys(names: string[]): Promise<Record<string, string>> {
    const current = (await this.#readJson("wg-keys.json", z.record(z.string(), z.string()))) ?? {};
    const missing = names.filter((n) => !current[n]);
    if (missing.length === 0) return current;
    for (const n of missing) current[n] = (await generateKeyPair()).privateKey;
    await this.#writeJson("wg-keys.json", current); // saved before use: a crash never loses a key in use
    this.#publicKeys = null;
    return current;
  }

  /** A new WireGuard key for device `name` (a key rotation's next device; node/wg_key_rotation.ts). */
  async replaceWgKey(name: string): Promise<void> {
    const current = (await this.#readJson("wg-keys.json", z.record(z.string(), z.string()))) ?? {};
    current[name] = (await generateKeyPair()).privateKey;
    await this.#writeJson("wg-keys.json", current);
    this.#publicKeys = null;
  }

  /** Forgets device `name`'s WireGuard key (a rotated-out one: never used again). */
  async dropWgKey(name: string): Promise<void> {
    const current = (await this.#readJson("wg-keys.json", z.record(z.string(), z.string()))) ?? {};
    if (!(name in current)) return;
    delete current[name];
    await this.#writeJson("wg-keys.json", current);
    this.#publicKeys = null;
  }

  /** The key rotations this node took part in, by next device: the rotation's id and the device it replaces. */
  async wgRotations(): Promise<Record<string, { id: number; from: string }>> {
    const schema = z.record(z.string(), z.object({ id: z.number(), from: z.string() }));
    return (await this.#readJson("wg-rotations.json", schema)) ?? {};
  }

  saveWgRotations(r: Record<string, { id: number; from: string }>): Promise<void> {
    return this.#writeJson("wg-rotations.json", r);
  }

  /** Traffic counters carried across a key rotation's end (metrics/carry.ts), by the device that stays. */
  async wgCarries(): Promise<Carries> {
    const peer = z.object({ rx: z.number(), tx: z.number(), baseRx: z.number(), baseTx: z.number() });
    const schema = z.record(z.string(), z.object({ from: z.string(), peers: z.record(z.string(), peer) }));
    return (await this.#readJson("wg-carry.json", schema)) ?? {};
  }

  saveWgCarries(c: Carries): Promise<void> {
    return this.#writeJson("wg-carry.json", c);
  }

  #publicKeys: Record<string, string> | null = null;

  /** The public keys of this node's interfaces (derived once; wgKeys() forgets them when it adds a key). */
  async publicKeys(): Promise<Record<string, string>> {
    if (this.#publicKeys) return this.#publicKeys;
    const keys = (await this.#readJson("wg-keys.json", z.record(z.string(), z.string()))) ?? {};
    const out: Record<string, string> = {};
    for (const [name, key] of Object.entries(keys)) out[name] = await publicKeyFromPrivate(key);
    this.#publicKeys = out;
    return out;
  }

  /** Forgets the enrollment and the config (after the master removed this node). Keys and identity stay. */
  async forget(): Promise<void> {
    await this.fs.remove(this.#path("session.json"));
    await this.fs.remove(this.#path("enrollment.json"));
    await this.fs.remove(this.#path("last-config.json"));
  }
}
