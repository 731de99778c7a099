// Turns the master's signed NodeConfig into the engine's HostState, with the node's own private keys.
// Pure; used by the node daemon (and by the master for its own host in tests and benchmarks).
import { type Cidr, contains, isValidCidr, normalizeCidr, parseCidr } from "./cidr.ts";
import type { HostState, InterfaceSpec, PeerSpec } from "./host_state.ts";
import type { NodeConfig } from "./sync.ts";

/** `privateKeys` maps interface names to the node's keys; a config's own `private_key` wins (local node). */
export function hostStateFromNodeConfig(config: NodeConfig, privateKeys: Record<string, string>): HostState {
  const interfaces: InterfaceSpec[] = config.interfaces.map((i) => {
    const peers: PeerSpec[] = i.peers.map((p) => ({
      publicKey: p.public_key,
      ...(p.preshared_key ? { presharedKey: p.preshared_key } : {}),
      allowedIps: p.allowed_ips,
      ...(p.endpoint ? { endpoint: p.endpoint } : {}),
      ...(p.persistent_keepalive ? { persistentKeepalive: p.persistent_keepalive } : {}),
    }));
    if (i.master_peer) {
      peers.push({
        publicKey: i.master_peer.public_key,
        allowedIps: i.master_peer.allowed_ips,
        endpoint: i.master_peer.endpoint,
        persistentKeepalive: i.master_peer.persistent_keepalive,
      });
    }
    const privateKey = i.private_key ?? privateKeys[i.name];
    if (!privateKey) throw new Error(`no private key for interface ${i.name}`);
    return {
      name: i.name,
      privateKey,
      addresses: i.addresses,
      listenPort: i.listen_port,
      ...(i.mtu ? { mtu: i.mtu } : {}),
      peers,
      routes: routesBeyond(i.addresses, peers, i.routes ?? []),
      forward: true,
      masquerade: i.masquerade,
    };
  });
  return {
    interfaces,
    forwarding: {
      ipv4: interfaces.length > 0,
      ipv6: interfaces.some((i) => i.addresses.some((a) => a.includes(":"))),
    },
  };
}

/**
 * The routes through an interface: its `explicit` ones (the master's own node: each failover pool's
 * CIDR, one route however many clients the pool has), and the peers' allowed IPs outside the
 * interface's own subnets that no explicit route covers, one route each (as wg-quick adds one for every
 * allowed IP): a pool client the master reaches through the member holding it. Never a default route.
 */
export function routesBeyond(addresses: string[], peers: PeerSpec[], explicit: string[] = []): string[] {
  const own = addresses.filter(isValidCidr).map((a) => parseCidr(a));
  const inside = (c: Cidr, nets: Cidr[]) =>
    nets.some((o) => o.version === c.version && o.prefix <= c.prefix && contains(o, c));
  const out = new Set<string>();
  const wide: Cidr[] = [];
  for (const a of explicit) {
    if (!isValidCidr(a)) continue;
    const c = parseCidr(a);
    if (c.prefix === 0 || inside(c, own)) continue;
    wide.push(c);
    out.add(normalizeCidr(c));
  }
  for (const p of peers) {
    for (const a of p.allowedIps) {
      if (!isValidCidr(a)) continue;
      const c = parseCidr(a);
      if (c.prefix === 0 || inside(c, own) || inside(c, wide)) continue;
      out.add(normalizeCidr(c));
    }
  }
  return [...out].sort();
}
