// The master's periodic upkeep of nodes: nodes not heard from go offline (audited), and the metrics
// they reported are downsampled and pruned (with the sync nonces that can no longer be replayed), in
// slices: each slice is one short transaction, and the event loop turns between them, so a fleet's
// worth of samples never stalls heartbeats.
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { metricsRepo, noncesRepo } from "../db/nodes_repo.ts";
import type { AuditService } from "./audit.ts";
import type { HealthService } from "./health.ts";

export type LivenessOptions = {
  staleAfterMs: number;
  metricsRawKeepMs: number;
  /** Lets other work run between two slices of housekeeping (default: one event-loop turn). */
  pause?: () => Promise<void>;
};

/** Each slice covers this many buckets of the resolution it rolls up (aligned, so no bucket is split). */
const BUCKETS_PER_SLICE = 1;
const nextTurn = () => new Promise<void>((r) => setTimeout(r, 0));

export class LivenessService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly opts: LivenessOptions,
    private readonly health?: Pick<HealthService, "markStale">,
  ) {}

  /** The liveness job: nodes not seen for `staleAfterMs` go offline (through the health rule, audited). */
  markStale(): number {
    return this.health?.markStale() ?? 0;
  }

  /** Downsamples and prunes metrics, and forgets old nonces, a slice at a time. */
  async housekeeping(): Promise<void> {
    const now = this.clock.now();
    await this.#rollUp(0, 1, 5 * 60_000, now - this.opts.metricsRawKeepMs);
    await this.#rollUp(1, 2, 3_600_000, now - 7 * 86_400_000);
    await this.#sliced(() => metricsRepo.oldest(this.db, 2), now - 90 * 86_400_000, 86_400_000, (upTo) => {
      metricsRepo.prune(this.db, 2, upTo);
    });
    await this.#sliced(() => noncesRepo.oldest(this.db), now, 60_000, (upTo) => {
      noncesRepo.purge(this.db, upTo);
    });
  }

  /** Rolls samples older than `before` from one resolution into buckets of the next. */
  async #rollUp(from: number, to: number, bucketMs: number, before: number): Promise<void> {
    const cutoff = before - (before % bucketMs); // a bucket still filling is left whole
    await this.#sliced(
      () => metricsRepo.oldest(this.db, from),
      cutoff,
      bucketMs * BUCKETS_PER_SLICE,
      (upTo) => {
        metricsRepo.downsample(this.db, from, to, bucketMs, upTo);
      },
    );
  }

  /**
   * Runs `step(upTo)` (which removes everything before `upTo`) one aligned slice past the oldest row at
   * a time, one transaction each, until nothing older than `end` is left. Empty stretches cost nothing.
   */
  async #sliced(oldest: () => number | null, end: number, sliceMs: number, step: (upTo: number) => void) {
    const pause = this.opts.pause ?? nextTurn;
    for (let first = true;; first = false) {
      const o = oldest();
      if (o === null || o >= end) return;
      if (!first) await pause();
      const upTo = Math.min(o - (o % sliceMs) + sliceMs, end);
      this.db.tx(() => step(upTo));
    }
  }
}
