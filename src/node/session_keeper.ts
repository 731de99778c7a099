// The node's sync session (src/core/sync_session.ts): one for both loops, loaded from disk at the first
// request (so a saved config, MAC'd with it, still verifies after a reboot), opened with the master
// when there is none or the master refused it, and never opened twice at once (two loops opening one
// each would replace each other's forever).
import { newNonce, responseSigningText } from "../core/sync.ts";
import { importSessionKey, macText, sessionProof } from "../core/sync_session.ts";

export type Session = { id: string; key: CryptoKey };

/** Where a node keeps its session (0600, beside its identity). */
export type SessionStore = {
  loadSession(): Promise<{ id: string; key: string } | null>;
  saveSession(s: { id: string; key: string }): Promise<void>;
};

/** What asking the master for a session gave: its id and raw key, or why there is none. */
export type Opened = { id: string; key: string } | "unsupported" | "removed";

export class SessionKeeper {
  #session: Session | null = null;
  #opening: Promise<Session | null> | null = null;
  #unsupported = false;
  #triedStored = false;

  constructor(
    private readonly store: SessionStore | null,
    private readonly openRemote: (signal?: AbortSignal) => Promise<Opened>,
  ) {}

  /** The session to use now (opened once for all callers when there is none); null: sign instead. */
  current(signal?: AbortSignal): Promise<Session | null> {
    if (!this.store || this.#unsupported) return Promise.resolve(null);
    if (this.#session) return Promise.resolve(this.#session);
    this.#opening ??= this.#open(this.store, signal).finally(() => (this.#opening = null));
    return this.#opening;
  }

  /**
   * Proves a body with the current session, as the master proves an answer (for a config the node
   * built itself from a delta, saved and verified at the next start); null without a session.
   */
  async prove(nodeId: number, body: string): Promise<{ signature: string; nonce: string } | null> {
    const s = this.#session;
    if (!s) return null;
    const nonce = `node-${newNonce()}`;
    const mac = await macText(s.key, await responseSigningText(nodeId, nonce, 200, body));
    return { signature: sessionProof(s.id, mac), nonce };
  }

  /** Whether requests go in a session now (a delta can then be proven for the disk). */
  get active(): boolean {
    return this.#session !== null;
  }

  /** The master refused session `id`: the next request opens a new one (unless another did already). */
  refused(id: string): void {
    if (this.#session?.id === id) this.#session = null;
  }

  async #open(store: SessionStore, signal?: AbortSignal): Promise<Session | null> {
    if (!this.#triedStored) {
      this.#triedStored = true;
      const stored = await store.loadSession();
      if (stored) return (this.#session = { id: stored.id, key: await importSessionKey(stored.key) });
    }
    const opened = await this.openRemote(signal);
    if (opened === "unsupported") this.#unsupported = true; // a master from before sessions
    if (typeof opened === "string") return null; // removed: the signed request that follows learns it
    await store.saveSession(opened);
    return (this.#session = { id: opened.id, key: await importSessionKey(opened.key) });
  }
}
