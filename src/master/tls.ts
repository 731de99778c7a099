// The master's TLS material: a self-signed P-256 certificate made at first start and kept in the data
// dir (replaced at a start by the next one once its rotation's switch is decided: tls_rotation.ts), or the
// operator's files, or none (loopback / behind a proxy).
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Fs } from "../core/ports/types.ts";
import { certFingerprint, type CertMaterial, selfSignedCert } from "../core/x509.ts";
import type { MasterConfig } from "./config.ts";

export type TlsMaterial = { cert: string; key: string; fingerprint: string } | null;

/** A self-signed certificate for the names of WIREBUDDY_PUBLIC_URL, localhost and loopback. */
export function makeSelfSigned(config: MasterConfig, now: Date): Promise<CertMaterial> {
  const host = config.publicUrl.hostname.replace(/^\[|\]$/g, "");
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  return selfSignedCert(host, {
    dns: [...new Set(["localhost", ...(isIp ? [] : [host])])],
    ip: [...new Set(["127.0.0.1", "::1", ...(isIp ? [host] : [])])],
  }, now);
}

/** `next`: a rotated certificate whose switch was decided, written over the self-signed one first. */
export async function loadTls(
  config: MasterConfig,
  fs: Fs,
  log: Logger,
  now: Date,
  next: { cert: string; key: string } | null = null,
): Promise<TlsMaterial> {
  const tls = config.tls;
  if (tls.mode === "off") {
    log.warn("TLS is off: serve only on loopback or behind a TLS-terminating proxy", {
      listen: config.listen.hostname,
    });
    return null;
  }
  if (tls.mode === "files") {
    const cert = await fs.readText(tls.certFile);
    const key = await fs.readText(tls.keyFile);
    if (cert === null) throw new AppError("config", `WIREBUDDY_TLS_CERT_FILE ${tls.certFile} does not exist`);
    if (key === null) throw new AppError("config", `WIREBUDDY_TLS_KEY_FILE ${tls.keyFile} does not exist`);
    return { cert, key, fingerprint: await certFingerprint(cert) };
  }
  const dir = `${config.dataDir}/tls`;
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  if (next) {
    await fs.writeTextAtomic(keyPath, next.key, 0o600);
    await fs.writeTextAtomic(certPath, next.cert, 0o644);
    log.info("switched to the next TLS certificate", {
      path: certPath,
      sha256: await certFingerprint(next.cert),
    });
  }
  const cert = await fs.readText(certPath);
  const key = await fs.readText(keyPath);
  if (cert !== null && key !== null) return { cert, key, fingerprint: await certFingerprint(cert) };

  const made = await makeSelfSigned(config, now);
  await fs.mkdir(dir, 0o700);
  await fs.writeTextAtomic(keyPath, made.keyPem, 0o600);
  await fs.writeTextAtomic(certPath, made.certPem, 0o644);
  log.info("created a self-signed TLS certificate", { path: certPath, sha256: made.fingerprint });
  return { cert: made.certPem, key: made.keyPem, fingerprint: made.fingerprint };
}
