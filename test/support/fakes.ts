// Fakes of the ports in src/core/ports/types.ts, for unit tests that need no permissions.
import type { Clock, Exec, ExecOptions, ExecResult, Fs } from "../../src/core/ports/types.ts";

/** A clock that only moves when told to; sleeps resolve as time passes. */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: { at: number; resolve: () => void }[] = [];
  constructor(start = Date.UTC(2026, 10, 22, 10, 0, 0)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = { at: this.#now + ms, resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal.reason);
      }, { once: true });
    });
  }
  /** Moves time forward and wakes every sleeper that is due. */
  advance(ms: number): void {
    this.#now += ms;
    const due = this.#sleepers.filter((s) => s.at <= this.#now);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#now);
    for (const s of due) s.resolve();
  }
  get pendingSleeps(): number {
    return this.#sleepers.length;
  }
}

/** An in-memory filesystem. */
export class MemFs implements Fs {
  readonly files = new Map<string, { text: string; mode: number }>();
  readonly dirs = new Set<string>();
  readText(path: string): Promise<string | null> {
    return Promise.resolve(this.files.get(path)?.text ?? null);
  }
  writeTextAtomic(path: string, text: string, mode = 0o600): Promise<void> {
    this.files.set(path, { text, mode });
    return Promise.resolve();
  }
  mkdir(path: string): Promise<void> {
    this.dirs.add(path);
    return Promise.resolve();
  }
  remove(path: string): Promise<void> {
    this.files.delete(path);
    for (const key of [...this.files.keys()]) if (key.startsWith(path + "/")) this.files.delete(key);
    this.dirs.delete(path);
    return Promise.resolve();
  }
  exists(path: string): Promise<boolean> {
    return Promise.resolve(this.files.has(path) || this.dirs.has(path));
  }
}

export type ScriptedCall = { argv: string[]; stdin?: string };

/**
 * An Exec that answers from a handler and records every call. The default handler rejects every
 * command, so a test states exactly what it expects to be run.
 */
export class ScriptedExec implements Exec {
  readonly calls: ScriptedCall[] = [];
  constructor(
    private readonly handler: (argv: string[], stdin?: string) => ExecResult | undefined = () => undefined,
  ) {}
  run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const call: ScriptedCall = {
      argv: [...argv],
      ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
    };
    this.calls.push(call);
    const result = this.handler(call.argv, options.stdin);
    if (!result) return Promise.reject(new Error(`unexpected command: ${argv.join(" ")}`));
    return Promise.resolve(result);
  }
}
