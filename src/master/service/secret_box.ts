// Seals secrets for the database and opens them again, each bound to a context ("peer:<key>:psk",
// "interface:wg0") so a sealed value cannot be moved to another row. Opened plaintexts are remembered
// (a sealed string never changes), so rendering a host's desired state does not decrypt every PSK again.
import { seal, unseal } from "../../core/seal.ts";

/** Opens a sealed value (what the desired-state renderer needs). */
export type SecretOpener = { open(sealed: string, context: string): Promise<string> };

export class SecretBox implements SecretOpener {
  #cache = new Map<string, string>();

  constructor(private readonly key: CryptoKey) {}

  async seal(plaintext: string, context: string): Promise<string> {
    return await seal(this.key, plaintext, context);
  }

  async open(sealed: string, context: string): Promise<string> {
    const cacheKey = `${context}\u0000${sealed}`;
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined) return hit;
    const plain = await unseal(this.key, sealed, context);
    if (this.#cache.size > 250_000) this.#cache.clear();
    this.#cache.set(cacheKey, plain);
    return plain;
  }
}
