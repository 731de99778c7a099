// The master verification keys this node accepts (signing_rotation.ts on the master). The master names
// its current key in each heartbeat answer and announces its next one there before it switches; the node
// saves the next key beside the current one (enrollment.json), accepts answers signed by either, and lists
// both in its heartbeats. When an answer names the next key as the current one, the node forgets the old
// key: an answer signed with it is refused from then on. Heartbeat answers are proven by the session (or
// a trusted key), so only the master this node enrolled with can announce or name a key; a node that was
// away during the announcement takes the new key from its first heartbeat answer after the switch (its
// session outlives the switch).
import type { Logger } from "../core/logger.ts";
import { sha256Hex } from "../core/seal.ts";
import type { HeartbeatResponse } from "../core/sync.ts";
import type { Enrollment, NodeState } from "./state.ts";

/** Where the accepted keys go: the client that verifies the master's answers and its certificate. */
export type KeyTrust = {
  trustKeys(keys: string[]): Promise<void>;
  trustTls(e: Pick<Enrollment, "tls" | "next_tls">): void;
};

const short = async (key: string) => (await sha256Hex(key)).slice(0, 16);

export class MasterTrust {
  #me: Enrollment;

  constructor(
    me: Enrollment,
    private readonly disk: Pick<NodeState, "saveEnrollment">,
    private readonly client: KeyTrust,
    private readonly log: Logger,
    /** Makes a new identity key and has the master take it (identity_rotation.ts), when the master asks. */
    private readonly rotateIdentity: (() => Promise<void>) | null = null,
  ) {
    this.#me = me;
  }

  #rotating = false;

  /** The keys this node accepts: the current one, and the announced next one. */
  get keys(): string[] {
    return this.#me.next_verify_key ? [this.#me.verify_key, this.#me.next_verify_key] : [this.#me.verify_key];
  }

  /** The TLS pins this node accepts. */
  get pins(): string[] {
    return [this.#me.tls?.sha256, this.#me.next_tls?.sha256].filter((p): p is string => !!p);
  }

  /** The heartbeat's fields: sent only while a next key or certificate is held (only a master that announced one knows them). */
  fields(): { trusts?: string[]; trusts_tls?: string[] } {
    return {
      ...(this.#me.next_verify_key ? { trusts: this.keys } : {}),
      ...(this.#me.next_tls ? { trusts_tls: this.pins } : {}),
    };
  }

  /** Takes what a proven heartbeat answer says about the master's keys and certificate. */
  async learn(answer: HeartbeatResponse): Promise<void> {
    if (answer.kind !== "ok") return;
    if (answer.rotate_identity && this.rotateIdentity && !this.#rotating) {
      this.#rotating = true;
      await this.rotateIdentity().catch((err) =>
        this.log.warn("cannot rotate the identity key; trying again at the next heartbeat", {
          error: (err as Error).message,
        })
      ).finally(() => (this.#rotating = false));
    }
    const keys = await this.#keys(answer, this.#me);
    const me = await this.#tls(answer, keys ?? this.#me);
    if (!keys && !me) return;
    const next = me ?? keys!;
    await this.disk.saveEnrollment(next); // first on disk: a restart keeps trusting what the master was told
    this.#me = next;
    if (keys) await this.client.trustKeys(this.keys);
    if (me) this.client.trustTls(next);
  }

  async #keys(answer: HeartbeatResponse & { kind: "ok" }, e: Enrollment): Promise<Enrollment | null> {
    const cur = e.verify_key;
    const next = e.next_verify_key;
    if (answer.verify_key && answer.verify_key !== cur) {
      // Proven by the session (opened under a trusted key) or by a trusted key: the master's own word, also
      // for a node that was away while the next key was announced.
      const me = { ...e, verify_key: answer.verify_key };
      delete me.next_verify_key;
      this.log.info("the master switched to its next signing key; the old one is no longer accepted", {
        key: await short(answer.verify_key),
        announced: answer.verify_key === next,
      });
      return me;
    }
    if (answer.next_verify_key && answer.next_verify_key !== cur && answer.next_verify_key !== next) {
      this.log.info("the master announced its next signing key; accepting it beside the current one", {
        next: await short(answer.next_verify_key),
      });
      return { ...e, next_verify_key: answer.next_verify_key };
    }
    return null;
  }

  async #tls(answer: HeartbeatResponse & { kind: "ok" }, e: Enrollment): Promise<Enrollment | null> {
    if (!e.tls) return null; // publicly trusted certificate: nothing pinned
    const now = answer.tls_sha256;
    if (now && now !== e.tls.sha256) {
      if (e.next_tls?.sha256 !== now) return null; // connected, so trusted already; nothing to learn
      const me = { ...e, tls: e.next_tls };
      delete me.next_tls;
      this.log.info("the master presents its next TLS certificate; the old pin is forgotten", {
        sha256: now,
      });
      return me;
    }
    const next = answer.next_tls;
    if (!next || next.sha256 === e.tls.sha256 || next.sha256 === e.next_tls?.sha256) return null;
    // Loaded only here (a TLS rotation's announcement): the X.509 library is ~15 MB of an idle node's memory.
    const { certFingerprint } = await import("../core/x509.ts");
    if ((await certFingerprint(next.cert)) !== next.sha256) {
      this.log.warn("ignoring an announced TLS certificate whose pin does not match it", {
        sha256: next.sha256,
      });
      return null;
    }
    this.log.info("the master announced its next TLS certificate; accepting it beside the pinned one", {
      sha256: next.sha256,
    });
    return { ...e, next_tls: next };
  }
}
