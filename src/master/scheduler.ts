// Periodic jobs of the master (peer expiry, session cleanup, later node liveness). Each job runs on
// its own interval through the Clock port, so tests drive it with a fake clock; a failing job is
// logged and retried on its next tick, never taking the others down.
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import type { Services } from "./service/services.ts";
import type { RotationConfig } from "./config_rotation.ts";

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

/** The master's periodic jobs, on their intervals (main.ts runs them; the health ones tick every second). */
export function masterJobs(s: Services, o: { staleCheckMs: number }): Job[] {
  return [
    {
      name: "expire peers",
      everyMs: 60_000,
      run: () => {
        s.watch.peersExpiring(); // the events first: a crash between the two repeats neither
        return s.peers.expireDue();
      },
    },
    { name: "purge sessions", everyMs: 10 * 60_000, run: () => s.login.purgeExpiredSessions() },
    { name: "mark stale nodes", everyMs: o.staleCheckMs, run: () => s.liveness.markStale() },
    { name: "metrics housekeeping", everyMs: 10 * 60_000, run: () => s.liveness.housekeeping() },
    {
      name: "node health checks",
      everyMs: 1_000,
      run: async () => {
        const checked = await s.health.checkDue();
        s.poolDns.kick(); // DNS-mode pools follow each round (in the background: a slow server delays no check)
        s.poolTakeovers.review(); // and their clients move off a member that died or was drained
        return checked;
      },
    },
    { name: "webhook deliveries", everyMs: 1_000, run: () => s.webhooks.deliverDue() },
    {
      name: "configs not applied",
      everyMs: Math.min(10_000, o.staleCheckMs),
      run: () => s.watch.notApplied(),
    },
    { name: "prune events", everyMs: 3_600_000, run: () => s.events.prune() },
    { name: "dns blocklist refresh", everyMs: 10 * 60_000, run: () => s.dnsLists.refreshDue() },
    { name: "dns pause end", everyMs: 15_000, run: () => s.dns.tick() },
    { name: "dns query log retention", everyMs: 3_600_000, run: () => s.dnsLog.purge() },
    // An announced signing key: the switch once every node trusts it, or at the end of its grace period.
    { name: "signing key switch", everyMs: 60_000, run: () => s.signingKey.switchDue() },
    { name: "tls certificate switch", everyMs: 60_000, run: () => s.tlsRotation.switchDue() },
    // A node's WireGuard key rotation: ends once every client moved, or at the end of its overlap window.
    { name: "node wireguard key switch", everyMs: 10_000, run: () => s.wgKeys.finishDue() },
  ];
}

/** WIREBUDDY_ROTATE_*_EVERY: a new signing key, TLS certificate, node identity or node WireGuard keys when the last ones are that old. */
export function rotationJobs(s: Services, r: RotationConfig): Job[] {
  const [key, tls, identity, wg] = [
    r.signingKeyEveryMs,
    r.tlsEveryMs,
    r.nodeIdentityEveryMs,
    r.nodeWgKeysEveryMs ?? null,
  ];
  return [
    ...(key === null
      ? []
      : [{ name: "signing key rotation", everyMs: 60_000, run: () => s.signingKey.startIfDue(key) }]),
    ...(tls === null
      ? []
      : [{ name: "tls certificate rotation", everyMs: 60_000, run: () => s.tlsRotation.startIfDue(tls) }]),
    ...(identity === null
      ? []
      : [{ name: "node identity rotation", everyMs: 60_000, run: () => s.identity.requestDue(identity) }]),
    ...(wg === null
      ? []
      : [{ name: "node wireguard key rotation", everyMs: 60_000, run: () => s.wgKeys.startDue(wg) }]),
  ];
}
