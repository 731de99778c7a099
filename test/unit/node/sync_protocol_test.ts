// The node's side of the protocol version: it names its version on every request, and refuses an
// answer from a master too far apart (naming both versions) instead of applying it.
import assert from "node:assert/strict";
import { z } from "zod";
import { exportPublicKey, generateSigningKeys } from "../../../src/core/sync.ts";
import { PROTOCOL_HEADER, SYNC_PROTOCOL } from "../../../src/core/sync_protocol.ts";
import { SyncClient, SyncError } from "../../../src/node/sync_client.ts";
import { FakeClock } from "../../support/fakes.ts";

async function clientAnswering(answer: (headers: Headers) => Response) {
  const keys = await generateSigningKeys();
  const seen: Headers[] = [];
  const fetcher = (_url: string, init: RequestInit) => {
    const h = new Headers(init.headers);
    seen.push(h);
    return Promise.resolve(answer(h));
  };
  const c = new SyncClient(
    () => fetcher,
    new FakeClock(),
    {
      node_id: 3,
      name: "n",
      node_secret: "s",
      url: "https://master.example:8443",
      tls: null,
      verify_key: await exportPublicKey(keys.publicKey),
    },
    keys.privateKey,
    "https://master.example:8443",
    { timeoutMs: 5_000 },
  );
  return { c, seen };
}

Deno.test("the node names its protocol and refuses a master two versions apart, naming both", async () => {
  const { c, seen } = await clientAnswering(() =>
    new Response("{}", { status: 200, headers: { [PROTOCOL_HEADER]: String(SYNC_PROTOCOL + 2) } })
  );
  const err = await c.post("/api/sync/heartbeat", {}, z.unknown()).then(() => null, (e) => e);
  assert.equal(seen[0]?.get(PROTOCOL_HEADER), String(SYNC_PROTOCOL));
  assert.ok(err instanceof SyncError, String(err));
  assert.equal(err.status, 426);
  assert.match(
    err.message,
    new RegExp(
      `Cannot sync: the master speaks sync protocol ${
        SYNC_PROTOCOL + 2
      }, this node speaks ${SYNC_PROTOCOL}.*upgrade the node`,
    ),
  );
});

Deno.test("a master's 426 refusal reaches the node's log as the master's own words", async () => {
  const { c } = await clientAnswering(() =>
    Response.json({ error: { code: "protocol", message: "Cannot sync: the node speaks sync protocol 9" } }, {
      status: 426,
      headers: { [PROTOCOL_HEADER]: "2" },
    })
  );
  const err = await c.post("/api/sync/heartbeat", {}, z.unknown()).then(() => null, (e) => e);
  assert.ok(err instanceof SyncError, String(err));
  assert.equal(err.status, 426);
  assert.equal(err.message, "Cannot sync: the node speaks sync protocol 9");
});
