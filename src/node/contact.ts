// The node's contact with the master, as both sync loops (config and heartbeat) see it. When contact
// is lost it says so once (with the error), reminds every 5 minutes while it lasts, and says when it
// is back; the loop that gets through first wakes the other, so after an outage or a partition the
// node is online and current at once instead of after its own backoff (a stuck long-poll is cut short).
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import type { Wakeable } from "./sleep.ts";
import { SyncError } from "./sync_client.ts";

export type SyncLoop = "config" | "heartbeat";

/** 5m, 42s, 1h3m: how long, as an operator reads it in a log line. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  return `${Math.floor(m / 60)}h${m % 60 === 0 ? "" : `${m % 60}m`}`;
}

export const secs = (ms: number) => `${Math.round(ms / 1000)}s`;

/** What went wrong, in words, and whether it is the master refusing this node (an error, not a warning). */
function describe(err: unknown): { text: string; refused: boolean } {
  if (err instanceof SyncError && [401, 403, 404].includes(err.status)) {
    return { text: `the master refused this node: ${err.message}`, refused: true };
  }
  if (err instanceof SyncError && !err.unreachable) {
    return { text: `the master answered HTTP ${err.status}: ${err.message}`, refused: false };
  }
  return { text: err instanceof Error ? err.message : String(err), refused: false };
}

export class Contact {
  #lost: { since: number; text: string; remindedAt: number } | null = null;
  /** When an exchange last worked (either loop). */
  #okAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly wake: Record<SyncLoop, Wakeable>,
    private readonly remindMs = 5 * 60_000,
  ) {}

  /** Whether the last exchange with the master failed. */
  get lost(): boolean {
    return this.#lost !== null;
  }

  /**
   * An exchange of `loop`, sent at `sentAt`, failed; the loop tries again in `retryMs`. A request sent
   * before the last exchange that worked says nothing new: one held across a partition that times out
   * after the other loop got through would otherwise report the contact lost again right after it came
   * back. Its loop's next try reports a real loss.
   */
  failed(loop: SyncLoop, err: unknown, retryMs: number, sentAt: number): void {
    const { text, refused } = describe(err);
    const now = this.clock.now();
    if (sentAt < this.#okAt) {
      this.log.debug(`${loop} failed: ${text} (sent before contact came back); retrying in ${secs(retryMs)}`);
      return;
    }
    const say = (line: string) => (refused ? this.log.error(line) : this.log.warn(line));
    const lost = this.#lost;
    if (!lost) {
      this.#lost = { since: now, text, remindedAt: now };
      say(
        `lost contact with the master: ${text}; retrying in ${secs(retryMs)} (serving the last good config)`,
      );
    } else if (text !== lost.text && refused) {
      lost.text = text;
      say(`still no contact with the master after ${duration(now - lost.since)}: ${text}`);
    } else if (now - lost.remindedAt >= this.remindMs) {
      lost.remindedAt = now;
      lost.text = text;
      say(`still no contact with the master after ${duration(now - lost.since)}: ${text}`);
    } else {
      this.log.debug(`${loop} failed: ${text}; retrying in ${secs(retryMs)}`);
    }
  }

  /** An exchange of `loop` worked. After a loss, the other loop is woken to catch up at once. */
  succeeded(loop: SyncLoop): void {
    this.#okAt = this.clock.now();
    const lost = this.#lost;
    if (!lost) return;
    this.#lost = null;
    this.log.info(`contact with the master restored after ${duration(this.clock.now() - lost.since)}`);
    this.wake[loop === "config" ? "heartbeat" : "config"].wake();
  }
}
