// The node's side of the master's signing-key rotation: an announced next key is saved beside the
// current one and reported; answers signed by either are accepted; when the master names the next key as
// its current one the node forgets the old key, and an answer signed with it is refused.
import assert from "node:assert/strict";
import { z } from "zod";
import { memoryLogger } from "../../../src/core/logger.ts";
import {
  exportPublicKey,
  generateSigningKeys,
  HEADERS,
  responseSigningText,
  signText,
} from "../../../src/core/sync.ts";
import { selfSignedCert } from "../../../src/core/x509.ts";
import { MasterTrust } from "../../../src/node/master_trust.ts";
import type { Enrollment } from "../../../src/node/state.ts";
import { RejectedAnswer, SyncClient, verifySaved } from "../../../src/node/sync_client.ts";
import { FakeClock } from "../../support/fakes.ts";

async function setup() {
  const node = await generateSigningKeys();
  const [a, b, c] = await Promise.all([generateSigningKeys(), generateSigningKeys(), generateSigningKeys()]);
  const A = await exportPublicKey(a.publicKey);
  const B = await exportPublicKey(b.publicKey);
  const C = await exportPublicKey(c.publicKey);
  let signer = a.privateKey;
  const fetcher = async (_url: string, init: RequestInit) => {
    const nonce = new Headers(init.headers).get(HEADERS.nonce)!;
    const body = "{}";
    const sig = await signText(signer, await responseSigningText(3, nonce, 200, body));
    return new Response(body, { status: 200, headers: { [HEADERS.signature]: sig } });
  };
  const me: Enrollment = {
    node_id: 3,
    name: "n",
    node_secret: "s",
    url: "https://master.example:8443",
    tls: null,
    verify_key: A,
  };
  const client = new SyncClient(() => fetcher, new FakeClock(), me, node.privateKey, me.url, {
    timeoutMs: 5_000,
  });
  const saved: Enrollment[] = [];
  const log = memoryLogger();
  const trust = new MasterTrust(
    me,
    { saveEnrollment: (e) => Promise.resolve(void saved.push(e)) },
    client,
    log,
  );
  /** Whether an answer signed by `key` is accepted. */
  const accepts = async (key: CryptoKey) => {
    signer = key;
    const r = await client.post("/api/sync/heartbeat", {}, z.unknown()).then(() => true, (e) => e);
    if (r !== true) assert.ok(r instanceof RejectedAnswer, String(r));
    return r === true;
  };
  const ok = (keys: { verify_key?: string; next_verify_key?: string }) => ({
    kind: "ok" as const,
    acked_seq: 0,
    config_version: 1,
    ...keys,
  });
  return { a, b, c, A, B, C, trust, saved, accepts, ok, log };
}

Deno.test("an announced key is trusted beside the current one; after the switch the old key is refused", async () => {
  const { a, b, A, B, trust, saved, accepts, ok } = await setup();
  assert.deepEqual(trust.fields(), {}, "nothing to report before an announcement");
  assert.equal(await accepts(a.privateKey), true);
  assert.equal(await accepts(b.privateKey), false, "a key never announced is refused");

  await trust.learn(ok({ verify_key: A, next_verify_key: B }));
  assert.deepEqual(saved.at(-1), { ...saved.at(-1)!, verify_key: A, next_verify_key: B }, "saved first");
  assert.deepEqual(trust.fields(), { trusts: [A, B] });
  assert.equal(await accepts(a.privateKey), true);
  assert.equal(await accepts(b.privateKey), true);
  await trust.learn(ok({ verify_key: A, next_verify_key: B }));
  assert.equal(saved.length, 1, "the same announcement again changes nothing");

  await trust.learn(ok({ verify_key: B }));
  assert.equal(saved.at(-1)!.verify_key, B);
  assert.equal(saved.at(-1)!.next_verify_key, undefined);
  assert.deepEqual(trust.fields(), {});
  assert.equal(await accepts(b.privateKey), true);
  assert.equal(await accepts(a.privateKey), false, "the old key is refused after the switch");
});

Deno.test("a node away during the announcement takes the key a proven answer names; saved configs verify with either key", async () => {
  const { b, c, A, B, C, trust, saved, accepts, ok } = await setup();
  await trust.learn(ok({ verify_key: A, next_verify_key: B }));
  assert.deepEqual(trust.keys, [A, B]);
  const body = '{"kind":"config"}';
  const sig = await signText(b.privateKey, await responseSigningText(3, "n1", 200, body));
  assert.equal(await verifySaved([A, B], 3, "n1", body, sig), true);
  assert.equal(await verifySaved(A, 3, "n1", body, sig), false);

  // The master switched (to C) while this node never saw C announced: the proven answer names it.
  assert.equal(await accepts(c.privateKey), false);
  await trust.learn(ok({ verify_key: C }));
  assert.deepEqual(trust.keys, [C]);
  assert.equal(saved.at(-1)!.verify_key, C);
  assert.equal(await accepts(c.privateKey), true);
  assert.equal(await accepts(b.privateKey), false, "neither the old nor the announced key any more");
});

Deno.test("an announced TLS certificate is pinned beside the current one; when the master presents it the old pin is forgotten", async () => {
  const next = await selfSignedCert(
    "vpn.example.com",
    { dns: ["vpn.example.com"] },
    new Date(Date.UTC(2026, 0, 1)),
  );
  const me: Enrollment = {
    node_id: 3,
    name: "n",
    node_secret: "s",
    url: "https://vpn.example.com:8443",
    tls: { cert: "", sha256: "a".repeat(64) },
    verify_key: "K",
  };
  const saved: Enrollment[] = [];
  const fetchers: unknown[] = [];
  const client = { trustKeys: () => Promise.resolve(), trustTls: (e: unknown) => void fetchers.push(e) };
  const trust = new MasterTrust(
    me,
    { saveEnrollment: (e) => Promise.resolve(void saved.push(e)) },
    client,
    memoryLogger(),
  );
  const ok = (f: Record<string, unknown>) => ({ kind: "ok" as const, acked_seq: 0, config_version: 1, ...f });

  // A certificate that does not match its announced pin is not taken.
  await trust.learn(
    ok({ tls_sha256: me.tls!.sha256, next_tls: { cert: next.certPem, sha256: "b".repeat(64) } }),
  );
  assert.equal(saved.length, 0);

  await trust.learn(
    ok({ tls_sha256: me.tls!.sha256, next_tls: { cert: next.certPem, sha256: next.fingerprint } }),
  );
  assert.deepEqual(saved.at(-1)!.next_tls, { cert: next.certPem, sha256: next.fingerprint });
  assert.deepEqual(trust.fields(), { trusts_tls: [me.tls!.sha256, next.fingerprint] });
  assert.deepEqual(fetchers.at(-1), saved.at(-1), "the client trusts both from now on");

  await trust.learn(ok({ tls_sha256: next.fingerprint }));
  assert.deepEqual(saved.at(-1)!.tls, { cert: next.certPem, sha256: next.fingerprint });
  assert.equal(saved.at(-1)!.next_tls, undefined);
  assert.deepEqual(trust.pins, [next.fingerprint], "the old pin is forgotten");
  assert.deepEqual(trust.fields(), {});
  assert.equal(fetchers.length, 2);
});
