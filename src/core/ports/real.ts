// The real implementations of the ports in ./types.ts: the one place besides main.ts files that may use Deno.*.
import type { Clock, Exec, ExecOptions, ExecResult, Fs } from "./types.ts";
import type { LogLevel, LogSink } from "../logger.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export const realExec: Exec = {
  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error("Exec.run needs a command");
    const child = new Deno.Command(cmd, {
      args,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }).spawn();
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(encoder.encode(options.stdin));
      await writer.close();
    }
    const out = await child.output();
    return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
  },
};

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

export const realFs: Fs = {
  async readText(path) {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  },
  async writeTextAtomic(path, text, mode = 0o600) {
    const tmp = `${path}.tmp-${crypto.randomUUID()}`;
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      await file.write(encoder.encode(text));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    const dir = path.slice(0, Math.max(path.lastIndexOf("/"), 1));
    try {
      const d = await Deno.open(dir, { read: true });
      try {
        await d.sync();
      } finally {
        d.close();
      }
    } catch {
      // fsync of a directory is best effort (not supported on every filesystem)
    }
  },
  async mkdir(path, mode = 0o700) {
    await Deno.mkdir(path, { recursive: true, mode });
  },
  async remove(path) {
    try {
      await Deno.remove(path, { recursive: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  },
  async exists(path) {
    try {
      await Deno.lstat(path);
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  },
};

/** Writes log lines to stderr synchronously, so nothing is lost when the process dies right after. */
export const stderrSink: LogSink = (line: string, _level: LogLevel) => {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
};

/**
 * One request/answer exchange over a unix socket (wireguard-go's UAPI): writes `text`, reads until the
 * answer's blank line. Null when nothing listens at `path`.
 */
export async function realUnixRequest(path: string, text: string): Promise<string | null> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.ConnectionRefused) return null;
    throw err;
  }
  try {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    const buf = new Uint8Array(65536);
    const dec = new TextDecoder();
    let answer = "";
    while (!answer.endsWith("\n\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      answer += dec.decode(buf.subarray(0, n), { stream: true });
    }
    return answer;
  } finally {
    conn.close();
  }
}

/** A child process whose output goes to ours (the journal): wireguard-go, keepalived. */
export function realSpawn(
  argv: string[],
): { pid: number; exited: Promise<number>; kill(signal: "SIGTERM" | "SIGKILL"): void } {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return { pid: child.pid, exited: child.status.then((s) => s.code), kill: (sig) => child.kill(sig) };
}

/**
 * keepalived's notify fifo (pools/announcer.ts), made when missing and opened for reading and writing:
 * the open never waits for a writer and a keepalived that restarts is no end of file. An empty line
 * first (the fifo is open), then each line written; stopping writes one newline to end the read.
 */
export async function* realFifoLines(path: string, stop: AbortSignal): AsyncGenerator<string> {
  const st = await Deno.lstat(path).catch(() => null);
  if (st && !st.isFifo) await Deno.remove(path);
  if (!st?.isFifo) {
    const r = await realExec.run(["mkfifo", "-m", "0600", path]);
    if (r.code !== 0) throw new Error(`mkfifo ${path}: ${r.stderr.trim()}`);
  }
  const f = await Deno.open(path, { read: true, write: true });
  const wake = () => {
    try {
      f.writeSync(new TextEncoder().encode("\n"));
    } catch { /* closed */ }
  };
  stop.addEventListener("abort", wake, { once: true });
  try {
    yield "";
    const decoder = new TextDecoder();
    const buf = new Uint8Array(4096);
    let rest = "";
    while (!stop.aborted) {
      const n = await f.read(buf);
      if (n === null) break;
      rest += decoder.decode(buf.subarray(0, n), { stream: true });
      for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        yield line;
      }
    }
  } finally {
    stop.removeEventListener("abort", wake);
    f.close();
  }
}

/** A host name's A and AAAA addresses through the system's resolver, within `timeoutMs`; [] for none. */
export async function realResolveHost(host: string, timeoutMs = 3_000): Promise<string[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  const none = (err: unknown) => {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  };
  const [a, aaaa] = await Promise.all([
    Deno.resolveDns(host, "A", { signal }).catch(none),
    Deno.resolveDns(host, "AAAA", { signal }).catch(none),
  ]);
  return [...a, ...aaaa];
}
