// A DNS client for the namespace tests (run inside a host with startDeno): one query, or a steady stream.
//   deno run -A test/support/dns_client.ts query SERVER[,FROM] NAME [TYPE]   (FROM: source address)
//     prints {"rcode":"NOERROR","answers":[...]} (exit 1 when no answer within 3 s)
//   deno run -A test/support/dns_client.ts stream SERVER NAME COUNT RATE_PER_S [TIMEOUT_MS] [RETRIES]
//     sends COUNT queries at RATE_PER_S ("{i}" in NAME becomes the query's index), each waiting up to
//     TIMEOUT_MS (default 2000), asked again up to RETRIES times (default 0) after a timeout;
//     prints {"sent":N,"answered":N,"failed":N,"rcodes":{...}} once every query is answered or timed out
import dgram from "node:dgram";
import { parseDnsReply } from "../../src/node/dns/dnstap.ts";

const TYPES: Record<string, number> = { A: 1, AAAA: 28, CNAME: 5, PTR: 12, TXT: 16 };

export function encodeQuery(id: number, name: string, type = "A"): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".").flatMap((
    l,
  ) => [l.length, ...new TextEncoder().encode(l)]);
  const t = TYPES[type] ?? 1;
  return new Uint8Array([
    id >> 8,
    id & 255,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    t >> 8,
    t & 255,
    0,
    1,
  ]);
}

type Pending = {
  resolve: (r: ReturnType<typeof parseDnsReply> | null) => void;
  timer: ReturnType<typeof setTimeout>;
};

/** A UDP socket that matches answers to queries by id. */
export class Resolver {
  #socket: ReturnType<typeof dgram.createSocket>;
  #pending = new Map<number, Pending>();
  #next = Math.floor(Math.random() * 60000);

  constructor(readonly server: string, from?: string) {
    this.#socket = dgram.createSocket(server.includes(":") ? "udp6" : "udp4");
    if (from) this.#socket.bind({ address: from, port: 0 });
    this.#socket.on("message", (msg: Uint8Array) => {
      const id = (msg[0]! << 8) | msg[1]!;
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      clearTimeout(p.timer);
      try {
        p.resolve(parseDnsReply(new Uint8Array(msg)));
      } catch {
        p.resolve(null);
      }
    });
  }

  query(name: string, type = "A", timeoutMs = 3000): Promise<ReturnType<typeof parseDnsReply> | null> {
    const id = (this.#next = (this.#next + 1) & 0xffff);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#pending.set(id, { resolve, timer });
      this.#socket.send(encodeQuery(id, name, type), 53, this.server);
    });
  }

  close(): void {
    this.#socket.close();
  }
}

if (import.meta.main) {
  const [mode, target, name, a, b, c] = Deno.args;
  if (!target || !name) throw new Error("usage: dns_client.ts query|stream SERVER[,FROM] NAME ...");
  const [server, from] = target.split(",") as [string, string | undefined];
  const r = new Resolver(server, from);
  if (mode === "query") {
    const reply = await r.query(name, a ?? "A");
    r.close();
    // deno-lint-ignore no-console
    console.log(JSON.stringify(reply ? { rcode: reply.rcode, answers: reply.answers } : null));
    Deno.exit(reply ? 0 : 1);
  }
  const count = Number(a),
    rate = Number(b),
    timeoutMs = Number(c ?? 2000),
    retries = Number(Deno.args[6] ?? 0);
  let retried = 0;
  /** Like a stub resolver: the same question again after each timeout, up to `retries` times. */
  const ask = async (qname: string) => {
    for (let attempt = 0;; attempt++) {
      const reply = await r.query(qname, "A", timeoutMs);
      if (reply || attempt >= retries) return reply;
      retried++;
    }
  };
  const started = performance.now();
  const results: Promise<ReturnType<typeof parseDnsReply> | null>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    results.push(ask(name.replaceAll("{i}", String(i))));
    if (i === 0) {
      // deno-lint-ignore no-console
      console.log(JSON.stringify({ started: true }));
    }
  }
  const done = await Promise.all(results);
  r.close();
  const rcodes: Record<string, number> = {};
  for (const d of done) if (d) rcodes[d.rcode] = (rcodes[d.rcode] ?? 0) + 1;
  const answered = done.filter((d) => d !== null).length;
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ sent: count, answered, failed: count - answered, retried, rcodes }));
}
