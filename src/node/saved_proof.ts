// Proofs of the master's answers checked outside an exchange: a signature by any of the master's keys the
// node accepts (the current one and an announced next one, master_trust.ts), and a saved answer (the last
// good config) re-verified at start.
import { importPublicKey, responseSigningText, verifyText } from "../core/sync.ts";
import { importSessionKey, parseSessionProof, verifyMac } from "../core/sync_session.ts";

/** True when one of `keys` made `signature` over `text`. */
export async function anyVerifies(keys: CryptoKey[], signature: string, text: string): Promise<boolean> {
  for (const k of keys) if (await verifyText(k, signature, text)) return true;
  return false;
}

/**
 * Re-verifies a saved answer (the last good config): a session's HMAC (`hmac1.` proof) with that
 * session's key when the node still holds it, else a signature with one of the master's keys it accepts.
 */
export async function verifySaved(
  verifyKeys: string | string[],
  nodeId: number,
  nonce: string,
  body: string,
  signature: string,
  sessionKey: (id: string) => Promise<string | null> = () => Promise.resolve(null),
): Promise<boolean> {
  const text = await responseSigningText(nodeId, nonce, 200, body);
  const mac = parseSessionProof(signature);
  if (mac) {
    const raw = await sessionKey(mac.sessionId);
    return raw !== null && await verifyMac(await importSessionKey(raw), mac.mac, text);
  }
  const keys = await Promise.all([verifyKeys].flat().filter(Boolean).map((k) => importPublicKey(k)));
  return await anyVerifies(keys, signature, text);
}
