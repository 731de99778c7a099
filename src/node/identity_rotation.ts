// Rotating this node's identity key when the master asks (identity_rotation.ts on the master): a new P-256
// key and certificate, sent in a request signed with the current key; once the master took it, the node
// signs with the new key (requests, a new sync session, health answers) and keeps it on disk. The master
// refuses the old key from then on. A node that stops between the master's answer and the write of its new
// key must enroll again (the window is one file write).
import type { Logger } from "../core/logger.ts";
import type { NodeState } from "./state.ts";
import type { SyncClient } from "./sync_client.ts";

/** The key the node signs with now, read by whoever signs (the health responder). */
export type IdentityHolder = { key: CryptoKey };

export async function rotateIdentity(d: {
  disk: Pick<NodeState, "makeIdentity" | "saveIdentity">;
  client: Pick<SyncClient, "changeIdentity">;
  log: Logger;
  hostname: string;
  now: () => number;
  holder: IdentityHolder;
  signal?: AbortSignal;
}): Promise<void> {
  const next = await d.disk.makeIdentity(d.hostname, new Date(d.now()));
  await d.client.changeIdentity(next.certPem, next.key, d.signal);
  d.holder.key = next.key;
  await d.disk.saveIdentity(next);
  d.log.info("rotated the node identity key; the master refuses the old one from now on");
}
