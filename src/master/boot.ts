// Boots the master's state from its configuration: data dir, secret key, database, keys, services.
// Used by main.ts (serve and the admin CLI) and by tests that run a real master on a real data dir.
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock, Fs } from "../core/ports/types.ts";
import { randomToken } from "../core/seal.ts";
import { Secret } from "../core/secret.ts";
import { readdir } from "node:fs/promises";
import type { MasterConfig } from "./config.ts";
import { type Db, openDb, SCHEMA_VERSION } from "./db/db.ts";
import { snapshotBytes } from "./db/backup_repo.ts";
import { BackupService } from "./service/backup.ts";
import { initSecrets } from "./service/secrets.ts";
import { createServices, type FleetPorts, type Services } from "./service/services.ts";
import { loadTls, makeSelfSigned, type TlsMaterial } from "./tls.ts";
import { SecretBox } from "./service/secret_box.ts";
import { decidedTlsSwitch } from "./service/tls_rotation.ts";

/** `fleet`: the tunnel probe, fetch for webhooks and process stats (main.ts passes the real ones). */
export type MasterPorts = { fs: Fs; clock: Clock; log: Logger; fleet?: FleetPorts; version?: string };

/** The secret key from the environment, or in dev mode one kept in the data dir (with a loud warning). */
export async function resolveSecretKey(config: MasterConfig, ports: MasterPorts): Promise<string> {
  if (config.secretKey) return config.secretKey.reveal();
  if (!config.dev) throw new AppError("config", "WIREBUDDY_SECRET_KEY is required");
  const path = `${config.dataDir}/secret.key`;
  const existing = (await ports.fs.readText(path))?.trim();
  if (existing && existing.length >= 32) {
    ports.log.warn(
      "DEV MODE: using the generated secret key in the data dir; set WIREBUDDY_SECRET_KEY in production",
      { path },
    );
    return existing;
  }
  const secret = randomToken(48);
  await ports.fs.writeTextAtomic(path, secret + "\n", 0o600);
  ports.log.warn("DEV MODE: generated a secret key into the data dir; never do this in production", { path });
  return secret;
}

export async function bootMaster(
  config: MasterConfig,
  ports: MasterPorts,
): Promise<{ services: Services; tls: TlsMaterial; close: () => void }> {
  await ports.fs.mkdir(config.dataDir, 0o700);
  const secret = await resolveSecretKey(config, ports);
  const dbPath = `${config.dataDir}/wirebuddy.db`;
  // An empty file is a valid new database; creating it ourselves gives it mode 0600 (SQLite copies the
  // mode to the -wal and -shm files).
  if (!(await ports.fs.exists(dbPath))) await ports.fs.writeTextAtomic(dbPath, "", 0o600);
  let db: Db;
  try {
    db = openDb(dbPath, ports.clock.now());
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("config", `Cannot open the database in ${config.dataDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    const keys = await initSecrets(db, secret);
    const selfSigned = config.tls.mode === "self-signed";
    const next = selfSigned ? await decidedTlsSwitch(db, new SecretBox(keys.sealKey)) : null;
    const tls = await loadTls(config, ports.fs, ports.log, new Date(ports.clock.now()), next);
    const services = await createServices(db, ports.clock, keys, ports.log, {
      sessionTtlMs: config.sessionTtlMs,
      publicHost: config.publicUrl.hostname.replace(/^\[|\]$/g, ""),
      publicUrl: config.publicUrl,
      tls,
      hashing: config.hashing,
      signIn: config.signIn,
      signingGraceMs: config.rotation.graceMs,
      nodeWgOverlapMs: config.rotation.nodeWgOverlapMs,
      ...(selfSigned ? { makeTlsCert: () => makeSelfSigned(config, new Date(ports.clock.now())) } : {}),
      nodes: {
        staleAfterMs: config.nodeStaleAfterMs,
        tokenTtlMs: config.enrollmentTokenTtlMs,
        syncRatePerMinute: config.syncRatePerMinute,
      },
      fleet: {
        intervals: config.health.intervals,
        timeoutMs: config.health.timeoutMs,
        port: config.health.port,
        notAppliedAfterMs: config.health.notAppliedAfterMs,
        webhooks: config.webhookRetry,
      },
      ...(ports.fleet ? { ports: ports.fleet } : {}),
    });
    services.backups = new BackupService({
      clock: ports.clock,
      log: ports.log,
      audit: services.audit,
      fs: ports.fs,
      snapshot: () => snapshotBytes(db, `${config.dataDir}/.backup-snapshot.db`),
      schema: SCHEMA_VERSION,
      appVersion: ports.version ?? "dev",
      secretKey: new Secret(secret),
      // The self-signed identity is the pin in every node's token; operator files are the operator's.
      tls: tls && config.tls.mode === "self-signed" ? { cert: tls.cert, key: tls.key } : null,
      listDir: async (dir) => (await readdir(dir).catch(() => [])).map(String),
      schedule: config.backup,
    });
    return { services, tls, close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}
