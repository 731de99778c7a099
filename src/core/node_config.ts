// Turns the master's signed NodeConfig into the engine's HostState, with the node's own private keys.
// Pure; used by the node daemon (and by the master for its own host in tests and benchmarks).
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
      routes: [],
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
