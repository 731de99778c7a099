// The node's sync failures: an exchange that failed (status 0: unreachable), and an answer it refuses.

/** A failed exchange: `status` 0 when the master was unreachable. */
export class SyncError extends Error {
  override readonly name = "SyncError";
  constructor(readonly status: number, message: string, readonly retryAfterMs?: number) {
    super(message);
  }
  get unreachable(): boolean {
    return this.status === 0;
  }
}

/**
 * An answer the node refuses (not signed by its master, not JSON, or not what the protocol allows):
 * `version` is the config version it claimed, when it named one.
 */
export class RejectedAnswer extends SyncError {
  constructor(message: string, readonly version: number | null) {
    super(502, message);
  }
}

/** The config version an answer claims, read without trusting it (for the report of a refusal). */
export function claimedVersion(text: string): number | null {
  try {
    const v = JSON.parse(text)?.config?.config_version;
    return Number.isInteger(v) ? v : null;
  } catch {
    return null;
  }
}
