// The data-plane health check, shared by master and node. The master opens a TCP connection to the
// node's tunnel address (so it crosses the master↔node WireGuard tunnel) and sends one line:
//
//   WB1-CHECK <node_id> <nonce>\n
//
// The node's responder, bound only to its tunnel addresses, answers one line and closes:
//
//   WB1-OK <node_id> <applied_version> <signature>\n
//
// where the signature is ECDSA P-256 (SHA-256) by the node's enrolled identity key over
// "WB1-CHECK-RES\n<node_id>\n<nonce>\n<applied_version>". The master verifies it with the key it stored at
// enrollment: an answer from anything but that node, or a replay of an older answer, does not pass.
import { signText, verifyText } from "./sync.ts";

/** The TCP port of the node's health responder (on its tunnel addresses only). */
export const DEFAULT_HEALTH_PORT = 51821;
/** Longest line either side reads. */
export const MAX_HEALTH_LINE = 256;

export function checkRequestLine(nodeId: number, nonce: string): string {
  return `WB1-CHECK ${nodeId} ${nonce}\n`;
}

export function parseCheckRequest(line: string): { nodeId: number; nonce: string } | null {
  const m = line.trim().match(/^WB1-CHECK (\d{1,12}) ([A-Za-z0-9_-]{16,64})$/);
  return m ? { nodeId: Number(m[1]), nonce: m[2]! } : null;
}

function answerText(nodeId: number, nonce: string, applied: number): string {
  return ["WB1-CHECK-RES", String(nodeId), nonce, String(applied)].join("\n");
}

export async function checkAnswerLine(
  key: CryptoKey,
  nodeId: number,
  nonce: string,
  applied: number,
): Promise<string> {
  return `WB1-OK ${nodeId} ${applied} ${await signText(key, answerText(nodeId, nonce, applied))}\n`;
}

/** The applied config version when `line` is a genuine answer of node `nodeId` to `nonce`, else an error. */
export async function verifyCheckAnswer(
  verifyKey: CryptoKey,
  nodeId: number,
  nonce: string,
  line: string,
): Promise<{ ok: true; applied: number } | { ok: false; error: string }> {
  const m = line.trim().match(/^WB1-OK (\d{1,12}) (\d{1,15}) ([A-Za-z0-9_-]{40,200})$/);
  if (!m) return { ok: false, error: "not a health answer" };
  if (Number(m[1]) !== nodeId) return { ok: false, error: `answered by node ${m[1]}, not ${nodeId}` };
  const applied = Number(m[2]);
  if (!(await verifyText(verifyKey, m[3]!, answerText(nodeId, nonce, applied)))) {
    return { ok: false, error: "bad signature (not this node's key)" };
  }
  return { ok: true, applied };
}
