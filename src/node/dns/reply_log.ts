// The query log's durable source: Unbound's own line for every reply it sends (`log-replies: yes`,
// `log-tag-queryreply: yes`, wb-log.conf), written with a flush per line to a logfile that outlives
// reloads and restarts. The node tails that file by byte offset and inode, and commits each batch of
// entries together with the new offset in one SQLite transaction (DnsLogQueue.enqueue): a node crash
// neither loses nor repeats a line, and the master deduplicates by sequence as before. A rotated file
// (renamed to `<file>.1`, then `unbound-control log_reopen`) is read to its end first, then the new
// one from its start; a file shorter than the offset (truncated in place) is read from its start.
//
// A reply line carries the client, the name, the type and the rcode, not the answer: the answer comes
// from Unbound's dnstap stream when it arrived (AnswerCache); dnstap may lose messages around a reload
// or restart, and then only the answer is missing, never the entry. A line is taken once it is at least
// `settleMs` old (its timestamp has whole seconds), so its dnstap message has had time to arrive.
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { pause } from "../sleep.ts";
import type { NewDnsEntry } from "./log_queue.ts";

/** Where the tail stands: the file's inode and the byte offset just after the last line taken. */
export type Cursor = { ino: number; offset: number };

/** Reads the logfile: one open, its inode and size, and up to `max` bytes from `offset` (real one: node main.ts). */
export type LogFile = {
  read(
    path: string,
    offset: number,
    max: number,
  ): Promise<{ ino: number; size: number; bytes: Uint8Array } | null>;
};

export type ReplyQueue = {
  cursor(): Cursor | null;
  /** Entries and the cursor after them, in one transaction; returns how many old entries it dropped. */
  enqueue(entries: NewDnsEntry[], cursor?: Cursor): number;
};

// [1796096319] unbound[12660:0] reply: 10.13.13.2 ads.lab.example. A IN REFUSED 0.000000 1 33
const REPLY = /^\[(\d+)\] \S+ reply: (\S+) (\S+) (\S+) (\S+) ([A-Z0-9]+) /;

/** The entry for one reply line (no answer yet), or null for any other line. */
export function parseReplyLine(line: string): NewDnsEntry | null {
  const m = line.match(REPLY);
  if (!m) return null;
  return {
    at: Number(m[1]) * 1000,
    client: m[2]!,
    qname: m[3]!.slice(0, 255),
    qtype: m[4]!,
    rcode: m[6]!,
    answer: "",
  };
}

const key = (client: string, qname: string, qtype: string) =>
  `${client}|${qname.toLowerCase().replace(/\.$/, "")}|${qtype}`;

/** dnstap's answers by client, name and type, kept `keepMs`; fed through queryLogLoop's `enqueue`. */
export class AnswerCache {
  readonly #answers = new Map<string, { answer: string; at: number }[]>();
  constructor(
    private readonly clock: Clock,
    private readonly keepMs = 30_000,
    private readonly max = 50_000,
  ) {}

  enqueue(entries: NewDnsEntry[]): number {
    const now = this.clock.now();
    for (const e of entries) {
      const k = key(e.client, e.qname, e.qtype);
      const list = this.#answers.get(k) ?? [];
      list.push({ answer: e.answer, at: now });
      this.#answers.set(k, list);
    }
    if (this.#answers.size > this.max) this.prune(now);
    return 0;
  }

  /** The oldest unused answer for this reply, if dnstap delivered one. */
  take(e: NewDnsEntry): string {
    const k = key(e.client, e.qname, e.qtype);
    const list = this.#answers.get(k);
    const hit = list?.shift();
    if (list && list.length === 0) this.#answers.delete(k);
    return hit?.answer ?? "";
  }

  prune(now = this.clock.now()): void {
    for (const [k, list] of this.#answers) {
      const kept = list.filter((x) => now - x.at < this.keepMs);
      if (kept.length === 0) this.#answers.delete(k);
      else this.#answers.set(k, kept);
    }
  }
}

export type ReplyTailDeps = {
  file: LogFile;
  path: string;
  queue: ReplyQueue;
  answers: Pick<AnswerCache, "take">;
  skip: () => ReadonlySet<string>;
  now: () => number;
  settleMs?: number;
  chunk?: number;
};

const NL = 10;

/** One pass over what is new in the logfile; returns how many lines it took (0: nothing new). */
export async function tailOnce(d: ReplyTailDeps): Promise<number> {
  const chunk = d.chunk ?? 1 << 20;
  const saved = d.queue.cursor();
  let r = await d.file.read(d.path, saved?.offset ?? 0, chunk);
  if (!saved) {
    // First start: the log begins now (older lines are from before the node owned it); a file that does
    // not exist yet (Unbound creates it when it loads wb-log.conf) is read from its first line.
    d.queue.enqueue([], r ? { ino: r.ino, offset: r.size } : { ino: 0, offset: 0 });
    return 0;
  }
  if (!r) return 0;
  let start = saved.offset;
  if (r.ino !== saved.ino) {
    // Rotated (logrotate renames to `.1`, then `unbound-control log_reopen`): first the rest of the old
    // file; once it has nothing more and Unbound writes the new one, the new one from its start.
    const old = await d.file.read(`${d.path}.1`, saved.offset, chunk);
    if (old && old.ino === saved.ino && (old.bytes.length > 0 || r.size === 0)) r = old;
    else start = 0;
  } else if (r.size < saved.offset) start = 0; // truncated in place
  if (start === 0 && saved.offset !== 0) {
    r = await d.file.read(d.path, 0, chunk);
    if (!r) return 0;
  }
  const settled = d.now() - (d.settleMs ?? 1_300);
  const entries: NewDnsEntry[] = [];
  const dec = new TextDecoder();
  let at = 0, lines = 0;
  for (;;) {
    const nl = r.bytes.indexOf(NL, at);
    if (nl < 0) break; // a partial line waits for its end
    const e = parseReplyLine(dec.decode(r.bytes.subarray(at, nl)));
    if (e && e.at + 1_000 > settled) break; // too fresh: its dnstap answer may still be on the way
    if (e && !d.skip().has(e.client)) entries.push({ ...e, answer: d.answers.take(e) });
    at = nl + 1;
    lines++;
  }
  if (lines === 0 && start === saved.offset && r.ino === saved.ino) return 0;
  d.queue.enqueue(entries, { ino: r.ino, offset: start + at });
  return lines;
}

export type ReplyLogDeps = Omit<ReplyTailDeps, "now"> & {
  clock: Clock;
  log: Logger;
  stop: AbortSignal;
  wanted: () => boolean;
  intervalMs?: number;
};

/** Tails the reply log while the config asks for a query log, until `stop`. */
export async function replyLogLoop(d: ReplyLogDeps): Promise<void> {
  let warned = "";
  let ticks = 0;
  while (!d.stop.aborted) {
    let took = 0;
    if (d.wanted()) {
      try {
        took = await tailOnce({ ...d, now: () => d.clock.now() });
        warned = "";
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (msg !== warned) {
          d.log.warn("cannot read Unbound's reply log; retrying", { file: d.path, error: msg });
        }
        warned = msg;
      }
    }
    if (++ticks % 40 === 0 && "prune" in d.answers) (d.answers as AnswerCache).prune();
    if (took === 0) await pause(d.clock, d.intervalMs ?? 250, d.stop);
  }
}
