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

/** Where the accepted keys go: the client that verifies the master's answers. */
export type KeyTrust = { trustKeys(keys: string[]): Promise<void> };

const short = async (key: string) => (await sha256Hex(key)).slice(0, 16);

export class MasterTrust {
  #me: Enrollment;

  constructor(
    me: Enrollment,
    private readonly disk: Pick<NodeState, "saveEnrollment">,
    private readonly client: KeyTrust,
    private readonly log: Logger,
  ) {
    this.#me = me;
  }

  /** The keys this node accepts: the current one, and the announced next one. */
  get keys(): string[] {
    return this.#me.next_verify_key ? [this.#me.verify_key, this.#me.next_verify_key] : [this.#me.verify_key];
  }

  /** The heartbeat's field: sent only while a next key is held (only a master that announced one knows it). */
  fields(): { trusts?: string[] } {
    return this.#me.next_verify_key ? { trusts: this.keys } : {};
  }

  /** Takes what a proven heartbeat answer says about the master's keys. */
  async learn(answer: HeartbeatResponse): Promise<void> {
    if (answer.kind !== "ok") return;
    const cur = this.#me.verify_key;
    const next = this.#me.next_verify_key;
    let me: Enrollment | null = null;
    if (answer.verify_key && answer.verify_key !== cur) {
      // Proven by the session (opened under a trusted key) or by a trusted key: the master's own word, also
      // for a node that was away while the next key was announced.
      me = { ...this.#me, verify_key: answer.verify_key };
      delete me.next_verify_key;
      this.log.info("the master switched to its next signing key; the old one is no longer accepted", {
        key: await short(answer.verify_key),
        announced: answer.verify_key === next,
      });
    } else if (answer.next_verify_key && answer.next_verify_key !== cur && answer.next_verify_key !== next) {
      me = { ...this.#me, next_verify_key: answer.next_verify_key };
      this.log.info("the master announced its next signing key; accepting it beside the current one", {
        next: await short(answer.next_verify_key),
      });
    }
    if (!me) return;
    await this.disk.saveEnrollment(me); // first on disk: a restart keeps trusting what the master was told
    this.#me = me;
    await this.client.trustKeys(this.keys);
  }
}
