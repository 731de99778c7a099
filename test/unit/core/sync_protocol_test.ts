// The sync protocol's compatibility promise (N±1) as a table.
import assert from "node:assert/strict";
import { compatible, protocolOf, protocolRefusal } from "../../../src/core/sync_protocol.ts";

Deno.test("a peer without the header speaks protocol 1; a bad header names no version", () => {
  assert.equal(protocolOf(undefined), 1);
  assert.equal(protocolOf(""), 1);
  assert.equal(protocolOf("3"), 3);
  assert.equal(protocolOf("two"), null);
  assert.equal(protocolOf("-1"), null);
});

Deno.test("versions one apart talk; two apart are refused, naming both and the side to upgrade", () => {
  const rows: [
    own: { role: "master" | "node"; protocol: number },
    header: string | null,
    refusal: RegExp | null,
  ][] = [
    [{ role: "master", protocol: 2 }, null, null], // a node from before the header (protocol 1)
    [{ role: "master", protocol: 2 }, "2", null],
    [{ role: "master", protocol: 2 }, "3", null], // a node one release ahead of its master
    [
      { role: "master", protocol: 2 },
      "4",
      /^the node speaks sync protocol 4, this master speaks 2 \(accepts 1 to 3\): upgrade the master$/,
    ],
    [
      { role: "master", protocol: 3 },
      null,
      /^the node speaks sync protocol 1, this master speaks 3 \(accepts 2 to 4\): upgrade the node$/,
    ],
    [{ role: "node", protocol: 2 }, null, null], // a master from before the header
    [
      { role: "node", protocol: 4 },
      "2",
      /^the master speaks sync protocol 2, this node speaks 4 \(accepts 3 to 5\): upgrade the master$/,
    ],
    [{ role: "master", protocol: 2 }, "x", /invalid protocol version "x"/],
  ];
  for (const [own, header, refusal] of rows) {
    const got = protocolRefusal(own, header);
    if (refusal === null) assert.equal(got, null, `${own.role} ${own.protocol} vs ${header}`);
    else assert.match(got ?? "", refusal, `${own.role} ${own.protocol} vs ${header}`);
  }
  assert.ok(compatible(5, 4) && compatible(5, 6) && !compatible(5, 3));
});
