// Connection limits in front of the HTTP server. Deno.serve (2.9) has no handshake, header or idle
// timeout, no cap on connections, and cannot serve a connection it did not accept itself; and a TLS
// connection Deno accepted cannot be closed before its handshake ends (the socket stays open until the
// client gives up). So the master accepts plain TCP here, applies the caps, and relays:
//
//   client -> [accept: caps, handshake deadline] -> TLS listener on loopback -> [HTTP relay: header and
//   idle deadlines] -> Deno.serve on loopback
//
// (without TLS the first relay is the HTTP relay). Closing the outer plain socket always works, and it
// ends the inner handshake too. The loopback listeners are only for these relays: a request that did not
// come through them is refused, and the handler learns the real client address from the relays' registry
// (keyed by each relay connection's local port).
//
// A relay whose server side has finished half-closes towards the client and then reads and discards
// what the client still sends for a moment (a lingering close) before closing: closing a socket with
// unread input resets it, and the client would lose the answer (a 413 to an upload, say).
//
// The HTTP relay understands just enough HTTP/1.1 to time a request head: a head starts with the first
// client byte of a connection or after the server has answered, and ends at the blank line. Only HTTP/1.1
// is offered over TLS (ALPN), so every connection is framed that way.

import { CONTINUE, headEnd, LINGER_MS, pump, startsWith } from "./conn_relay.ts";

/** An accepted or dialled connection (Deno's TCP and TLS connections fit). */
export interface GuardConn {
  readonly remoteAddr: { hostname: string; port: number };
  readonly localAddr: { hostname: string; port: number };
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  /** Ends the sending side (FIN, or close_notify for TLS) and keeps receiving. */
  closeWrite(): Promise<void>;
  close(): void;
}
export interface GuardTlsConn extends GuardConn {
  handshake(): Promise<unknown>;
}
export interface GuardListener<C> {
  accept(): Promise<C>;
  close(): void;
}
export type GuardHandler = (
  req: Request,
  info: { remoteAddr: { hostname: string; port: number } },
) => Response | Promise<Response>;

/** The network and the inner HTTP server: `Deno` itself, in main.ts. */
export type GuardNet = {
  listen(options: { hostname: string; port: number; transport?: "tcp" }): GuardListener<GuardConn>;
  listenTls(
    options: { hostname: string; port: number; cert: string; key: string; alpnProtocols: string[] },
  ): GuardListener<GuardTlsConn> & { readonly addr: { hostname: string; port: number } };
  connect(options: { hostname: string; port: number; transport?: "tcp" }): Promise<GuardConn>;
  serve(
    options: { hostname: string; port: number; signal: AbortSignal; onListen: () => void },
    handler: GuardHandler,
  ): { finished: Promise<void>; addr: { hostname: string; port: number } };
};

export type GuardLimits = {
  handshakeTimeoutMs: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxTotal: number;
  maxPerAddress: number;
};

export type GuardOptions = {
  hostname: string;
  port: number;
  tls: { cert: string; key: string } | null;
  limits: GuardLimits;
  /** Loopback peers (a TLS-terminating proxy) are not capped per address. */
  trustLoopback: boolean;
  signal: AbortSignal;
  onListen: () => void;
  warn: (message: string, fields: Record<string, string | number>) => void;
};

type Phase = "handshake" | "head" | "awaiting" | "responding";

/** One client connection, through however many relay hops. */
type Tracked = {
  peer: { hostname: string; port: number };
  phase: Phase;
  since: number;
  lastActivity: number;
  /** Every socket of this connection, closed together. */
  sockets: GuardConn[];
  closed: boolean;
};

function closeAll(t: Tracked): void {
  t.closed = true;
  for (const c of t.sockets) {
    try {
      c.close();
    } catch {
      // already closed
    }
  }
}

const isLoopback = (ip: string) => ip === "::1" || ip.startsWith("127.") || ip === "::ffff:127.0.0.1";

/**
 * Serves `handler` behind the guard. `finished` resolves once the server has stopped (after `signal`)
 * and every relayed connection is closed.
 */
