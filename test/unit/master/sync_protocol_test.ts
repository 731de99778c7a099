// Upgrades: a node speaking the previous sync protocol (no version header) still syncs with this master;
// one too far apart gets 426 naming both versions; every sync answer names the master's version.
import assert from "node:assert/strict";
import { PROTOCOL_HEADER, SYNC_PROTOCOL } from "../../../src/core/sync_protocol.ts";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";

Deno.test("a node of the previous protocol (no version header) enrolls and heartbeats; answers name the version", async () => {
  const m = await testMaster();
  try {
    const n = await enrolled(m, "old-node"); // signed_node sends no protocol header: protocol 1
    const hb = await sendHeartbeat(m, n);
    assert.equal(hb.res.status, 200, hb.text);
    assert.equal(hb.res.headers.get(PROTOCOL_HEADER), String(SYNC_PROTOCOL));
  } finally {
    m.close();
  }
});

Deno.test("a node two protocol versions ahead gets 426 naming both versions, before any other work", async () => {
  const m = await testMaster();
  try {
    const res = await m.app.request("https://wb.test:8443/api/sync/heartbeat", {
      method: "POST",
      headers: { [PROTOCOL_HEADER]: String(SYNC_PROTOCOL + 2), "content-type": "application/json" },
      body: "{}",
    }, { remoteAddr: "198.51.100.9" });
    assert.equal(res.status, 426);
    assert.equal(res.headers.get(PROTOCOL_HEADER), String(SYNC_PROTOCOL));
    const body = await res.json();
    assert.match(
      body.error.message,
      new RegExp(
        `Cannot sync: the node speaks sync protocol ${
          SYNC_PROTOCOL + 2
        }, this master speaks ${SYNC_PROTOCOL} .*upgrade the master`,
      ),
    );
  } finally {
    m.close();
  }
});
