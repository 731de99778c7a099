// The `backup` and `restore` commands and the scheduled backup job (main.ts wires them). A passphrase
// comes from stdin or a file, never from argv (which every user on the host can read in /proc).
import { AppError } from "../core/errors.ts";
import { SCHEMA_VERSION } from "./db/db.ts";
import { bootMaster, type MasterPorts } from "./boot.ts";
import type { MasterConfig } from "./config.ts";
import type { Job } from "./scheduler.ts";
import type { BackupService, ScheduleOptions } from "./service/backup.ts";
import { restoreBackup } from "./service/restore.ts";

/** stdout and stdin as the commands need them (readStdin: null when stdin is a terminal). */
export type CliIo = {
  print: (text: string) => void;
  write: (text: string) => Promise<void>;
  readStdin: () => Promise<string | null>;
  /** Whether a master answers on the configured listen address (restore needs it stopped). */
  listening?: () => Promise<boolean>;
};

/** sysexits: the file is damaged (65), the passphrase is wrong (77), a newer schema / config (78). */
const EXIT_BY_CODE: Partial<Record<AppError["code"], number>> = {
  validation: 65,
  unauthorized: 77,
  config: 78,
};

async function passphrase(ports: MasterPorts, io: CliIo, file: string | undefined): Promise<string> {
  const text = file ? await ports.fs.readText(file) : await io.readStdin();
  if (text === null) {
    throw new AppError(
      "bad_request",
      file
        ? `--passphrase-file ${file} does not exist`
        : 'Give the passphrase on stdin (printf %s "$PASSPHRASE" | wirebuddy-master ...) or with --passphrase-file FILE',
    );
  }
  const pass = text.replace(/\r?\n$/, "");
  if (!pass) throw new AppError("bad_request", "The passphrase is empty");
  return pass;
}

export async function backupCommand(
  config: MasterConfig,
  ports: MasterPorts,
  io: CliIo,
  o: { out?: string | undefined; passphraseFile?: string | undefined },
): Promise<number> {
  const pass = await passphrase(ports, io, o.passphraseFile);
  const { services, close } = await bootMaster(config, ports);
  try {
    const file = await services.backups!.create({ kind: "system", name: "cli" }, null, pass);
    if (o.out === "-") {
      await io.write(file.text);
    } else {
      const path = o.out ?? `${config.dataDir}/backups/${file.name}`;
      if (!o.out) await ports.fs.mkdir(`${config.dataDir}/backups`, 0o700);
      await ports.fs.writeTextAtomic(path, file.text, 0o600);
      ports.log.info("backup written", {
        path,
        schema: file.manifest.schema,
        version: file.manifest.app_version,
      });
      io.print(path);
    }
    return 0;
  } finally {
    close();
  }
}

export async function restoreCommand(
  config: MasterConfig,
  ports: MasterPorts,
  io: CliIo,
  o: { file?: string | undefined; passphraseFile?: string | undefined; secretKey: string },
): Promise<number> {
  if (!o.file) throw new AppError("bad_request", "Usage: wirebuddy-master restore FILE|-");
  if (await io.listening?.()) {
    throw new AppError(
      "conflict",
      `A master is running on ${config.listen.hostname}:${config.listen.port}: stop it first (systemctl stop wirebuddy-master), then restore`,
    );
  }
  let text: string | null;
  let pass: string;
  if (o.file === "-") {
    // stdin: the passphrase on the first line, then the backup (so root can pipe a file only it can read
    // into the master's own user: { printf '%s\n' "$PASS"; cat FILE; } | systemd-run -P ... restore -).
    const all = await io.readStdin();
    if (all === null) throw new AppError("bad_request", "restore - reads the backup from stdin");
    if (o.passphraseFile) {
      [text, pass] = [all, await passphrase(ports, io, o.passphraseFile)];
    } else {
      const nl = all.indexOf("\n");
      [pass, text] = [all.slice(0, Math.max(0, nl)).replace(/\r$/, ""), all.slice(nl + 1)];
      if (!pass) throw new AppError("bad_request", "The passphrase (the first line of stdin) is empty");
    }
  } else {
    text = await ports.fs.readText(o.file);
    if (text === null) throw new AppError("bad_request", `Backup file ${o.file} does not exist`);
    pass = await passphrase(ports, io, o.passphraseFile);
  }
  try {
    const r = await restoreBackup(
      {
        fs: ports.fs,
        clock: ports.clock,
        log: ports.log,
        dataDir: config.dataDir,
        secretKey: o.secretKey,
        tlsMode: config.tls.mode,
        schema: SCHEMA_VERSION,
        appVersion: ports.version ?? "dev",
      },
      text,
      pass,
    );
    ports.log.info("backup restored; start the master", {
      made: r.manifest.created_at,
      by_version: r.manifest.app_version,
      schema: `v${r.manifest.schema} -> v${r.migratedTo}`,
      resealed: r.resealed,
      local_node_kept: r.localAdopted,
      tls_identity: r.tlsWritten ? "restored" : "unchanged",
    });
    return 0;
  } catch (err) {
    const exit = err instanceof AppError ? EXIT_BY_CODE[err.code] : undefined;
    if (exit === undefined) throw err;
    ports.log.error((err as AppError).message);
    return exit;
  }
}

/** The scheduled backup: every `o.intervalMs`, the first one interval after start. */
export function backupJob(backups: BackupService, o: ScheduleOptions & { intervalMs: number }): Job {
  let first = true;
  return {
    name: "scheduled backup",
    everyMs: o.intervalMs,
    run: async () => {
      if (first) return void (first = false);
      await backups.scheduled(o);
    },
  };
}
