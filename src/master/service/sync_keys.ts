// The master's credentials in the sync protocol: the HMAC key enrollment tokens are signed with, the
// ECDSA key every answer to a node is signed with (made at the first start and kept sealed in the meta
// table), and the TLS pin the tokens carry for a self-signed certificate.
import { AppError } from "../../core/errors.ts";
import {
  encodeToken,
  exportPrivateKey,
  exportPublicKey,
  generateSigningKeys,
  importPrivateKey,
  responseSigningText,
  signText,
  type TokenPayload,
  verifyToken,
} from "../../core/sync.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import type { SecretBox } from "./secret_box.ts";

export type TlsPin = { cert: string; fingerprint: string };

export class SyncKeys {
  #signingKey: CryptoKey | null = null;
  #verifyKey = "";
  #tls: { cert: string; sha256: string } | null = null;
  #pin: TlsPin | null = null;

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly hmacKey: CryptoKey,
  ) {}

  /** Loads (or makes, at the first start) the response-signing key, and remembers the TLS pin. */
  async load(tls: TlsPin | null): Promise<void> {
    this.#pin = tls;
    this.#tls = tls ? { cert: tls.cert, sha256: tls.fingerprint } : null;
    let sealed = metaRepo.get(this.db, "sync_signing_key");
    if (!sealed) {
      const pair = await generateSigningKeys();
      sealed = await this.secrets.seal(await exportPrivateKey(pair.privateKey), "sync_signing_key");
      const verify = await exportPublicKey(pair.publicKey);
      this.db.tx(() => {
        metaRepo.set(this.db, "sync_signing_key", sealed!);
        metaRepo.set(this.db, "sync_verify_key", verify);
      });
    }
    this.#signingKey = await importPrivateKey(await this.secrets.open(sealed, "sync_signing_key"));
    this.#verifyKey = metaRepo.get(this.db, "sync_verify_key")!;
  }

  /** Reads the signing key again (after signing_rotation.ts switched to the next one). */
  async reload(): Promise<void> {
    await this.load(this.#pin);
  }

  /** The current verification key (SPKI, base64), as tokens and heartbeat answers carry it. */
  get verifyKey(): string {
    return this.#verifyKey;
  }

  /** An enrollment token: the node's one-time secret plus what it needs to trust this master. */
  async issueToken(p: Pick<TokenPayload, "url" | "node_id" | "secret" | "exp">): Promise<string> {
    return await encodeToken({ v: 1, ...p, tls: this.#tls, verify_key: this.#verifyKey }, this.hmacKey);
  }

  /** The token's payload when it is genuine (made by this master), else null. */
  async verifyToken(token: string): Promise<TokenPayload | null> {
    return await verifyToken(token, this.hmacKey);
  }

  /** Signs an answer for a node: bound to its id, the request's nonce, the status and the body. */
  async signAnswer(nodeId: number, nonce: string, status: number, body: string): Promise<string> {
    if (!this.#signingKey) throw new AppError("internal", "SyncKeys.load() was not called");
    return await signText(this.#signingKey, await responseSigningText(nodeId, nonce, status, body));
  }
}
