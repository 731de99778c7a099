import assert from "node:assert/strict";
import {
  encodeUpdate,
  parseMessage,
  readName,
  signedUpdate,
  signTsig,
  type TsigKey,
  tsigSecret,
  verifyUpdateAnswer,
} from "../../../src/core/dns_update.ts";
import {
  answerHeaderAndZone,
  hmacOf,
  nameBytes,
  signAnswer,
  tsigRecord,
  tsigVars,
} from "../../support/fake_dns_update_server.ts";

const hex = (text: string) =>
  new Uint8Array(text.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

const SET = {
  zone: "example.com",
  name: "vpn.example.com",
  ttl: 30,
  addresses: ["192.0.2.1", "2001:db8::1"],
};
const KEY: TsigKey = {
  name: "wb-key",
  algorithm: "hmac-sha256",
  secret: tsigSecret("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="),
};
const NOW = Date.UTC(2026, 11, 1, 6, 0, 0);
const T = NOW / 1000;

// vpn.example.com, written out: 3 "vpn" 7 "example" 3 "com" 0
const VPN = "03 76706e 07 6578616d706c65 03 636f6d 00";

Deno.test("encodeUpdate() lays out header, zone, two RRset deletions and one add per address", () => {
  const expected = hex(`
    1234 2800 0001 0000 0004 0000
    07 6578616d706c65 03 636f6d 00  0006 0001
    ${VPN} 0001 00ff 00000000 0000
    ${VPN} 001c 00ff 00000000 0000
    ${VPN} 0001 0001 0000001e 0004 c0000201
    ${VPN} 001c 0001 0000001e 0010 20010db8000000000000000000000001
  `);
  assert.equal(toHex(encodeUpdate(SET, 0x1234)), toHex(expected));
});

Deno.test("encodeUpdate() with no address only deletes, and deletes a former name too", () => {
  const msg = encodeUpdate({ ...SET, addresses: [], alsoDelete: ["old.example.com"] }, 1);
  const m = parseMessage(msg);
  assert.deepEqual(m.counts, [1, 0, 4, 0]);
  assert.deepEqual(
    m.authority.map((r) => [r.name, r.type, r.cls, r.ttl, r.rdata.length]),
    [
      ["vpn.example.com", 1, 255, 0, 0],
      ["vpn.example.com", 28, 255, 0, 0],
      ["old.example.com", 1, 255, 0, 0],
      ["old.example.com", 28, 255, 0, 0],
    ],
  );
});

Deno.test("encodeUpdate() refuses a name outside the zone, a bad address and a 64-byte label", () => {
  assert.throws(() => encodeUpdate({ ...SET, name: "vpn.example.org" }, 1), /not within zone/);
  assert.throws(() => encodeUpdate({ ...SET, addresses: ["192.0.2.300"] }, 1), /192\.0\.2\.300/);
  assert.throws(() => encodeUpdate({ ...SET, name: `${"a".repeat(64)}.example.com` }, 1), /64 bytes/);
});

Deno.test("signTsig() appends the TSIG record RFC 8945 describes, its MAC over message and variables", () => {
  const unsigned = encodeUpdate(SET, 0x1234);
  const { message, mac } = signTsig(unsigned, KEY, T);
  // The MAC, computed here from the RFC's variable list: key name, class ANY, TTL 0, algorithm, time
  // signed (48 bits), fudge, error, other length.
  const vars = hex(`
    06 77622d6b6579 00  00ff 00000000
    0b 686d61632d736861323536 00  ${T.toString(16).padStart(12, "0")} 012c 0000 0000
  `);
  assert.equal(toHex(mac), toHex(hmacOf("hmac-sha256", KEY.secret, [unsigned, vars])));
  const tsig = hex(`
    06 77622d6b6579 00  00fa 00ff 00000000 ${(13 + 6 + 2 + 2 + 32 + 6).toString(16).padStart(4, "0")}
    0b 686d61632d736861323536 00  ${T.toString(16).padStart(12, "0")} 012c 0020 ${toHex(mac)} 1234 0000 0000
  `);
  assert.equal(toHex(message.subarray(unsigned.length)), toHex(tsig));
  assert.equal(toHex(message.subarray(0, 10)), toHex(unsigned.subarray(0, 10)));
  assert.equal(toHex(message.subarray(10, 12)), "0001"); // ADCOUNT counts the TSIG record
  assert.equal(toHex(message.subarray(12, unsigned.length)), toHex(unsigned.subarray(12)));
});

Deno.test("hmac-sha512 keys sign with a 64-byte MAC", () => {
  const key: TsigKey = { ...KEY, algorithm: "hmac-sha512" };
  const req = signedUpdate(SET, key, 7, NOW);
  const t = parseMessage(req.message).tsig!;
  assert.equal(t.algorithm, "hmac-sha512");
  assert.equal(t.mac.length, 64);
  const answer = signAnswer(answerHeaderAndZone(7, 0, "example.com", 0), key, req.mac, T, 7);
  assert.deepEqual(verifyUpdateAnswer(answer, req, SET, key, NOW), { ok: true });
});

Deno.test("a signed answer verifies; a changed byte, another secret or a skewed clock does not", () => {
  const req = signedUpdate(SET, KEY, 0x4242, NOW);
  const answer = signAnswer(answerHeaderAndZone(0x4242, 0, "example.com", 0), KEY, req.mac, T + 2, 0x4242);
  assert.deepEqual(verifyUpdateAnswer(answer, req, SET, KEY, NOW), { ok: true });

  const altered = answer.slice();
  altered[3] = 0x05; // rcode NOERROR -> REFUSED without re-signing
  const r1 = verifyUpdateAnswer(altered, req, SET, KEY, NOW);
  assert.equal(r1.ok, false);
  assert.match(r1.ok ? "" : r1.error, /signature does not verify/);

  const other = { ...KEY, secret: new TextEncoder().encode("another secret of the same size!") };
  const forged = signAnswer(answerHeaderAndZone(0x4242, 0, "example.com", 0), other, req.mac, T, 0x4242);
  assert.deepEqual(
    verifyUpdateAnswer(forged, req, SET, KEY, NOW),
    {
      ok: false,
      rcode: "BADSIG",
      error: "the answer's TSIG signature does not verify: wrong secret or altered answer",
    },
  );

  const late = verifyUpdateAnswer(answer, req, SET, KEY, NOW + 400_000);
  assert.equal(late.ok ? "" : late.rcode, "BADTIME");
});

Deno.test("an answer's TSIG owner name may be compressed; its MAC is over the canonical name", () => {
  const key = { ...KEY, name: "key.example.com" };
  const req = signedUpdate(SET, key, 9, NOW);
  // 3 "key" then a pointer to offset 12, where the echoed zone name "example.com" starts.
  const answer = signAnswer(answerHeaderAndZone(9, 0, "example.com", 0), key, req.mac, T, 9, [
    3,
    0x6b,
    0x65,
    0x79,
    0xc0,
    12,
  ]);
  assert.equal(parseMessage(answer).tsig?.keyName, "key.example.com");
  assert.deepEqual(verifyUpdateAnswer(answer, req, SET, key, NOW), { ok: true });
});

const unsignedError = (id: number, error: number, other = new Uint8Array()) =>
  new Uint8Array([
    ...answerHeaderAndZone(id, 9, "example.com", 1),
    ...tsigRecord({
      keyName: "wb-key",
      algorithm: "hmac-sha256",
      timeSigned: T,
      mac: new Uint8Array(),
      originalId: id,
      error,
      other,
    }),
  ]);

Deno.test("TSIG errors in the answer become sentences naming the key", () => {
  const req = signedUpdate(SET, KEY, 5, NOW);
  assert.deepEqual(verifyUpdateAnswer(unsignedError(5, 16), req, SET, KEY, NOW), {
    ok: false,
    rcode: "BADSIG",
    error:
      'the server rejected our TSIG signature (BADSIG): the secret of key "wb-key" differs from the server\'s',
  });
  assert.deepEqual(verifyUpdateAnswer(unsignedError(5, 17), req, SET, KEY, NOW), {
    ok: false,
    rcode: "BADKEY",
    error:
      'the server does not accept TSIG key "wb-key" (hmac-sha256) for this update (BADKEY): it does not know ' +
      'the key, or its ACL does not let the key update "vpn.example.com" in zone "example.com"',
  });
  const serverTime = hex((T + 3600).toString(16).padStart(12, "0"));
  assert.deepEqual(verifyUpdateAnswer(unsignedError(5, 18, serverTime), req, SET, KEY, NOW), {
    ok: false,
    rcode: "BADTIME",
    error:
      "the server's clock and ours differ by more than 300 s (BADTIME; the server's time is 2026-12-01T07:00:00.000Z)",
  });
});

Deno.test("REFUSED, NOTAUTH and NOTZONE answers say what to fix; an unsigned success is not trusted", () => {
  const req = signedUpdate(SET, KEY, 6, NOW);
  const signed = (rcode: number) =>
    signAnswer(answerHeaderAndZone(6, rcode, "example.com", 0), KEY, req.mac, T, 6);
  assert.deepEqual(verifyUpdateAnswer(signed(5), req, SET, KEY, NOW), {
    ok: false,
    rcode: "REFUSED",
    error:
      'the server refused the update (REFUSED): allow key "wb-key" to update zone "example.com" in its ACL',
  });
  assert.deepEqual(verifyUpdateAnswer(signed(10), req, SET, KEY, NOW), {
    ok: false,
    rcode: "NOTZONE",
    error: '"vpn.example.com" is not within zone "example.com" (NOTZONE)',
  });
  const notAuth = new Uint8Array(answerHeaderAndZone(6, 9, "example.com", 0));
  assert.deepEqual(verifyUpdateAnswer(notAuth, req, SET, KEY, NOW), {
    ok: false,
    rcode: "NOTAUTH",
    error: 'the server is not authoritative for zone "example.com" (NOTAUTH) (answer not signed)',
  });
  const unsignedOk = new Uint8Array(answerHeaderAndZone(6, 0, "example.com", 0));
  assert.deepEqual(verifyUpdateAnswer(unsignedOk, req, SET, KEY, NOW), {
    ok: false,
    rcode: "BADSIG",
    error: "the answer is not signed with our TSIG key: cannot trust it",
  });
  const otherId = signAnswer(answerHeaderAndZone(7, 0, "example.com", 0), KEY, req.mac, T, 7);
  assert.match(
    (verifyUpdateAnswer(otherId, req, SET, KEY, NOW) as { error: string }).error,
    /not an answer to our update/,
  );
});

Deno.test("malformed answers are errors, never exceptions", () => {
  const req = signedUpdate(SET, KEY, 8, NOW);
  const good = signAnswer(answerHeaderAndZone(8, 0, "example.com", 0), KEY, req.mac, T, 8);
  for (const bad of [good.slice(0, 5), good.slice(0, good.length - 3), new Uint8Array([...good, 0])]) {
    const r = verifyUpdateAnswer(bad, req, SET, KEY, NOW);
    assert.equal(r.ok ? "" : r.rcode, "FORMERR");
    assert.match(r.ok ? "" : r.error, /^malformed answer: /);
  }
});

Deno.test("readName() follows pointers back and refuses loops and forward pointers", () => {
  const msg = new Uint8Array([
    ...new Array(12).fill(0),
    ...nameBytes("example.com"),
    3,
    0x76,
    0x70,
    0x6e,
    0xc0,
    12,
  ]);
  assert.deepEqual(readName(msg, 25), { name: "vpn.example.com", end: 31 });
  const loop = new Uint8Array([...new Array(12).fill(0), 0xc0, 12]);
  assert.throws(() => readName(loop, 12), /does not point back/);
  const forward = new Uint8Array([...new Array(12).fill(0), 0xc0, 14, 0]);
  assert.throws(() => readName(forward, 12), /does not point back/);
});

Deno.test("tsigVars() of the support server agrees with the RFC's list (a check of the check)", () => {
  const v = tsigVars({
    keyName: "WB-Key.",
    algorithm: "hmac-sha256",
    timeSigned: 1,
    fudge: 300,
    error: 0,
    other: new Uint8Array(),
  });
  assert.equal(
    toHex(v),
    "0677622d6b657900" + "00ff00000000" + "0b686d61632d73686132353600" + "000000000001012c00000000",
  );
});

Deno.test("tsigSecret() reads base64 and refuses anything else", () => {
  assert.equal(new TextDecoder().decode(tsigSecret("c2VjcmV0")), "secret");
  assert.throws(() => tsigSecret("not base64!"), /not base64/);
});
