// Waiting for a condition in tests: poll with a deadline, never a bare sleep. The one helper every test
// uses, from the unit tests' in-process master to the namespace and browser tests.

export type WaitOptions = {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Check again after this long (default 50 ms). */
  intervalMs?: number;
};

/**
 * Polls `check` until it returns a truthy value, and returns that value. A check that throws counts as
 * "not yet" (a program still starting, a file not written yet). At the deadline it throws an error
 * naming `what`, and the last error the check threw, if any:
 * `Timed out after 10000 ms waiting for frankfurt online: connection refused`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50 }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = lastError === undefined
        ? ""
        : `: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}
