// The master's side of sync sessions (src/core/sync_session.ts): a session is opened by a request the
// node signed with its identity key, holds an HMAC key derived by ECDH, is kept sealed in the database
// (one per node; a new one replaces the old) and, imported, in memory for the hot path.
import {
  deriveSessionKey,
  ecdhKeyPair,
  newSessionId,
  rawSessionKey,
  SESSION_ID,
  type SessionResponse,
} from "../../core/sync_session.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { sessionsRepo } from "../db/sessions_repo.ts";
import { AppError } from "../../core/errors.ts";
import type { SecretBox } from "./secret_box.ts";

export class SyncSessions {
  #keys = new Map<number, { id: string; key: Uint8Array }>();

  constructor(private readonly db: Db, private readonly secrets: SecretBox, private readonly clock: Clock) {}

  /** Opens a new session for a node (its identity was checked by the caller); replaces any older one. */
  async open(nodeId: number, nodePublic: string): Promise<SessionResponse> {
    const sessionId = newSessionId();
    const mine = await ecdhKeyPair();
    const raw = await deriveSessionKey(mine.privateKey, nodePublic, { nodeId, sessionId });
    if (!raw) throw new AppError("bad_request", "ecdh_public is not a P-256 public key");
    const sealed = await this.secrets.seal(raw, `session:${nodeId}`);
    sessionsRepo.put(this.db, {
      node_id: nodeId,
      session_id: sessionId,
      key_sealed: sealed,
      created_at: this.clock.now(),
    });
    this.#keys.set(nodeId, { id: sessionId, key: rawSessionKey(raw) });
    return { session_id: sessionId, ecdh_public: mine.publicKey };
  }

  /** The HMAC key (raw) of the node's current session when `sessionId` names it, else null. */
  async key(nodeId: number, sessionId: string): Promise<Uint8Array | null> {
    if (!SESSION_ID.test(sessionId)) return null;
    let hit = this.#keys.get(nodeId);
    if (!hit) {
      const row = sessionsRepo.get(this.db, nodeId);
      if (!row) return null;
      hit = {
        id: row.session_id,
        key: rawSessionKey(await this.secrets.open(row.key_sealed, `session:${nodeId}`)),
      };
      this.#keys.set(nodeId, hit);
    }
    return hit.id === sessionId ? hit.key : null;
  }

  /** Ends a node's session (it enrolled again, or was removed): its next request must open a new one. */
  forget(nodeId: number): void {
    this.#keys.delete(nodeId);
    sessionsRepo.delete(this.db, nodeId);
  }
}
