// The node's answer to the master's tunnel health check (protocol in core/health.ts): a TCP responder
// bound ONLY to this node's tunnel addresses on the master's interface (the one whose config carries
// `master_peer`), so the master reaches it only across the WireGuard tunnel. Each tick it listens on
// the addresses the served config names and drops the others; an address the host does not have yet
// (the interface is down or being rebuilt) is tried again on the next tick. An answer is signed with
// the node's identity key over the master's nonce and the applied config version.
import { checkAnswerLine, MAX_HEALTH_LINE, parseCheckRequest } from "../core/health.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock } from "../core/ports/types.ts";
import type { NodeConfig } from "../core/sync.ts";

export type HealthConn = {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  close(): void;
};
export type HealthListener = AsyncIterable<HealthConn> & { close(): void };
/** Binds a TCP listener (main.ts passes the runtime's listen); throws when the address is not on the host. */
export type Listen = (o: { hostname: string; port: number }) => HealthListener;

export type ResponderDeps = {
  clock: Clock;
  log: Logger;
  stop: AbortSignal;
  listen: Listen;
  key: CryptoKey;
  nodeId: number;
  port: number;
  intervalMs: number;
  state: { readonly current: NodeConfig | null; readonly applied: number };
};

/** The addresses to answer on: the node's own addresses on the interface that peers with the master. */
export function responderAddresses(config: NodeConfig | null): string[] {
  return (config?.interfaces ?? [])
    .filter((i) => i.master_peer !== null)
    .flatMap((i) => i.addresses.map((a) => a.replace(/\/\d+$/, "")));
}

async function readRequest(conn: HealthConn, clock: Clock): Promise<string> {
  const reader = conn.readable.getReader();
  const dec = new TextDecoder();
  let text = "";
  const giveUp = new AbortController();
  const timer = clock.sleep(2_000, giveUp.signal).then(() => reader.cancel(), () => {});
  try {
    while (!text.includes("\n") && text.length < MAX_HEALTH_LINE) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } finally {
    giveUp.abort();
    await timer;
    reader.releaseLock();
  }
  return text.split("\n")[0] ?? "";
}

async function answer(d: ResponderDeps, conn: HealthConn): Promise<void> {
  try {
    const req = parseCheckRequest(await readRequest(conn, d.clock));
    if (!req || req.nodeId !== d.nodeId) return;
    const line = await checkAnswerLine(d.key, d.nodeId, req.nonce, d.state.applied);
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode(line));
    w.releaseLock();
  } catch (err) {
    d.log.debug("health check connection failed", { error: (err as Error).message });
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function serve(d: ResponderDeps, listener: HealthListener): Promise<void> {
  try {
    for await (const conn of listener) void answer(d, conn);
  } catch {
    // closed
  }
}

/** Keeps a listener on every responder address until `stop`. */
export async function healthResponderLoop(d: ResponderDeps): Promise<void> {
  const open = new Map<string, { listener: HealthListener; served: Promise<void> }>();
  const failing = new Set<string>();
  try {
    while (!d.stop.aborted) {
      const want = new Set(responderAddresses(d.state.current));
      for (const [addr, l] of open) {
        if (want.has(addr)) continue;
        l.listener.close();
        await l.served;
        open.delete(addr);
      }
      for (const addr of want) {
        if (open.has(addr)) continue;
        try {
          const listener = d.listen({ hostname: addr, port: d.port });
          open.set(addr, { listener, served: serve(d, listener) });
          failing.delete(addr);
          d.log.info("health responder listening", { address: addr, port: d.port });
        } catch (err) {
          if (!failing.has(addr)) {
            d.log.warn("health responder cannot listen yet; retrying", {
              address: addr,
              port: d.port,
              error: (err as Error).message,
            });
          }
          failing.add(addr);
        }
      }
      try {
        await d.clock.sleep(d.intervalMs, d.stop);
      } catch {
        break;
      }
    }
  } finally {
    for (const l of open.values()) l.listener.close();
    await Promise.all([...open.values()].map((l) => l.served));
  }
}
