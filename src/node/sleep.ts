// The agent's two ways to wait: pause() ends early when the agent stops; a Wakeable also ends early
// when another loop asks (e.g. "send a heartbeat now", "the master is back: ask again"). A Wakeable can
// also cut short a request in flight (a long-poll a partition left hanging). Neither throws: a loop
// checks its stop signal.
import type { Clock } from "../core/ports/types.ts";

/** Sleeps `ms`, or less when `signal` aborts. */
export async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch {
    // stopped
  }
}

/** A sleep that another loop can cut short; a wake that comes while nobody waits is kept for the next. */
export class Wakeable {
  #wake: (() => void) | null = null;
  #pending = false;

  async sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
    const held = this.hold(signal);
    if (held.signal.aborted) return held.release();
    try {
      await clock.sleep(ms, held.signal);
    } catch {
      // woken or stopped
    } finally {
      held.release();
    }
  }

  /**
   * A signal for one wait of another kind (a request): it aborts when `signal` does or when woken.
   * Call release() when the wait is over. A wake kept from before aborts it at once.
   */
  hold(signal: AbortSignal): { signal: AbortSignal; release: () => void } {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal.reason);
    if (signal.aborted) ctl.abort(signal.reason);
    else signal.addEventListener("abort", onAbort, { once: true });
    if (this.#pending) {
      this.#pending = false;
      ctl.abort(new Error("woken"));
    }
    const wake = () => ctl.abort(new Error("woken"));
    this.#wake = wake;
    return {
      signal: ctl.signal,
      release: () => {
        if (this.#wake === wake) this.#wake = null;
        signal.removeEventListener("abort", onAbort);
      },
    };
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}
