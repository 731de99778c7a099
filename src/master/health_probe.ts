// The master's side of the data-plane health check (protocol in core/health.ts): a plain TCP
// connection to the node's tunnel address, one line out, one signed line back, within a timeout. No
// privilege: the route to the tunnel address is the master host's WireGuard interface, which the
// built-in `local` node applies. main.ts passes the real `connect` (Deno.connect); tests pass their own.
import { checkRequestLine, MAX_HEALTH_LINE, verifyCheckAnswer } from "../core/health.ts";
import { importPublicKey, newNonce } from "../core/sync.ts";

export type ProbeTarget = { nodeId: number; address: string; port: number; verifyKey: string };
export type ProbeResult = { ok: boolean; latencyMs: number; error: string | null; applied: number | null };
/** Runs one check; never throws (a failure is a result). */
export type Probe = (target: ProbeTarget, timeoutMs: number) => Promise<ProbeResult>;

export type ProbeConn = {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  close(): void;
};
export type Connect = (o: { hostname: string; port: number }) => Promise<ProbeConn>;

function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\(os error \d+\)$/, "").slice(0, 200);
}

async function readLine(conn: ProbeConn): Promise<string> {
  const reader = conn.readable.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n") && text.length < MAX_HEALTH_LINE) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return text.split("\n")[0] ?? "";
}

export function tcpProbe(connect: Connect, now: () => number = () => performance.now()): Probe {
  return async (t, timeoutMs) => {
    const start = now();
    let conn: ProbeConn | null = null;
    let finished = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const host = t.address.includes(":") ? `[${t.address}]` : t.address;
    try {
      const nonce = newNonce();
      const line = await Promise.race([
        (async () => {
          const c = await connect({ hostname: t.address, port: t.port });
          if (finished) {
            c.close(); // connected after the timeout
            return "";
          }
          conn = c;
          const w = conn.writable.getWriter();
          await w.write(new TextEncoder().encode(checkRequestLine(t.nodeId, nonce)));
          w.releaseLock();
          return await readLine(conn);
        })(),
        timeout,
      ]);
      const latencyMs = Math.round((now() - start) * 10) / 10;
      const v = await verifyCheckAnswer(await importPublicKey(t.verifyKey), t.nodeId, nonce, line);
      return v.ok
        ? { ok: true, latencyMs, error: null, applied: v.applied }
        : { ok: false, latencyMs, error: `${host}:${t.port}: ${v.error}`, applied: null };
    } catch (err) {
      const latencyMs = Math.round((now() - start) * 10) / 10;
      return { ok: false, latencyMs, error: `${host}:${t.port}: ${reason(err)}`, applied: null };
    } finally {
      finished = true;
      clearTimeout(timer);
      try {
        (conn as ProbeConn | null)?.close();
      } catch { /* closed */ }
    }
  };
}
