// Rotating a peer's credentials: new server-generated keys and PSK, or only a new PSK, in one transaction,
// audited, with a fresh config and QR for the client. The node serving the peer gets the new credential at
// once (its config version moves) and refuses the old one from then on. WireGuard allows one key and one
// PSK per peer, so the overlap is the client's current session: it keeps working until the client's next
// handshake (at most 2 minutes), the window in which the client installs its fresh config.
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { generateKeyPair, generatePresharedKey } from "../../core/wg_keys.ts";
import type { Db } from "../db/db.ts";
import { moveTrafficHistory } from "../db/rotation_repo.ts";
import { peersRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { HostChanges } from "./config_versions.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SecretBox } from "./secret_box.ts";
import { parseInput } from "./validate.ts";
import { poolHostsOf } from "./pool_config.ts";

export const RotatePeerSchema = z.object({
  /** false: only a new PSK (the keys stay; the client's config changes in its PresharedKey line). */
  keys: z.boolean().default(true),
}).strict();

export class RotationService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    private readonly hosts: HostChanges,
  ) {}

  /** New keys and PSK (or a new PSK) for peer `id`; returns what changed. */
  async rotatePeer(
    actor: Actor,
    meta: RequestMeta | null,
    id: number,
    input: unknown,
  ): Promise<{ keys: boolean; publicKey: string }> {
    requireAdmin(actor);
    const { keys } = parseInput(RotatePeerSchema, input, "rotation");
    const cur = peersRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Peer ${id} not found`);
    if (keys && cur.private_key_sealed === null) {
      throw new AppError(
        "conflict",
        `Peer "${cur.name}" holds its own private key: rotate its PSK only ({"keys": false}), or set the client's new public key`,
      );
    }
    let publicKey = cur.public_key;
    let privateSealed = cur.private_key_sealed;
    if (keys) {
      const pair = await generateKeyPair();
      publicKey = pair.publicKey;
      privateSealed = await this.secrets.seal(pair.privateKey, `peer:${publicKey}:private`);
    }
    const pskSealed = await this.secrets.seal(generatePresharedKey(), `peer:${publicKey}:psk`);
    this.db.tx(() => {
      peersRepo.update(this.db, {
        ...cur,
        public_key: publicKey,
        private_key_sealed: privateSealed,
        psk_sealed: pskSealed,
        updated_at: this.clock.now(),
      });
      if (keys) moveTrafficHistory(this.db, cur.public_key, publicKey);
      this.audit.record(actor, meta, {
        action: "peer.rotate",
        target: cur.name,
        detail: keys ? `keys and PSK (was ${cur.public_key.slice(0, 8)}…)` : "PSK",
      });
    });
    this.hosts.hostsChanged([cur.node_id, ...poolHostsOf(this.db, [cur.interface_id])]);
    return { keys, publicKey };
  }
}
