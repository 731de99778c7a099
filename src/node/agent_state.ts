// What the agent's loops share, in one place: the config it serves, the version that last applied
// cleanly, what is wrong (the last apply error, a config it refused, a disk it cannot write) and whether
// the master removed this node, with the transitions that change them. No I/O and no timers: the loops
// do the work and tell the state what came of it.
import { type HeartbeatRequest, MAX_ERROR_LENGTH, type NodeConfig, type NodeReport } from "../core/sync.ts";

const DISK_FULL = /no space left on device|database or disk is full|SQLITE_FULL|ENOSPC|quota exceeded/i;

/** A failed save as the operator should read it: `disk full: cannot save the config: No space left …`. */
export function storageProblem(what: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `${DISK_FULL.test(message) ? "disk full: " : ""}${what}: ${message}`;
}

/** What came of one engine tick (the fields of ReconcileResult the agent looks at). */
export type ApplyOutcome = {
  ok: boolean;
  error?: { message: string };
  warnings?: string[];
  commands?: number;
  durationMs?: number;
};

const shorten = (s: string, max: number) => (s.length > max ? s.slice(0, max - 1) + "…" : s);

export class AgentState {
  #current: NodeConfig | null = null;
  #applied = 0;
  #lastError: string | null = null;
  #rejected: string | null = null;
  /** What cannot be saved now, by what it is (the config, metrics …). */
  #storage = new Map<string, string>();
  #lastApply: NodeReport["apply"] = null;
  #warnings: string[] = [];
  #syncLatencyMs: number | null = null;
  #lastContactAt: number | null = null;
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
    this.#noteApply(config.config_version, outcome);
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

  /** A config from the master was refused (unsigned, malformed, another node's): reported until one is taken. */
  configRejected(version: number | null, reason: string): void {
    this.#rejected = `config ${version === null ? "" : `v${version} `}rejected: ${reason}`;
  }

  /** Saving something (`key`: the config, samples …) failed, a full disk say: reported until it works again. */
  storageFailed(key: string, message: string): void {
    this.#storage.set(key, message);
  }

  storageOk(key: string): void {
    this.#storage.delete(key);
  }

  /** A config from the master was applied (cleanly or not): it is served from now on. */
  configApplied(config: NodeConfig, outcome: ApplyOutcome): void {
    this.#noteApply(config.config_version, outcome);
    this.#rejected = null;
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
    // A clean tick that changed nothing is no apply worth reporting (unless it ends a failure).
    const changed = !outcome.ok || (outcome.commands ?? 1) > 0 || this.#lastApply?.ok === false;
    if (this.#current && changed) this.#noteApply(this.#current.config_version, outcome);
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

  /** Everything wrong now, in one line (null: nothing). */
  get problem(): string | null {
    const all = [this.#lastError, this.#rejected, ...this.#storage.values()].filter((p): p is string =>
      p !== null
    );
    return all.length > 0 ? all.join("; ") : null;
  }

  #noteApply(version: number, outcome: ApplyOutcome): void {
    this.#lastApply = {
      ok: outcome.ok,
      error: outcome.ok ? null : shorten(outcome.error?.message ?? "apply failed", MAX_ERROR_LENGTH),
      version,
      duration_ms: Math.max(0, outcome.durationMs ?? 0),
    };
    this.#warnings = (outcome.warnings ?? []).slice(0, 20).map((w) => shorten(w, 300));
  }

  /** A heartbeat was answered at `at` after `latencyMs` (the round trip is reported in the next). */
  synced(latencyMs: number, at: number | null = null): void {
    this.#syncLatencyMs = Math.max(0, latencyMs);
    if (at !== null) this.#lastContactAt = at;
  }

  /** When the master last answered a heartbeat (null: not since the start). */
  get lastContactAt(): number | null {
    return this.#lastContactAt;
  }

  /** The report part of a heartbeat: the last apply, its warnings, the queue depth, the sync latency. */
  report(queueDepth: number | null): NodeReport {
    return {
      apply: this.#lastApply,
      warnings: this.#warnings,
      queue_depth: queueDepth,
      sync_latency_ms: this.#syncLatencyMs,
    };
  }

  /** The status part of a heartbeat; a long error is shortened to what the protocol carries. */
  status(): { status: HeartbeatRequest["status"]; applied_version: number; error?: string } {
    const problem = this.problem;
    return {
      status: problem ? "error" : "online",
      applied_version: this.#applied,
      ...(problem
        ? {
          error: problem.length > MAX_ERROR_LENGTH ? problem.slice(0, MAX_ERROR_LENGTH - 1) + "…" : problem,
        }
        : {}),
    };
  }
}
