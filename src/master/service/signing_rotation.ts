// Rotating the master's answer-signing key with overlap. The next key is made and announced to every
// node in the authenticated heartbeat answer (next_verify_key); a node stores it beside the current one,
// accepts answers signed by either, and says so in its heartbeats (trusts). The master switches, signing
// with the next key and announcing it as the current one (verify_key), when every enrolled node trusts
// it or once the grace period is over; nodes then forget the old key, and an answer signed with it is
// refused. The state lives in the meta table (sealed key, announcement time); which nodes trust the next
// key is kept in memory (every node that holds it says so in each heartbeat, also after a restart).
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { sha256Hex } from "../../core/seal.ts";
import { exportPrivateKey, exportPublicKey, generateSigningKeys } from "../../core/sync.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { enrolledNodeIds } from "../db/rotation_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SecretBox } from "./secret_box.ts";
import type { SyncKeys } from "./sync_keys.ts";

const NEXT_KEY = "sync_signing_key_next";
const NEXT_VERIFY = "sync_verify_key_next";
const NEXT_AT = "sync_signing_next_at";
/** When the current key took over (or the schedule first saw it). */
const SINCE = "sync_signing_since";

export type SigningKeyStatus = {
  /** SHA-256 (hex, first 16) of the current verification key. */
  current: string;
  next: null | {
    fingerprint: string;
    announcedAt: number;
    /** The switch happens at the latest then (the grace period's end). */
    switchBy: number;
    trusted: number;
    enrolled: number;
  };
};

const fingerprint = async (spki: string) => (await sha256Hex(spki)).slice(0, 16);

export class SigningKeyRotation {
  #trusting = new Set<number>();
  #switching: Promise<boolean> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly secrets: SecretBox,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly keys: SyncKeys,
    private readonly opts: { graceMs: number },
  ) {}

  /** Makes and announces the next key. `actor` "system" for the schedule. */
  async start(actor: Actor | string, meta: RequestMeta | null): Promise<SigningKeyStatus> {
    if (typeof actor !== "string") requireAdmin(actor);
    if (metaRepo.get(this.db, NEXT_VERIFY)) {
      throw new AppError(
        "conflict",
        "A new signing key is already announced: the master switches to it once every node trusts it",
      );
    }
    const pair = await generateSigningKeys();
    const sealed = await this.secrets.seal(await exportPrivateKey(pair.privateKey), NEXT_KEY);
    const verify = await exportPublicKey(pair.publicKey);
    const fp = await fingerprint(verify);
    this.db.tx(() => {
      metaRepo.set(this.db, NEXT_KEY, sealed);
      metaRepo.set(this.db, NEXT_VERIFY, verify);
      metaRepo.set(this.db, NEXT_AT, String(this.clock.now()));
      this.audit.record(actor, meta, {
        action: "master.signing_key.announce",
        target: "answer-signing key",
        detail: `next=${fp}`,
      });
    });
    this.#trusting.clear();
    this.log.info("announced the next answer-signing key", { next: fp });
    return await this.status();
  }

  /** The heartbeat answer's fields for node `nodeId`, which trusts `trusts`; may start the switch. */
  heartbeat(nodeId: number, trusts: string[] | undefined): { verify_key: string; next_verify_key?: string } {
    const next = metaRepo.get(this.db, NEXT_VERIFY);
    if (next && trusts?.includes(next)) {
      this.#trusting.add(nodeId);
      if (this.#allTrust()) void this.switchDue().catch(() => {});
    }
    return { verify_key: this.keys.verifyKey, ...(next ? { next_verify_key: next } : {}) };
  }

  #enrolled(): number[] {
    return enrolledNodeIds(this.db);
  }

  #allTrust(): boolean {
    return this.#enrolled().every((id) => this.#trusting.has(id));
  }

  /** Switches to the next key when every enrolled node trusts it or the grace period is over (scheduler). */
  async switchDue(): Promise<boolean> {
    if (this.#switching) return await this.#switching;
    this.#switching = this.#switchDue().finally(() => (this.#switching = null));
    return await this.#switching;
  }

  async #switchDue(): Promise<boolean> {
    const sealed = metaRepo.get(this.db, NEXT_KEY);
    const verify = metaRepo.get(this.db, NEXT_VERIFY);
    if (!sealed || !verify) return false;
    const at = Number(metaRepo.get(this.db, NEXT_AT) ?? 0);
    const all = this.#allTrust();
    if (!all && this.clock.now() < at + this.opts.graceMs) return false;
    const pending = this.#enrolled().filter((id) => !this.#trusting.has(id)).length;
    const resealed = await this.secrets.seal(await this.secrets.open(sealed, NEXT_KEY), "sync_signing_key");
    const old = await fingerprint(this.keys.verifyKey);
    const fp = await fingerprint(verify);
    this.db.tx(() => {
      metaRepo.set(this.db, "sync_signing_key", resealed);
      metaRepo.set(this.db, "sync_verify_key", verify);
      metaRepo.set(this.db, SINCE, String(this.clock.now()));
      for (const k of [NEXT_KEY, NEXT_VERIFY, NEXT_AT]) metaRepo.delete(this.db, k);
      this.audit.record("system", null, {
        action: "master.signing_key.rotate",
        target: "answer-signing key",
        detail: `${old} -> ${fp} (${
          all ? "every node trusts it" : `grace period over, ${pending} node(s) not yet`
        })`,
      });
    });
    await this.keys.reload();
    this.#trusting.clear();
    const line = "switched to the next answer-signing key; the old one is no longer used";
    if (all) this.log.info(line, { key: fp });
    else this.log.warn(`${line} (grace period over)`, { key: fp, nodes_not_trusting: pending });
    return true;
  }

  /** The schedule: announces a new key when the current one is `everyMs` old (none announced yet). */
  async startIfDue(everyMs: number): Promise<boolean> {
    if (metaRepo.get(this.db, NEXT_VERIFY)) return false;
    const since = metaRepo.get(this.db, SINCE);
    if (since === undefined) {
      metaRepo.set(this.db, SINCE, String(this.clock.now())); // a key from before the schedule: counted from now
      return false;
    }
    if (this.clock.now() - Number(since) < everyMs) return false;
    await this.start("schedule", null);
    return true;
  }

  async status(): Promise<SigningKeyStatus> {
    const next = metaRepo.get(this.db, NEXT_VERIFY);
    const at = Number(metaRepo.get(this.db, NEXT_AT) ?? 0);
    const enrolled = this.#enrolled();
    return {
      current: await fingerprint(this.keys.verifyKey),
      next: next
        ? {
          fingerprint: await fingerprint(next),
          announcedAt: at,
          switchBy: at + this.opts.graceMs,
          trusted: enrolled.filter((id) => this.#trusting.has(id)).length,
          enrolled: enrolled.length,
        }
        : null,
    };
  }
}
