// Enrollment, once per node: the token from the master's Nodes page becomes an enrollment (node id,
// bearer secret, the master's verification key) saved in the data directory. Retries while the master
// is unreachable or busy; a refusal (used, forged or expired token) is a configuration error.
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import { readToken } from "../core/sync.ts";
import { Backoff } from "./backoff.ts";
import type { NodeDaemonConfig } from "./config.ts";
import { secs } from "./contact.ts";
import type { Enrollment, Identity, NodeState } from "./state.ts";
import { enroll, type FetchFactory, SyncError } from "./sync_client.ts";

export type EnrollmentDeps = {
  clock: Clock;
  log: Logger;
  fetchFor: FetchFactory;
  disk: Pick<NodeState, "enrollment" | "saveEnrollment">;
  identity: Identity;
  hostname: string;
  version: string;
};

/** The saved enrollment, or a new one from the token; null when stopped while retrying. */
export async function ensureEnrolled(
  d: EnrollmentDeps,
  config: Pick<
    NodeDaemonConfig,
    "token" | "masterUrl" | "backoffMinMs" | "backoffMaxMs" | "requestTimeoutMs"
  >,
  signal: AbortSignal,
): Promise<Enrollment | null> {
  const saved = await d.disk.enrollment();
  if (saved) return saved;
  const token = config.token?.reveal();
  if (!token) {
    throw new AppError("config", "WIREBUDDY_ENROLLMENT_TOKEN is required until the node has enrolled");
  }
  const payload = readToken(token);
  if (!payload) throw new AppError("config", "Invalid enrollment token (not a WireBuddy node token)");
  d.log.info("starting enrollment with master", { url: config.masterUrl ?? payload.url });
  const backoff = new Backoff(config.backoffMinMs, config.backoffMaxMs);
  for (;;) {
    try {
      const r = await enroll(d.fetchFor, d.clock, token, payload, d.identity, {
        hostname: d.hostname,
        version: d.version,
        masterUrl: config.masterUrl,
        timeoutMs: config.requestTimeoutMs,
      });
      await d.disk.saveEnrollment(r.enrollment);
      d.log.info(`enrollment successful, node_id=${r.enrollment.node_id}`, { name: r.enrollment.name });
      return r.enrollment;
    } catch (err) {
      if (err instanceof SyncError && (err.unreachable || err.status === 429 || err.status >= 500)) {
        const wait = err.retryAfterMs ?? backoff.next();
        d.log.warn(`enrollment failed: ${err.message}; retrying in ${secs(wait)}`);
        try {
          await d.clock.sleep(wait, signal);
        } catch {
          return null;
        }
        continue;
      }
      const message = err instanceof Error ? err.message : String(err);
      throw new AppError("config", `Enrollment refused by the master: ${message}`);
    }
  }
}
