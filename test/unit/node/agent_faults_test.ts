// The agent under the faults a drill on real machines found (issue 17): a config it must refuse, a full
// disk, a master that does not answer. The real agent against the real in-memory master.
import assert from "node:assert/strict";
import { HEADERS } from "../../../src/core/sync.ts";
import { SESSION_HEADERS } from "../../../src/core/sync_session.ts";
import type { HttpFetch } from "../../../src/node/sync_client.ts";
import type { TestMaster } from "../../support/master.ts";
import { startNode, waitFor, world } from "./agent_harness.ts";

/** Answers to config pulls rewritten by `change` and proven again with the master's own key or session. */
function tamperConfigs(m: TestMaster, nodeId: number, change: (config: Record<string, unknown>) => void) {
  return (inner: HttpFetch): HttpFetch => async (url, init) => {
    const res = await inner(url, init);
    if (!url.includes("/api/sync/config")) return res;
    const body = JSON.parse(await res.text());
    if (body.kind === "config") change(body.config);
    const text = JSON.stringify(body);
    const sent = init.headers as Record<string, string>;
    const nonce = sent[HEADERS.nonce]!;
    const sid = sent[SESSION_HEADERS.session];
    const session = sid ? { id: sid, key: (await m.services.sync.sessionKey(nodeId, sid))! } : null;
    const proof = await m.services.sync.proveAnswer({ nodeId, nonce, session }, 200, text);
    const headers = new Headers(res.headers);
    headers.set(proof.header, proof.value);
    return new Response(text, { status: res.status, headers });
  };
}

Deno.test("a config the node refuses is reported to the master: status error 'config vN rejected: why', on the node page's data", async () => {
  const { m, token, node } = await world();
  const n = startNode(m, node.enrollment_token, {
    wrap: tamperConfigs(m, node.id, (c) => {
      (c.interfaces as { name: string }[])[0]!.name = "not a name!";
    }),
  });
  const version = () => m.services.nodes.get(node.id).configVersion;
  const shown = await waitFor("the refusal on the master", () => {
    const v = m.services.nodes.get(node.id);
    return v.status === "error" && v.lastError ? v.lastError : null;
  });
  assert.match(shown, new RegExp(`^config v${version()} rejected: `));
  assert.match(shown, /interfaces\.0\.name/);
  assert.equal(n.engine.states.length, 0, "nothing of it was applied");
  assert.match(
    n.log.lines.join("\n"),
    new RegExp(`<3>NODE_DAEMON refusing config v${version()} from the master: `),
  );
  const api = await (await m.api(`/nodes/${node.id}`, { token })).json();
  assert.equal(api.status, "error");
  assert.equal(api.last_error, shown);
  assert.ok(
    m.log.lines.some((l) => l.includes("node reports an error") && l.includes("rejected")),
    "the master logs it",
  );
  await n.stop();
  m.close();
});
