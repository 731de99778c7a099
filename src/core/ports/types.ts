// Ports: the only ways our code reaches the world. Real implementations live in ./real.ts; unit tests
// pass fakes (test/support/fakes.ts), so a unit test that touches the machine fails instead of passing.

export type ExecResult = { code: number; stdout: string; stderr: string };

export type ExecOptions = {
  /** Written to the command's stdin (keys go here, never into argv). */
  stdin?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
};

export interface Exec {
  /** Runs argv[0] with argv[1..] (no shell) and collects its output. Never throws for a non-zero exit. */
  run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Fs {
  readText(path: string): Promise<string | null>;
  /** Writes through a temporary file, fsync and rename: a crash leaves the old or the new file. */
  writeTextAtomic(path: string, text: string, mode?: number): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  remove(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

export type Random = {
  /** Fills a new array with `n` cryptographically random bytes. */
  bytes(n: number): Uint8Array;
};
