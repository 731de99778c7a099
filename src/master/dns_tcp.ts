// One DNS exchange over TCP (RFC 1035 4.2.2: each message behind a 2-byte length), within a deadline.
// The RFC 2136 publisher sends its signed UPDATEs this way (an answer over TCP is never truncated).
// main.ts passes the real `connect` (Deno.connect), as for the health probe; tests pass their own.
import type { Connect, ProbeConn } from "./health_probe.ts";

/** Sends `message` to `server` ("host:port", "[v6]:port"), returns the answer; throws on failure or timeout. */
export type DnsExchange = (server: string, message: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;

const MAX_MESSAGE = 65535;

/** "ns1.example.net:53", "192.0.2.1" (port 53), "[2001:db8::1]:5353". */
export function parseServer(server: string): { hostname: string; port: number } {
  const m = server.trim().match(/^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+))(?::(\d{1,5}))?$/) ??
    server.trim().match(/^()([0-9a-fA-F:]*:[0-9a-fA-F:.]*)()$/); // a bare IPv6 address
  const port = m?.[3] ? Number(m[3]) : 53;
  const hostname = m?.[1] || m?.[2];
  if (!m || !hostname || port < 1 || port > 65535) {
    throw new RangeError(`DNS server "${server}" is not host, host:port or [ipv6]:port`);
  }
  return { hostname, port };
}

/** Reads one length-prefixed message (the bytes may arrive in any chunks). */
async function readFramed(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  let buf = new Uint8Array(0);
  let need = 2;
  for (;;) {
    if (buf.length >= 2) need = 2 + ((buf[0]! << 8) | buf[1]!);
    if (buf.length >= need && buf.length >= 2) return buf.slice(2, need);
    const { value, done } = await reader.read();
    if (done) throw new Error(`connection closed after ${buf.length} of ${need} bytes`);
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
  }
}

export function tcpDnsExchange(connect: Connect): DnsExchange {
  return async (server, message, timeoutMs) => {
    if (message.length > MAX_MESSAGE) {
      throw new RangeError(`DNS message of ${message.length} bytes is too long`);
    }
    const target = parseServer(server);
    let conn: ProbeConn | null = null;
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([
        (async () => {
          const c = await connect(target);
          if (finished) {
            c.close(); // connected after the deadline
            throw new Error("connected too late");
          }
          conn = c;
          const framed = new Uint8Array(2 + message.length);
          framed[0] = message.length >> 8;
          framed[1] = message.length & 255;
          framed.set(message, 2);
          const w = c.writable.getWriter();
          await w.write(framed);
          w.releaseLock();
          const reader = c.readable.getReader();
          try {
            return await readFramed(reader);
          } finally {
            reader.releaseLock();
          }
        })(),
        timeout,
      ]);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${server}: ${msg.replace(/\s*\(os error \d+\)$/, "")}`);
    } finally {
      finished = true;
      clearTimeout(timer);
      try {
        (conn as ProbeConn | null)?.close();
      } catch { /* closed */ }
    }
  };
}
