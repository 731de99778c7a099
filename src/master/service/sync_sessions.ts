// The master's side of sync sessions (src/core/sync_session.ts): a session is opened by a request the
// node signed with its identity key and holds an HMAC key derived by ECDH. It lives in this process's
// memory only (one per node; a new one replaces the old): after a restart the node's next request gets
// 401 `Unknown sync session` and the node opens a new one (one ECDSA exchange per node and restart). That
// is what lets session requests keep their single-use nonces in memory (nonce_window.ts) instead of
// writing one to the database per request: no request made in a session can reach a later process.
// Sessions earlier versions kept (sealed, in sync_sessions) are deleted at start.
import {
  deriveSessionKey,
  ecdhKeyPair,
  newSessionId,
  rawSessionKey,
  SESSION_ID,
  type SessionResponse,
} from "../../core/sync_session.ts";
import type { Db } from "../db/db.ts";
import { sessionsRepo } from "../db/sessions_repo.ts";
import { AppError } from "../../core/errors.ts";

export class SyncSessions {
  #keys = new Map<number, { id: string; key: Uint8Array }>();

  constructor(db: Db) {
    sessionsRepo.clear(db);
  }

  /** Opens a new session for a node (its identity was checked by the caller); replaces any older one. */
  async open(nodeId: number, nodePublic: string): Promise<SessionResponse> {
    const sessionId = newSessionId();
    const mine = await ecdhKeyPair();
    const raw = await deriveSessionKey(mine.privateKey, nodePublic, { nodeId, sessionId });
    if (!raw) throw new AppError("bad_request", "ecdh_public is not a P-256 public key");
    this.#keys.set(nodeId, { id: sessionId, key: rawSessionKey(raw) });
    return { session_id: sessionId, ecdh_public: mine.publicKey };
  }

  /** The HMAC key (raw) of the node's current session when `sessionId` names it, else null. */
  key(nodeId: number, sessionId: string): Promise<Uint8Array | null> {
    if (!SESSION_ID.test(sessionId)) return Promise.resolve(null);
    const hit = this.#keys.get(nodeId);
    return Promise.resolve(hit?.id === sessionId ? hit.key : null);
  }

  /** Ends a node's session (it enrolled again, or was removed): its next request must open a new one. */
  forget(nodeId: number): void {
    this.#keys.delete(nodeId);
  }
}
