// The agent's two ways to wait: pause() ends early when the agent stops; a Wakeable also ends early
// when another loop asks (e.g. "send a heartbeat now"). Neither throws: a loop checks its stop signal.
import type { Clock } from "../core/ports/types.ts";

/** Sleeps `ms`, or less when `signal` aborts. */
export async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch {
    // stopped
  }
}

/** A sleep that another loop can cut short; a wake that comes while nobody sleeps is kept for the next. */
export class Wakeable {
  #wake: (() => void) | null = null;
  #pending = false;

  async sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return;
    }
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#wake = () => ctl.abort();
    try {
      await clock.sleep(ms, ctl.signal);
    } catch {
      // woken or stopped
    } finally {
      this.#wake = null;
      signal.removeEventListener("abort", onAbort);
    }
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}
