// A minimal HTTP/1.1 client connection over TLS for scripts/bench-fleet: one request at a time on one
// kept-alive connection, answers read by Content-Length or chunked encoding. It costs the simulating
// process far less per request than fetch(), so one process can play 10,000 nodes each holding a
// connection of its own, as real nodes do (fetch over shared HTTP/2 connections saturated the simulator
// before the master: its own delays were most of what it measured).

export type H1Answer = { status: number; headers: Map<string, string>; text: string };

const enc = new TextEncoder();
const dec = new TextDecoder();
const HEAD_END = enc.encode("\r\n\r\n");
const CRLF = enc.encode("\r\n");

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export class H1Conn {
  #conn: Deno.TlsConn | null = null;
  #buf = new Uint8Array(0);
  #busy: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly port: number,
    private readonly caCert: string,
    private readonly readSize = 4096,
  ) {}

  /**
   * One request; requests on this connection run one after another. There is no abort signal (each
   * addEventListener scans the signal's listeners): close() ends the request in flight.
   */
  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | null,
  ): Promise<H1Answer> {
    const payload = body === null ? new Uint8Array(0) : enc.encode(body);
    let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${this.port}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    const h = enc.encode(`${head}content-length: ${payload.length}\r\n\r\n`);
    const out = new Uint8Array(h.length + payload.length);
    out.set(h);
    out.set(payload, h.length);
    const run = this.#busy.then(() => this.#exchange(out));
    this.#busy = run.catch(() => {});
    return run;
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }

  #drop(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = null;
    this.#buf = new Uint8Array(0);
  }

  async #exchange(out: Uint8Array): Promise<H1Answer> {
    if (this.#closed) throw new Error("closed");
    this.#conn ??= await Deno.connectTls({ hostname: "127.0.0.1", port: this.port, caCerts: [this.caCert] });
    const conn = this.#conn;
    try {
      for (let off = 0; off < out.length;) off += await conn.write(out.subarray(off));
      return await this.#answer(conn);
    } catch (e) {
      this.#drop(); // a broken or closed exchange leaves the stream in an unknown state
      throw e;
    }
  }

  async #more(conn: Deno.TlsConn): Promise<void> {
    const chunk = new Uint8Array(this.readSize);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("the connection closed");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  async #answer(conn: Deno.TlsConn): Promise<H1Answer> {
    let end = indexOf(this.#buf, HEAD_END);
    while (end < 0) {
      await this.#more(conn);
      end = indexOf(this.#buf, HEAD_END);
    }
    const lines = dec.decode(this.#buf.subarray(0, end)).split("\r\n");
    this.#buf = this.#buf.subarray(end + 4);
    const status = Number(lines[0].split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    let body: Uint8Array;
    if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
      const parts: Uint8Array[] = [];
      for (;;) {
        let eol = indexOf(this.#buf, CRLF);
        while (eol < 0) {
          await this.#more(conn);
          eol = indexOf(this.#buf, CRLF);
        }
        const size = parseInt(dec.decode(this.#buf.subarray(0, eol)), 16);
        while (this.#buf.length < eol + 2 + size + 2) await this.#more(conn);
        parts.push(this.#buf.slice(eol + 2, eol + 2 + size));
        this.#buf = this.#buf.subarray(eol + 2 + size + 2);
        if (size === 0) break;
      }
      body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of parts) (body.set(p, off), off += p.length);
    } else {
      const length = Number(headers.get("content-length") ?? "0");
      while (this.#buf.length < length) await this.#more(conn);
      body = this.#buf.slice(0, length);
      this.#buf = this.#buf.subarray(length);
    }
    if (headers.get("connection")?.toLowerCase() === "close") this.#drop();
    return { status, headers, text: dec.decode(body) };
  }
}
