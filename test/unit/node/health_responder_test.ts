import assert from "node:assert/strict";
import { checkRequestLine, verifyCheckAnswer } from "../../../src/core/health.ts";
import { memoryLogger } from "../../../src/core/logger.ts";
import { generateSigningKeys, type NodeConfig } from "../../../src/core/sync.ts";
import {
  type HealthConn,
  type HealthListener,
  healthResponderLoop,
  responderAddresses,
} from "../../../src/node/health_responder.ts";
import { FakeClock } from "../../support/fakes.ts";

const KEY = "x".repeat(43) + "=";
const iface = (name: string, address: string, master: boolean) => ({
  name,
  addresses: [address],
  listen_port: 51820,
  mtu: null,
  private_key: null,
  peers: [],
  master_peer: master
    ? {
      public_key: KEY,
      endpoint: "198.51.100.1:51820",
      allowed_ips: ["10.9.0.1/32"],
      persistent_keepalive: 25,
    }
    : null,
  masquerade: true,
});
const config = (ifaces: ReturnType<typeof iface>[]): NodeConfig => ({
  node_id: 7,
  config_version: 3,
  issued_at: 0,
  interfaces: ifaces,
});

/** A listener whose connections the test pushes in. */
class FakeListener implements HealthListener {
  #queue: HealthConn[] = [];
  #wake: (() => void) | null = null;
  closed = false;
  push(c: HealthConn) {
    this.#queue.push(c);
    this.#wake?.();
  }
  close() {
    this.closed = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator]() {
    while (!this.closed) {
      const c = this.#queue.shift();
      if (c) yield c;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

function conn(request: string): { conn: HealthConn; answer: Promise<string> } {
  let resolve: (s: string) => void = () => {};
  const answer = new Promise<string>((r) => (resolve = r));
  let out = "";
  return {
    conn: {
      readable: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(request));
          c.close();
        },
      }),
      writable: new WritableStream({ write: (b) => void (out += new TextDecoder().decode(b)) }),
      close: () => resolve(out),
    },
    answer,
  };
}

Deno.test("responderAddresses() are the node's addresses on the interface that peers with the master", () => {
  assert.deepEqual(
    responderAddresses(config([iface("wg0", "10.9.0.5/24", true), iface("wg1", "10.10.0.5/24", false)])),
    ["10.9.0.5"],
  );
  assert.deepEqual(responderAddresses(null), []);
});

Deno.test("the health responder binds only its tunnel address, retries until it exists, and signs its answers", async () => {
  const clock = new FakeClock();
  const keys = await generateSigningKeys();
  const listeners = new Map<string, FakeListener>();
  let available = false;
  const listen = (o: { hostname: string; port: number }) => {
    if (!available) throw new Error("Cannot assign requested address (os error 99)");
    const l = new FakeListener();
    listeners.set(`${o.hostname}:${o.port}`, l);
    return l;
  };
  const state = { current: config([iface("wg0", "10.9.0.5/24", true)]), applied: 3 };
  const stop = new AbortController();
  const log = memoryLogger();
  const loop = healthResponderLoop({
    clock,
    log,
    stop: stop.signal,
    listen,
    key: keys.privateKey,
    nodeId: 7,
    port: 51821,
    intervalMs: 2_000,
    state,
  });
  const turn = () => new Promise((r) => setTimeout(r, 0));
  await turn();
  assert.equal(listeners.size, 0, "the address is not there yet");
  available = true;
  clock.advance(2_000);
  await turn();
  assert.deepEqual([...listeners.keys()], ["10.9.0.5:51821"]);

  const l = listeners.get("10.9.0.5:51821")!;
  const c = conn(checkRequestLine(7, "nonce-nonce-nonce-1"));
  l.push(c.conn);
  const line = await c.answer;
  const v = await verifyCheckAnswer(keys.publicKey, 7, "nonce-nonce-nonce-1", line);
  assert.deepEqual(v, { ok: true, applied: 3 });
  const other = conn(checkRequestLine(8, "nonce-nonce-nonce-2"));
  l.push(other.conn);
  assert.equal(await other.answer, "", "no answer for another node id");

  stop.abort();
  await loop;
  assert.equal(l.closed, true);
});
