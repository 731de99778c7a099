import assert from "node:assert/strict";
import { relyingParty } from "../../../src/master/service/passkeys.ts";
import { testMaster } from "../../support/master.ts";

Deno.test("relyingParty() takes the public URL's host as RP id and origin, and refuses IPs and plain http", () => {
  const ok = relyingParty(new URL("https://vpn.example.com:8443/"));
  assert.deepEqual(ok, {
    ok: true,
    rp: { id: "vpn.example.com", origin: "https://vpn.example.com:8443", name: "WireBuddy" },
  });
  assert.deepEqual(relyingParty(new URL("http://localhost:8080")), {
    ok: true,
    rp: { id: "localhost", origin: "http://localhost:8080", name: "WireBuddy" },
  });
  for (const url of ["https://127.0.0.1:8443", "https://[::1]:8443", "http://vpn.example.com"]) {
    const r = relyingParty(new URL(url));
    assert.equal(r.ok, false, url);
  }
});

Deno.test("passkey sign-in options name the relying party; an answer to no open challenge is refused", async () => {
  const m = await testMaster();
  await m.addUser("root", "admin");
  const res = await m.request("/login/passkey/options", { method: "POST" });
  assert.equal(res.status, 200);
  const options = await res.json();
  assert.equal(options.rpId, "wb.test");
  assert.ok(options.challenge.length >= 16);
  const forged = {
    id: "AAAA",
    rawId: "AAAA",
    type: "public-key",
    clientExtensionResults: {},
    response: {
      clientDataJSON: btoa(
        JSON.stringify({ type: "webauthn.get", challenge: "not-issued", origin: "https://wb.test:8443" }),
      )
        .replace(/=+$/, ""),
      authenticatorData: "AAAA",
      signature: "AAAA",
    },
  };
  const refused = await m.form("/login/passkey", { response: JSON.stringify(forged) });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.getSetCookie().some((c) => c.startsWith("__Host-wb_session=")), false);
  // Registration options need a session.
  assert.equal((await m.request("/ui/account/passkeys/options", { method: "POST" })).status, 303);
  const session = await m.login("root");
  const reg = await (await m.request("/ui/account/passkeys/options", { method: "POST", cookie: session }))
    .json();
  assert.equal(reg.rp.id, "wb.test");
  assert.equal(reg.user.name, "root");
  m.close();
});
