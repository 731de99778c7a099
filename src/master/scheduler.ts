// Periodic jobs of the master (peer expiry, session cleanup, later node liveness). Each job runs on
// its own interval through the Clock port, so tests drive it with a fake clock; a failing job is
// logged and retried on its next tick, never taking the others down.
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";

export type Job = { name: string; everyMs: number; run: () => unknown | Promise<unknown> };

export async function runScheduler(
  jobs: Job[],
  deps: { clock: Clock; log: Logger },
  signal: AbortSignal,
): Promise<void> {
  const loops = jobs.map(async (job) => {
    while (!signal.aborted) {
      try {
        await job.run();
      } catch (err) {
        deps.log.error("scheduled job failed", {
          job: job.name,
          err: err instanceof Error ? err.message : String(err),
        });
      }
      try {
        await deps.clock.sleep(job.everyMs, signal);
      } catch {
        return; // aborted
      }
    }
  });
  await Promise.all(loops);
}
