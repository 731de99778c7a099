// A cheap simulated node for scripts/bench-fleet: after the real enrollment and the real session
// opening (SyncClient), each request is built and each answer checked with synchronous node:crypto
// (HMAC-SHA256 over the protocol's request and answer texts, as src/core/sync.ts defines them) and parsed
// with JSON.parse only, so one process can play 10,000 nodes without being the bottleneck it measures.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { HEADERS } from "../../src/core/sync.ts";
import { SESSION_HEADERS } from "../../src/core/sync_session.ts";

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Sends one request (path from the root) and gives the answer's status, a header and its text. */
export type Send = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | null,
  signal: AbortSignal,
) => Promise<{ status: number; header(name: string): string | null; text: string }>;

/** A Send over fetch() (e.g. an HTTP/2 client shared by several nodes). */
export function fetchSend(
  fetcher: (url: string, init: RequestInit) => Promise<Response>,
  base: string,
): Send {
  return async (method, path, headers, body, signal) => {
    const res = await fetcher(`${base}${path}`, {
      method,
      signal,
      headers,
      ...(body !== null ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, header: (n) => res.headers.get(n), text };
  };
}

export class CheapNode {
  readonly #key: Buffer;
  constructor(
    readonly nodeId: number,
    private readonly bearer: string,
    private readonly session: { id: string; key: string },
    private readonly send: Send,
  ) {
    this.#key = Buffer.from(session.key, "base64");
  }

  #mac(text: string): string {
    return createHmac("sha256", this.#key).update(text).digest("base64url");
  }

  /** One request in the session; the answer's MAC is checked; returns the parsed JSON answer. */
  async request(method: "GET" | "POST", path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const text = body === null ? "" : JSON.stringify(body);
    const nonce = randomBytes(16).toString("base64url");
    const timestamp = Date.now();
    const req = ["WB1-REQ", method, path, String(timestamp), nonce, String(this.nodeId), sha256Hex(text)]
      .join("\n");
    const res = await this.send(
      method,
      path,
      {
        authorization: `Bearer ${this.bearer}`,
        [HEADERS.node]: String(this.nodeId),
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.nonce]: nonce,
        [SESSION_HEADERS.session]: this.session.id,
        [SESSION_HEADERS.mac]: this.#mac(req),
        ...(body !== null ? { "content-type": "application/json" } : {}),
      },
      body === null ? null : text,
      signal,
    );
    const answer = res.text;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${answer.slice(0, 200)}`);
    const expected = this.#mac(["WB1-RES", String(this.nodeId), nonce, "200", sha256Hex(answer)].join("\n"));
    const got = Buffer.from(res.header(SESSION_HEADERS.mac) ?? "");
    if (got.length !== expected.length || !timingSafeEqual(got, Buffer.from(expected))) {
      throw new Error("the answer's MAC does not verify");
    }
    return JSON.parse(answer);
  }
}
