// The sync schemas are sized for the fleets we promise (10,000 peers per node): the master's own `local`
// node gets one peer per remote node whose allowed IPs are all of that node's client addresses.
import assert from "node:assert/strict";
import { ConfigResponseSchema, HeartbeatRequestSchema, type NodeConfig } from "../../../src/core/sync.ts";

const key = (n: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(n)));

/** 10.x.y.z/32 for i = 0, 1, 2 … (10,000 clients fit in 10.0.0.0/16 and the /64 below). */
const v4 = (i: number) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 2}/32`;
const v6 = (i: number) => `fd42::${(i + 2).toString(16)}/128`;

function localConfig(clients: number, interfaces = 1): NodeConfig {
  const addresses = Array.from({ length: clients }, (_, i) => [v4(i), v6(i)]).flat();
  return {
    node_id: 1,
    config_version: 278,
    issued_at: 0,
    interfaces: Array.from({ length: interfaces }, (_, n) => ({
      name: `wg${n}`,
      addresses: ["10.0.255.1/16", "fd42::1/64"],
      listen_port: 51820 + n,
      mtu: null,
      private_key: key(1),
      peers: n > 0 ? [] : [{
        // the remote node "tokyo": its tunnel address and every one of its clients' addresses
        public_key: key(2),
        preshared_key: null,
        allowed_ips: ["10.0.255.2/32", "fd42::ff02/128", ...addresses],
        endpoint: null,
        persistent_keepalive: null,
      }],
      master_peer: null,
      masquerade: true,
    })),
  };
}

Deno.test("a local node's config whose node peer carries 10,000 clients' addresses (20,002 allowed IPs) is valid", () => {
  const parsed = ConfigResponseSchema.safeParse({ kind: "config", config: localConfig(10_000) });
  assert.ok(parsed.success, parsed.error?.issues[0]?.message ?? "");
  assert.equal(
    parsed.success && parsed.data.kind === "config" && parsed.data.config.interfaces[0]!.peers[0]!
      .allowed_ips.length,
    20_002,
  );
});

Deno.test("a remote node's master peer may carry many resolver addresses, and a master may have 100 interfaces", () => {
  const config = localConfig(0, 100);
  config.interfaces[0]!.master_peer = {
    public_key: key(3),
    endpoint: "vpn.example.com:51820",
    allowed_ips: Array.from({ length: 40 }, (_, i) => v4(i)),
    persistent_keepalive: 25,
  };
  const parsed = ConfigResponseSchema.safeParse({ kind: "config", config });
  assert.ok(parsed.success, parsed.error?.issues[0]?.message ?? "");
  const beat = HeartbeatRequestSchema.safeParse({
    status: "online",
    applied_version: 1,
    interfaces: config.interfaces.map((i) => ({
      name: i.name,
      public_key: key(4),
      listen_port: 1,
      peers: 0,
    })),
  });
  assert.ok(beat.success, beat.error?.issues[0]?.message ?? "");
});
