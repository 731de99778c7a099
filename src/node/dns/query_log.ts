// The receiving end of Unbound's dnstap stream: a unix socket the node listens on (Unbound connects to
// it, see wb-dnstap.conf), the Frame Streams handshake, and one entry per client response, handed to
// `queue.enqueue`. The agent hands them to the reply log's AnswerCache (reply_log.ts): dnstap brings
// each reply's answer, while Unbound's reply lines are the durable record of which replies were sent
// (dnstap drops its buffer on a reload or restart).
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { pause } from "../sleep.ts";
import { CONTROL, controlFrame, decodeDnstap, FrameReader, MESSAGE_TYPE, parseDnsReply } from "./dnstap.ts";
import type { DnsLogQueue, NewDnsEntry } from "./log_queue.ts";

/** One accepted connection (the real one is a unix socket connection, from main.ts). */
export type StreamConn = {
  read(buf: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  close(): void;
};
export type StreamListener = AsyncIterable<StreamConn> & { close(): void };
/** Listens on a unix socket path, replacing a stale socket file (built in main.ts). */
export type ListenUnix = (path: string) => Promise<StreamListener>;

/** The queue entry for one dnstap frame, or null for frames that are not a client response. */
export function entryOf(payload: Uint8Array): NewDnsEntry | null {
  const m = decodeDnstap(payload);
  if (!m || m.type !== MESSAGE_TYPE.CLIENT_RESPONSE || !m.response || !m.client) return null;
  const r = parseDnsReply(m.response);
  const answer = r.answers.map((a) => (a.type === "A" || a.type === "AAAA" ? a.data : `${a.type} ${a.data}`))
    .join(",");
  return {
    at: m.at,
    client: m.client,
    qname: r.qname.slice(0, 255),
    qtype: r.qtype,
    rcode: r.rcode,
    answer: answer.length > 300 ? `${answer.slice(0, 297)}...` : answer,
  };
}

async function writeAll(conn: StreamConn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

export type QueryLogDeps = {
  clock: Clock;
  log: Logger;
  listen: ListenUnix;
  path: string;
  queue: Pick<DnsLogQueue, "enqueue">;
  /** Client addresses whose queries are not logged (the peers that opted out). */
  skip: () => ReadonlySet<string>;
  stop: AbortSignal;
  /** Whether the config asks for a query log; the socket is opened once it does (checked every second). */
  wanted?: () => boolean;
};

/** Serves one Unbound connection until it ends; returns the number of entries queued. */
export async function serveConn(
  conn: StreamConn,
  d: Omit<QueryLogDeps, "listen" | "path" | "clock" | "wanted">,
): Promise<number> {
  const frames = new FrameReader();
  const buf = new Uint8Array(64 * 1024);
  let queued = 0;
  const onStop = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  d.stop.addEventListener("abort", onStop, { once: true });
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return queued;
      const entries: NewDnsEntry[] = [];
      for (const f of frames.push(buf.subarray(0, n))) {
        if (f.kind === "control") {
          if (f.type === CONTROL.READY) await writeAll(conn, controlFrame(CONTROL.ACCEPT));
          if (f.type === CONTROL.STOP) {
            await writeAll(conn, controlFrame(CONTROL.FINISH, null)).catch(() => {});
          }
          continue;
        }
        try {
          const e = entryOf(f.payload);
          if (e && !d.skip().has(e.client)) entries.push(e);
        } catch (err) {
          d.log.debug("skipped an unreadable dnstap frame", {
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
      const dropped = d.queue.enqueue(entries);
      queued += entries.length;
      if (dropped > 0) d.log.warn("query log queue full: dropped the oldest entries", { dropped });
    }
  } catch (err) {
    if (!d.stop.aborted) {
      d.log.warn("dnstap connection ended", { error: err instanceof Error ? err.message : String(err) });
    }
    return queued;
  } finally {
    d.stop.removeEventListener("abort", onStop);
    onStop();
  }
}

/** Listens for Unbound's dnstap connections until `stop`; retries the socket every 5 s if it cannot bind. */
export async function queryLogLoop(d: QueryLogDeps): Promise<void> {
  let warned = false;
  while (!d.stop.aborted && d.wanted && !d.wanted()) await pause(d.clock, 1_000, d.stop);
  while (!d.stop.aborted) {
    let listener: StreamListener;
    try {
      listener = await d.listen(d.path);
    } catch (err) {
      if (!warned) {
        d.log.warn("cannot listen for Unbound's query log; retrying", {
          socket: d.path,
          error: err instanceof Error ? err.message : String(err),
        });
        warned = true;
      }
      await pause(d.clock, 5_000, d.stop);
      continue;
    }
    d.log.info("listening for Unbound's query log (dnstap)", { socket: d.path });
    const onStop = () => listener.close();
    d.stop.addEventListener("abort", onStop, { once: true });
    const conns = new Set<Promise<number>>();
    try {
      for await (const conn of listener) {
        const p = serveConn(conn, d).finally(() => conns.delete(p));
        conns.add(p);
      }
    } catch (err) {
      if (!d.stop.aborted) d.log.warn("query log listener failed", { error: String(err) });
    } finally {
      d.stop.removeEventListener("abort", onStop);
      await Promise.all(conns);
    }
  }
}
