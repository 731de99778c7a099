// Self-signed P-256 certificates with @peculiar/x509 (master TLS, node identity) and their SHA-256 pins.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { toBase64 } from "./seal.ts";

x509.cryptoProvider.set(crypto);

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export type CertMaterial = { certPem: string; keyPem: string; fingerprint: string };

function pem(label: string, der: ArrayBuffer): string {
  const b64 = toBase64(new Uint8Array(der)).replace(/(.{64})/g, "$1\n").trim();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** SHA-256 of the certificate's DER, as lowercase hex: the pin nodes check. */
export async function certFingerprint(certPem: string): Promise<string> {
  const cert = new x509.X509Certificate(certPem);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", cert.rawData));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A self-signed certificate for `commonName` with DNS and IP subject alternative names. */
export async function selfSignedCert(
  commonName: string,
  altNames: { dns?: string[]; ip?: string[] },
  now: Date,
  validDays = 3650,
): Promise<CertMaterial> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
  const serial = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const names: x509.JsonGeneralName[] = [
    ...(altNames.dns ?? []).map((v) => ({ type: "dns" as const, value: v })),
    ...(altNames.ip ?? []).map((v) => ({ type: "ip" as const, value: v })),
  ];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01" + serial.slice(2),
    name: `CN=${commonName.replace(/[,=+<>#;"\\]/g, "")}`,
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + validDays * 86_400_000),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  const keyPem = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem, keyPem, fingerprint: await certFingerprint(certPem) };
}
