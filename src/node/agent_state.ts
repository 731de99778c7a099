// What the agent's loops share, in one place: the config it serves, the version that last applied
// cleanly, the last apply error and whether the master removed this node, with the transitions that
// change them. No I/O and no timers: the loops do the work and tell the state what came of it.
import type { HeartbeatRequest, NodeConfig } from "../core/sync.ts";

/** What came of one engine tick (the fields of ReconcileResult the agent looks at). */
export type ApplyOutcome = { ok: boolean; error?: { message: string } };

export class AgentState {
  #current: NodeConfig | null = null;
  #applied = 0;
  #lastError: string | null = null;
  #removed = false;

  /** The config being served (the newest accepted, applied cleanly or not); null before the first. */
  get current(): NodeConfig | null {
    return this.#current;
  }

  /** The version that last applied cleanly (0: none yet). */
  get applied(): number {
    return this.#applied;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  get removed(): boolean {
    return this.#removed;
  }

  /** The version to send as `have` in the config long-poll. */
  get have(): number {
    return this.#current?.config_version ?? 0;
  }

  /** The last good config from disk was applied at start (a failure there is not reported as an error). */
  restored(config: NodeConfig, outcome: ApplyOutcome): void {
    this.#current = config;
    if (outcome.ok) this.#applied = config.config_version;
  }

  /**
   * Whether a config from the master is older than (or as old as) the one served, which applied cleanly:
   * such a config is refused. While the served one fails to apply, any config is taken.
   */
  isStale(config: NodeConfig): boolean {
    const current = this.#current;
    return current !== null && config.config_version <= current.config_version &&
      this.#applied === current.config_version;
  }

  /** A config from the master was applied (cleanly or not): it is served from now on. */
  configApplied(config: NodeConfig, outcome: ApplyOutcome): void {
    this.#current = config;
    if (outcome.ok) {
      this.#applied = config.config_version;
      this.#lastError = null;
    } else {
      this.#lastError = outcome.error?.message ?? "apply failed";
    }
  }

  /** A periodic re-apply of the served config: a clean one clears an earlier failure. */
  reconciled(outcome: ApplyOutcome): void {
    if (outcome.ok && this.#lastError && this.#current) {
      this.#lastError = null;
      this.#applied = this.#current.config_version;
    }
    if (!outcome.ok) this.#lastError = outcome.error?.message ?? "apply failed";
  }

  /** The master removed this node. True the first time only, so the take-down runs once. */
  markRemoved(): boolean {
    if (this.#removed) return false;
    this.#removed = true;
    return true;
  }

  /** The status part of a heartbeat. */
  status(): { status: HeartbeatRequest["status"]; applied_version: number; error?: string } {
    return {
      status: this.#lastError ? "error" : "online",
      applied_version: this.#applied,
      ...(this.#lastError ? { error: this.#lastError } : {}),
    };
  }
}
