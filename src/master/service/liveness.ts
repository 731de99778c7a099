// The master's periodic upkeep of nodes: nodes not heard from go offline (audited), and the metrics
// they reported are downsampled and pruned (with the sync nonces that can no longer be replayed).
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { metricsRepo, nodesFullRepo, noncesRepo } from "../db/nodes_repo.ts";
import type { AuditService } from "./audit.ts";

export type LivenessOptions = { staleAfterMs: number; metricsRawKeepMs: number };

export class LivenessService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly opts: LivenessOptions,
  ) {}

  /** The liveness job: nodes not seen for `staleAfterMs` go offline (audited). */
  markStale(): number {
    const before = this.clock.now() - this.opts.staleAfterMs;
    const stale = nodesFullRepo.staleOnline(this.db, before);
    if (stale.length === 0) return 0;
    this.db.tx(() => {
      for (const n of stale) {
        nodesFullRepo.setStatus(this.db, n.id, "offline");
        this.audit.record("scheduler", null, {
          action: "node.status",
          target: n.name,
          detail: `${n.status} -> offline`,
        });
      }
    });
    for (const n of stale) {
      this.log.warn("node offline", {
        node: n.name,
        last_seen: n.last_seen_at ? new Date(n.last_seen_at) : "never",
      });
    }
    return stale.length;
  }

  /** Downsamples and prunes metrics, and forgets old nonces. */
  housekeeping(): void {
    const now = this.clock.now();
    this.db.tx(() => {
      metricsRepo.downsample(this.db, 0, 1, 5 * 60_000, now - this.opts.metricsRawKeepMs);
      metricsRepo.downsample(this.db, 1, 2, 3_600_000, now - 7 * 86_400_000);
      metricsRepo.prune(this.db, 2, now - 90 * 86_400_000);
      noncesRepo.purge(this.db, now);
    });
  }
}