export function serveGuarded(
  net: GuardNet,
  options: GuardOptions,
  handler: GuardHandler,
): { finished: Promise<void> } {
  const { limits } = options;
  /** Relay connections by their local port on loopback: who they carry. */
  const hops = new Map<number, Tracked>();
  /** The TLS listener may accept a hop before dial() has registered it: it waits here. */
  const hopWaiters = new Map<number, (t: Tracked | undefined) => void>();
  const open = new Set<Tracked>();
  const perAddress = new Map<string, number>();
  const lastWarn = new Map<string, number>();
  const tasks = new Set<Promise<void>>();
  const track = (task: Promise<void>) => {
    const done = task.catch(() => {}).finally(() => tasks.delete(done));
    tasks.add(done);
  };

  const warnOnce = (kind: string, fields: Record<string, string | number>) => {
    const now = Date.now();
    if (now - (lastWarn.get(kind) ?? 0) < 60_000) return;
    lastWarn.set(kind, now);
    options.warn(`connection refused: ${kind}`, fields);
  };

  const inner = net.serve(
    { hostname: "127.0.0.1", port: 0, signal: options.signal, onListen: () => {} },
    (req, info) => {
      const t = info.remoteAddr.hostname === "127.0.0.1" ? hops.get(info.remoteAddr.port) : undefined;
      if (!t) return new Response("Connect through the master's public port.\n", { status: 421 });
      return handler(req, { remoteAddr: t.peer });
    },
  );

  /** Dials `port` on loopback for `t` and registers the hop; null when `t` closed meanwhile. */
  async function dial(t: Tracked, port: number): Promise<GuardConn | null> {
    const conn = await net.connect({ hostname: "127.0.0.1", port });
    t.sockets.push(conn);
    if (t.closed) {
      closeAll(t);
      return null;
    }
    hops.set(conn.localAddr.port, t);
    hopWaiters.get(conn.localAddr.port)?.(t);
    return conn;
  }

  /** Relays plaintext HTTP/1.1 between `down` and the inner server, timing heads and idle time. */
  async function relayHttp(down: GuardConn, t: Tracked): Promise<void> {
    const up = await dial(t, inner.addr.port);
    if (!up) return;
    t.phase = "head";
    t.since = t.lastActivity = Date.now();
    const scan = { p1: 0, p2: 0 };
    const fromClient = { discard: false };
    const toServer = pump(down, up, fromClient, "discard", (chunk) => {
      const now = Date.now();
      t.lastActivity = now;
      if (t.phase === "responding") {
        t.phase = "head";
        t.since = now;
        scan.p1 = scan.p2 = 0;
      }
      if (t.phase === "head" && headEnd(scan, chunk)) t.phase = "awaiting";
    });
    const toClient = pump(up, down, { discard: false }, "throw", (chunk) => {
      t.lastActivity = Date.now();
      if (t.phase !== "responding" && !startsWith(chunk, CONTINUE)) t.phase = "responding";
    }, () => (t.lastActivity = Date.now())); // a slow reader that keeps reading is not idle
    try {
      await finish(toClient, toServer, fromClient, () => (t.phase = "responding"));
    } finally {
      hops.delete(up.localAddr.port);
    }
  }

  /**
   * Waits for the server side to finish, then lingers on the client side. Throws (and so closes
   * everything) when either side breaks; a client that only half-closes still gets its answer.
   */
  async function finish(
    toClient: Promise<void>,
    toServer: Promise<void>,
    fromClient: { discard: boolean },
    lingering: () => void,
  ): Promise<void> {
    await Promise.race([toClient, toServer.then(() => toClient)]);
    fromClient.discard = true;
    lingering();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      toServer.catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, LINGER_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Relays the client's encrypted bytes to the TLS listener; the handshake deadline runs meanwhile. */
  async function relayTls(client: GuardConn, t: Tracked, tlsPort: number): Promise<void> {
    const up = await dial(t, tlsPort);
    if (!up) return;
    const fromClient = { discard: false };
    try {
      await finish(
        pump(up, client, { discard: false }, "throw", () => {}),
        pump(client, up, fromClient, "discard", () => {}),
        fromClient,
        () => {},
      );
    } finally {
      hops.delete(up.localAddr.port);
    }
  }

  const tlsListener = options.tls
    ? net.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: options.tls.cert,
      key: options.tls.key,
      alpnProtocols: ["http/1.1"],
    })
    : null;
  const listener = net.listen({ hostname: options.hostname, port: options.port });
  options.onListen();

  // One sweep for every connection's deadlines.
  const sweepMs = Math.max(
    50,
    Math.min(1000, Math.floor(Math.min(limits.handshakeTimeoutMs, limits.headerTimeoutMs) / 5)),
  );
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const t of open) {
      const late = (t.phase === "handshake" && now - t.since > limits.handshakeTimeoutMs) ||
        (t.phase === "head" && now - t.since > limits.headerTimeoutMs) ||
        (t.phase === "responding" && now - t.lastActivity > limits.idleTimeoutMs);
      if (late) closeAll(t);
    }
  }, sweepMs);

  /** The connection a hop on `port` carries, once dial() has registered it (or undefined). */
  function hopOf(port: number): Promise<Tracked | undefined> {
    const known = hops.get(port);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), 1000);
      const done = (t: Tracked | undefined) => {
        clearTimeout(timer);
        hopWaiters.delete(port);
        resolve(t);
      };
      hopWaiters.set(port, done);
    });
  }

  /**
   * Accepts until `signal` aborts. A failed accept (out of file descriptors, say) is logged and retried
   * after a pause instead of ending the server.
   */
  async function acceptEach<C>(l: GuardListener<C>, onConn: (conn: C) => void): Promise<void> {
    while (!options.signal.aborted) {
      let conn: C;
      try {
        conn = await l.accept();
      } catch (err) {
        if (options.signal.aborted) return;
        warnOnce("accept failed", { err: err instanceof Error ? err.message : String(err) });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      onConn(conn);
    }
  }

  function acceptTls(listener: GuardListener<GuardTlsConn>): Promise<void> {
    return acceptEach(listener, (conn) => {
      track((async () => {
        const t = conn.remoteAddr.hostname === "127.0.0.1" ? await hopOf(conn.remoteAddr.port) : undefined;
        if (!t || t.closed) {
          conn.close();
          return;
        }
        t.sockets.push(conn);
        try {
          await conn.handshake();
          if (!t.closed) await relayHttp(conn, t);
        } finally {
          closeAll(t);
        }
      })());
    });
  }

  function accept(): Promise<void> {
    return acceptEach(listener, (conn) => {
      const ip = conn.remoteAddr.hostname;
      const capped = !(options.trustLoopback && isLoopback(ip));
      const mine = perAddress.get(ip) ?? 0;
      if (open.size >= limits.maxTotal || (capped && mine >= limits.maxPerAddress)) {
        warnOnce(open.size >= limits.maxTotal ? "too many connections" : "too many from one address", {
          ip,
          open: open.size,
          from_address: mine,
        });
        try {
          conn.close();
        } catch {
          // gone
        }
        return;
      }
      perAddress.set(ip, mine + 1);
      const now = Date.now();
      const t: Tracked = {
        peer: conn.remoteAddr,
        phase: tlsListener ? "handshake" : "head",
        since: now,
        lastActivity: now,
        sockets: [conn],
        closed: false,
      };
      open.add(t);
      const relay = tlsListener ? relayTls(conn, t, tlsListener.addr.port) : relayHttp(conn, t);
      track(relay.finally(() => {
        closeAll(t);
        open.delete(t);
        const n = (perAddress.get(ip) ?? 1) - 1;
        if (n > 0) perAddress.set(ip, n);
        else perAddress.delete(ip);
      }));
    });
  }

  const accepting = Promise.all([
    accept().catch(() => {}),
    tlsListener ? acceptTls(tlsListener).catch(() => {}) : null,
  ]);
  const onAbort = () => {
    for (const l of [listener, tlsListener]) {
      try {
        l?.close();
      } catch {
        // already closed
      }
    }
  };
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener("abort", onAbort, { once: true });

  const finished = (async () => {
    await accepting;
    // Deno.serve answers what is in flight and closes its side; whatever is left (handshakes, idle
    // relays) closes now.
    await inner.finished;
    clearInterval(sweep);
    for (const t of open) closeAll(t);
    await Promise.all([...tasks]);
  })();

  return { finished };
}
