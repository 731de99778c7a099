// A cheap simulated node for scripts/bench-fleet: after the real enrollment and the real session
// opening (SyncClient), each request is built and each answer checked with synchronous node:crypto
// (HMAC-SHA256 over the protocol's request and answer texts, as src/core/sync.ts defines them) and parsed
// with JSON.parse only, so one process can play 10,000 nodes without being the bottleneck it measures.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { HEADERS } from "../../src/core/sync.ts";
import { SESSION_HEADERS } from "../../src/core/sync_session.ts";

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

export class CheapNode {
  readonly #key: Buffer;
  constructor(
    readonly nodeId: number,
    private readonly bearer: string,
    private readonly session: { id: string; key: string },
    private readonly fetcher: (url: string, init: RequestInit) => Promise<Response>,
    private readonly base: string,
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
    const res = await this.fetcher(`${this.base}${path}`, {
      method,
      signal,
      headers: {
        authorization: `Bearer ${this.bearer}`,
        [HEADERS.node]: String(this.nodeId),
        [HEADERS.timestamp]: String(timestamp),
        [HEADERS.nonce]: nonce,
        [SESSION_HEADERS.session]: this.session.id,
        [SESSION_HEADERS.mac]: this.#mac(req),
        ...(body !== null ? { "content-type": "application/json" } : {}),
      },
      ...(body !== null ? { body: text } : {}),
    });
    const answer = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${answer.slice(0, 200)}`);
    const expected = this.#mac(["WB1-RES", String(this.nodeId), nonce, "200", sha256Hex(answer)].join("\n"));
    const got = Buffer.from(res.headers.get(SESSION_HEADERS.mac) ?? "");
    if (got.length !== expected.length || !timingSafeEqual(got, Buffer.from(expected))) {
      throw new Error("the answer's MAC does not verify");
    }
    return JSON.parse(answer);
  }
}
