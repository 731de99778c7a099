// Rotating the master's self-signed TLS certificate (the pin every node holds) with overlap. A new
// certificate is made and announced in the authenticated heartbeat answer (next_tls: the certificate and
// its SHA-256); a node keeps it beside the pinned one, accepts either from then on, and lists both pins in
// its heartbeats (trusts_tls). Once every enrolled node trusts it (or the grace period is over) the switch
// is decided; the listener takes the new certificate at the master's next start (boot.ts writes it over
// the old files), after which heartbeat answers name its pin (tls_sha256) and nodes forget the old one.
// State in the meta table (the key sealed); which nodes trust the next pin is kept in memory.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { CertMaterial } from "../../core/x509.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { enrolledNodeIds } from "../db/rotation_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SecretBox, SecretOpener } from "./secret_box.ts";
import type { TlsPin } from "./sync_keys.ts";

const CERT = "tls_next_cert";
const KEY = "tls_next_key";
const SHA = "tls_next_sha256";
const AT = "tls_next_at";
const DECIDED = "tls_switch_at_start";
/** When the current certificate took over (or the schedule first saw it). */
const SINCE = "tls_since";

export type TlsStatus = {
  /** The pin of the certificate the listener presents; null when TLS is not self-signed here. */
  current: string | null;
  next: null | {
    fingerprint: string;
    announcedAt: number;
    switchBy: number;
    trusted: number;
    enrolled: number;
    /** Every node trusts it (or the grace period ended): the listener takes it at the next start. */
    atNextStart: boolean;
  };
};

/** At start: the announced certificate when its switch was decided (boot.ts writes it as the current one). */
export async function decidedTlsSwitch(
  db: Db,
  secrets: SecretOpener,
): Promise<{ cert: string; key: string } | null> {
  const cert = metaRepo.get(db, CERT);
  const sealed = metaRepo.get(db, KEY);
  if (metaRepo.get(db, DECIDED) !== "1" || !cert || !sealed) return null;
  return { cert, key: await secrets.open(sealed, KEY) };
}

export class TlsRotation {
  #trusting = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly secrets: SecretBox,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly opts: {
      graceMs: number;
      /** The self-signed certificate in use; null with operator files or no TLS. */
      current: TlsPin | null;
      /** Makes a certificate for the same names; null when the certificate is not ours to make. */
      makeCert: (() => Promise<CertMaterial>) | null;
    },
  ) {}

  /** After the start: a decided switch that took effect is recorded and its state cleared. */
  afterStart(): void {
    const sha = metaRepo.get(this.db, SHA);
    if (metaRepo.get(this.db, DECIDED) !== "1" || !sha || sha !== this.opts.current?.fingerprint) return;
    this.db.tx(() => {
      for (const k of [CERT, KEY, SHA, AT, DECIDED]) metaRepo.delete(this.db, k);
      metaRepo.set(this.db, SINCE, String(this.clock.now()));
      this.audit.record("system", null, {
        action: "master.tls.switched",
        target: "TLS certificate",
        detail: `now ${sha.slice(0, 16)}`,
      });
    });
    this.log.info("the listener presents the next TLS certificate; nodes forget the old pin", {
      sha256: sha,
    });
  }

  async start(actor: Actor | string, meta: RequestMeta | null): Promise<TlsStatus> {
    if (typeof actor !== "string") requireAdmin(actor);
    if (!this.opts.current || !this.opts.makeCert) {
      throw new AppError(
        "conflict",
        "The master's TLS certificate is not a self-signed one it made (WIREBUDDY_TLS): replace the files to change it",
      );
    }
    if (metaRepo.get(this.db, SHA)) {
      throw new AppError("conflict", "A new TLS certificate is already announced");
    }
    const made = await this.opts.makeCert();
    const sealed = await this.secrets.seal(made.keyPem, KEY);
    this.db.tx(() => {
      metaRepo.set(this.db, CERT, made.certPem);
      metaRepo.set(this.db, KEY, sealed);
      metaRepo.set(this.db, SHA, made.fingerprint);
      metaRepo.set(this.db, AT, String(this.clock.now()));
      this.audit.record(actor, meta, {
        action: "master.tls.announce",
        target: "TLS certificate",
        detail: `next=${made.fingerprint.slice(0, 16)}`,
      });
    });
    this.#trusting.clear();
    this.log.info("announced the next TLS certificate", { sha256: made.fingerprint });
    return this.status();
  }

  /** The heartbeat answer's fields for node `nodeId`, which trusts the pins `trusts`. */
  heartbeat(nodeId: number, trusts: string[] | undefined) {
    const current = this.opts.current;
    if (!current) return {};
    const sha = metaRepo.get(this.db, SHA);
    const cert = sha ? metaRepo.get(this.db, CERT) : undefined;
    if (sha && trusts?.includes(sha) && !this.#trusting.has(nodeId)) {
      this.#trusting.add(nodeId);
      if (this.#allTrust()) this.switchDue();
    }
    return {
      tls_sha256: current.fingerprint,
      ...(sha && cert && sha !== current.fingerprint ? { next_tls: { cert, sha256: sha } } : {}),
    };
  }

  #allTrust(): boolean {
    return enrolledNodeIds(this.db).every((id) => this.#trusting.has(id));
  }

  /** Decides the switch when every enrolled node trusts the next pin or the grace period is over (scheduler). */
  switchDue(): boolean {
    const sha = metaRepo.get(this.db, SHA);
    if (!sha || metaRepo.get(this.db, DECIDED) === "1") return false;
    const all = this.#allTrust();
    if (!all && this.clock.now() < Number(metaRepo.get(this.db, AT) ?? 0) + this.opts.graceMs) return false;
    const pending = enrolledNodeIds(this.db).filter((id) => !this.#trusting.has(id)).length;
    this.db.tx(() => {
      metaRepo.set(this.db, DECIDED, "1");
      this.audit.record("system", null, {
        action: "master.tls.rotate",
        target: "TLS certificate",
        detail: `${sha.slice(0, 16)} at the next start (${
          all ? "every node trusts it" : `grace period over, ${pending} node(s) not yet`
        })`,
      });
    });
    this.log.warn("every node trusts the next TLS certificate: restart the master to present it", {
      sha256: sha,
      nodes_not_trusting: pending,
    });
    return true;
  }

  /** The schedule: announces a new certificate when the current one is `everyMs` old (none announced yet). */
  async startIfDue(everyMs: number): Promise<boolean> {
    if (!this.opts.current || !this.opts.makeCert || metaRepo.get(this.db, SHA)) return false;
    const since = metaRepo.get(this.db, SINCE);
    if (since === undefined) {
      metaRepo.set(this.db, SINCE, String(this.clock.now())); // one from before the schedule: counted from now
      return false;
    }
    if (this.clock.now() - Number(since) < everyMs) return false;
    await this.start("schedule", null);
    return true;
  }

  status(): TlsStatus {
    const sha = metaRepo.get(this.db, SHA);
    const at = Number(metaRepo.get(this.db, AT) ?? 0);
    const enrolled = enrolledNodeIds(this.db);
    return {
      current: this.opts.current?.fingerprint ?? null,
      next: sha
        ? {
          fingerprint: sha,
          announcedAt: at,
          switchBy: at + this.opts.graceMs,
          trusted: enrolled.filter((id) => this.#trusting.has(id)).length,
          enrolled: enrolled.length,
          atNextStart: metaRepo.get(this.db, DECIDED) === "1",
        }
        : null,
    };
  }
}
