// The byte pumps behind conn_guard.ts: copying between two connections with small reused buffers, a
// lingering close, and just enough HTTP/1.1 framing to time a request head.
/** What a pump needs of a connection (Deno's TCP and TLS connections fit). */
export interface Pipe {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
}

/** Finds the blank line ending a request head: `\n\n` or `\n\r\n`, across chunks (state in `s`). */
export function headEnd(s: { p1: number; p2: number }, chunk: Uint8Array): boolean {
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b === 10 && (s.p1 === 10 || (s.p1 === 13 && s.p2 === 10))) {
      s.p1 = s.p2 = 0;
      return true;
    }
    s.p2 = s.p1;
    s.p1 = b;
  }
  return false;
}

export const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 ");
export const startsWith = (chunk: Uint8Array, prefix: Uint8Array) =>
  chunk.length >= prefix.length && prefix.every((b, i) => chunk[i] === b);

/** How long, and how much, a finished connection keeps reading (and discarding) before it closes. */
export const LINGER_MS = 2_000;
const LINGER_BYTES = 1 << 20;

/**
 * Read buffers start small and grow while reads fill them: a pending read holds its buffer, and an idle
 * connection has four of them pending (two relays, two directions). Streams would hold 64 KiB each.
 */
const MIN_BUFFER = 2 * 1024;
const MAX_BUFFER = 64 * 1024;

/**
 * Copies what `from` receives to `to`, calling `seen` for each chunk first; half-closes `to` when `from`
 * ends, and `wrote` after each chunk `to` took. With `sink.discard` set it only reads and drops (up to
 * LINGER_BYTES), as it does after a failed write with `onWriteError` "discard" (the server went away
 * first: the client's rest is drained, not refused). One buffer per direction, reused.
 */
export async function pump(
  from: Pipe,
  to: Pipe,
  sink: { discard: boolean; dropped?: number },
  onWriteError: "discard" | "throw",
  seen: (chunk: Uint8Array) => void,
  wrote: () => void = () => {},
): Promise<void> {
  let buf = new Uint8Array(MIN_BUFFER);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) break;
    const chunk = buf.subarray(0, n);
    seen(chunk);
    if (sink.discard) {
      sink.dropped = (sink.dropped ?? 0) + n;
      if (sink.dropped > LINGER_BYTES) return;
      continue;
    }
    try {
      for (let off = 0; off < n;) off += await to.write(chunk.subarray(off));
      wrote();
    } catch (err) {
      if (onWriteError === "throw") throw err;
      sink.discard = true;
    }
    if (n === buf.length && buf.length < MAX_BUFFER) buf = new Uint8Array(buf.length * 4);
    else if (n < MIN_BUFFER && buf.length > MIN_BUFFER) buf = new Uint8Array(MIN_BUFFER);
  }
  if (!sink.discard) await to.closeWrite().catch(() => {});
}
