// A small VPN world on top of netns.ts: a "lan" bridge (198.51.100.0/24, 2001:db8:100::/64) joining a
// WireGuard server and its clients, and an "internet" host reachable only from the server
// (203.0.113.0/24, 2001:db8:203::/64). The internet host has no route back to the tunnel ranges, so a
// client reaches it only through the server's NAT.
import type { HostState, InterfaceSpec } from "../../src/core/host_state.ts";
import { realExec } from "../../src/core/ports/real.ts";
import type { Host, World } from "./netns.ts";

export const SERVER_UNDERLAY = "198.51.100.1";
export const INTERNET_V4 = "203.0.113.100";
export const INTERNET_V6 = "2001:db8:203::100";
export const TUNNEL_V4 = (i: number) => `10.77.0.${i}`;
export const TUNNEL_V6 = (i: number) => `fd77::${i}`;

export type KeyPair = { privateKey: string; publicKey: string };

export async function keyPair(): Promise<KeyPair> {
  const priv = await realExec.run(["wg", "genkey"]);
  const privateKey = priv.stdout.trim();
  const pub = await realExec.run(["wg", "pubkey"], { stdin: privateKey + "\n" });
  return { privateKey, publicKey: pub.stdout.trim() };
}

export async function presharedKey(): Promise<string> {
  return (await realExec.run(["wg", "genpsk"])).stdout.trim();
}

export type VpnWorld = { lan: Host; server: Host; internet: Host; clients: Host[] };

export async function buildVpnWorld(world: World, clientCount: number): Promise<VpnWorld> {
  const lan = await world.host("lan");
  await world.bridge(lan, "br0");
  const server = await world.host("srv", { wireguard: true });
  await world.plug(server, "eth0", lan, "br0", [`${SERVER_UNDERLAY}/24`, "2001:db8:100::1/64"]);
  const internet = await world.host("inet");
  await world.link(server, "eth1", internet, "eth0", {
    a: ["203.0.113.1/24", "2001:db8:203::1/64"],
    b: [`${INTERNET_V4}/24`, `${INTERNET_V6}/64`],
  });
  // The server's way "out" is the internet host, inside the world. Nothing leaves the machine.
  await server.run(["ip", "route", "add", "default", "via", "203.0.113.100", "dev", "eth1"]);
  await server.run(["ip", "-6", "route", "add", "default", "via", "2001:db8:203::100", "dev", "eth1"]);
  const clients: Host[] = [];
  for (let i = 1; i <= clientCount; i++) {
    const c = await world.host(`c${i}`, { wireguard: true });
    await world.plug(c, "eth0", lan, "br0", [`198.51.100.${10 + i}/24`, `2001:db8:100::${10 + i}/64`]);
    clients.push(c);
  }
  return { lan, server, internet, clients };
}

export type Member = { keys: KeyPair; index: number; psk?: string };

export function serverState(
  server: KeyPair,
  clients: Member[],
  extra: Partial<InterfaceSpec> = {},
): HostState {
  return {
    interfaces: [{
      name: "wg0",
      privateKey: server.privateKey,
      addresses: [`${TUNNEL_V4(1)}/24`, `${TUNNEL_V6(1)}/64`],
      listenPort: 51820,
      peers: clients.map((c) => ({
        publicKey: c.keys.publicKey,
        allowedIps: [`${TUNNEL_V4(c.index)}/32`, `${TUNNEL_V6(c.index)}/128`],
        ...(c.psk ? { presharedKey: c.psk } : {}),
      })),
      routes: [],
      forward: true,
      masquerade: true,
      ...extra,
    }],
    forwarding: { ipv4: true, ipv6: true },
  };
}

export function clientState(me: Member, server: KeyPair): HostState {
  return {
    interfaces: [{
      name: "wg0",
      privateKey: me.keys.privateKey,
      addresses: [`${TUNNEL_V4(me.index)}/24`, `${TUNNEL_V6(me.index)}/64`],
      peers: [{
        publicKey: server.publicKey,
        allowedIps: ["10.77.0.0/24", "fd77::/64", "203.0.113.0/24", "2001:db8:203::/64"],
        endpoint: `${SERVER_UNDERLAY}:51820`,
        persistentKeepalive: 25,
        ...(me.psk ? { presharedKey: me.psk } : {}),
      }],
      routes: ["203.0.113.0/24", "2001:db8:203::/64"],
      forward: false,
      masquerade: false,
    }],
    forwarding: { ipv4: false, ipv6: false },
  };
}
