// Backups of the master: a consistent snapshot of the database plus what it takes to read it and to
// keep the nodes attached (WIREBUDDY_SECRET_KEY, the TLS identity whose pin every node holds; the
// answer-signing key lives sealed in the database), encrypted with a passphrase (backup_format.ts).
// Made on demand (CLI, UI download, both audited) and on a schedule into a directory, keeping the newest N.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock, Fs } from "../../core/ports/types.ts";
import type { Secret } from "../../core/secret.ts";
import { sha256Hex, toBase64 } from "../../core/seal.ts";
import type { AuditService } from "./audit.ts";
import { type Actor, canWrite, type RequestMeta } from "./context.ts";
import { type Manifest, readEnvelope, sealBackup } from "./backup_format.ts";

/** Backup files are named by their UTC time, so a name sorts by age. */
export const BACKUP_SUFFIX = ".wbbackup";
const NAME = /^wirebuddy-(\d{8}T\d{6}Z)\.wbbackup$/;

export type BackupDeps = {
  clock: Clock;
  log: Logger;
  audit: AuditService;
  fs: Fs;
  /** The database's bytes as of one transaction (SQLite's online backup API in production). */
  snapshot: () => Promise<Uint8Array>;
  schema: number;
  appVersion: string;
  secretKey: Secret<string>;
  /** The TLS identity to carry (the self-signed certificate and key), or null. */
  tls: { cert: string; key: string } | null;
  /** Lists the file names in a directory (for retention). */
  listDir: (dir: string) => Promise<string[]>;
  /** The scheduled backups, when configured (shown on the backup page). */
  schedule?: (ScheduleOptions & { intervalMs: number }) | null;
};

export type ScheduleOptions = { dir: string; keep: number; passphraseFile: string };

export type BackupFile = { name: string; text: string; manifest: Manifest };

export function backupFileName(at: Date): string {
  return `wirebuddy-${at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}${BACKUP_SUFFIX}`;
}

export class BackupService {
  constructor(private readonly d: BackupDeps) {}

  get schedule(): { intervalMs: number; keep: number; dir: string } | null {
    const s = this.d.schedule;
    return s ? { intervalMs: s.intervalMs, keep: s.keep, dir: s.dir } : null;
  }

  /** Makes a backup encrypted with `passphrase`; audited as who asked for it (never the passphrase). */
  async create(actor: Actor, meta: RequestMeta | null, passphrase: string): Promise<BackupFile> {
    if (actor.kind !== "system" && !(canWrite(actor) && actor.role === "admin")) {
      throw new AppError("forbidden", "Only an admin can download a backup");
    }
    const at = new Date(this.d.clock.now());
    const db = await this.d.snapshot();
    const text = await sealBackup(
      {
        db_sha256: await sha256Hex(db as Uint8Array<ArrayBuffer>),
        db: toBase64(db),
        secret_key: this.d.secretKey.reveal(),
        tls: this.d.tls,
      },
      { appVersion: this.d.appVersion, schema: this.d.schema, createdAt: at },
      passphrase,
    );
    const { manifest } = await readEnvelope(text);
    const name = backupFileName(at);
    this.d.audit.record(actor, meta, {
      action: "backup.create",
      target: name,
      detail: `schema v${this.d.schema}, ${db.length} bytes of database`,
    });
    return { name, text, manifest };
  }

  /** One scheduled run: a new file in `o.dir`, then only the newest `o.keep` backups are kept. */
  async scheduled(o: ScheduleOptions): Promise<string> {
    const passphrase = (await this.d.fs.readText(o.passphraseFile))?.replace(/\r?\n$/, "");
    if (!passphrase) {
      throw new AppError(
        "config",
        `WIREBUDDY_BACKUP_PASSPHRASE_FILE ${o.passphraseFile} is missing or empty`,
      );
    }
    await this.d.fs.mkdir(o.dir, 0o700);
    const file = await this.create({ kind: "system", name: "scheduler" }, null, passphrase);
    const path = `${o.dir}/${file.name}`;
    await this.d.fs.writeTextAtomic(path, file.text, 0o600);
    const removed = await this.prune(o.dir, o.keep);
    this.d.log.info("backup written", { path, schema: file.manifest.schema, pruned: removed.length });
    return path;
  }

  /** Removes all but the newest `keep` backup files in `dir` (only files named like ours). */
  async prune(dir: string, keep: number): Promise<string[]> {
    const ours = (await this.d.listDir(dir)).filter((n) => NAME.test(n)).sort();
    const old = ours.slice(0, Math.max(0, ours.length - Math.max(1, keep)));
    for (const name of old) await this.d.fs.remove(`${dir}/${name}`);
    return old;
  }
}
