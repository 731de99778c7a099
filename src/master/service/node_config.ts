// Renders the NodeConfig of one host from the database: the master itself (its `local` node) or a
// remote node. The one renderer of desired data-plane state on the master.
//
// - The master runs every interface with its own address and key, its local peers, and, on the first
//   interface, each remote node as a peer whose allowed IPs cover the node's tunnel address and all of
//   its clients' addresses (so DNS replies reach the real client addresses).
// - A remote node runs the first interface (its tunnel to the master, which is a peer with keepalive 25
//   allowed only the master's address and the DNS addresses inside that pool) and every interface it
//   has peers on, with its own address from the pool and its own key (never sent by the master).
import { contains, normalizeCidr, parseCidr } from "../../core/cidr.ts";
import type { NodeConfig, NodeInterfaceConfig } from "../../core/sync.ts";
import { diffConfigs } from "../../core/sync_delta.ts";
import type { Db } from "../db/db.ts";
import { nodeInterfacesRepo, nodesFullRepo } from "../db/nodes_repo.ts";
import { type ActivePeerRow, type InterfaceRow, interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import type { SecretOpener } from "./secret_box.ts";
import { renderDnsConfig } from "./dns_desired.ts";
import { poolRoutes, poolsOf, renderPoolInterface } from "./pool_config.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import { renderedDevice } from "./wg_devices.ts";
import { wgRotationRepo } from "../db/wg_rotation_repo.ts";

const prefixOf = (cidr: string) => cidr.slice(cidr.indexOf("/"));
const hostOf = (cidr: string) => cidr.slice(0, cidr.indexOf("/"));
const asHost = (addr: string) => `${addr}${addr.includes(":") ? "/128" : "/32"}`;

/** The listen port a node uses for an interface: its WireGuard port plus the interface's position. */
export function nodePort(wgPort: number, interfaceIndex: number): number {
  return wgPort + interfaceIndex;
}

export async function clientPeers(rows: ActivePeerRow[], secrets: SecretOpener) {
  return await Promise.all(rows.map(async (p) => ({
    public_key: p.public_key,
    preshared_key: p.psk_sealed ? await secrets.open(p.psk_sealed, `peer:${p.public_key}:psk`) : null,
    allowed_ips: p.ipv6 ? [p.ipv4, p.ipv6] : [p.ipv4],
    endpoint: null,
    persistent_keepalive: null,
  })));
}

/** The master's resolver addresses a node's clients reach through the tunnel (inside the first pool). */
export function tunnelAddresses(first: InterfaceRow, interfaces: InterfaceRow[]): string[] {
  const out = new Set<string>([asHost(hostOf(first.address4))]);
  if (first.address6) out.add(asHost(hostOf(first.address6)));
  const pools = [first.address4, ...(first.address6 ? [first.address6] : [])].map((p) => parseCidr(p));
  for (const iface of interfaces) {
    for (const dns of iface.dns.split(",").map((s) => s.trim()).filter(Boolean)) {
      if (pools.some((pool) => contains(pool, dns))) out.add(asHost(dns));
    }
  }
  return [...out];
}

/**
 * The remote nodes whose config carries an interface's settings (MTU, port, DNS): every node for the
 * first interface (each node's tunnel to the master) and after a DNS change (each node's tunnel allows
 * the master's resolver addresses), else the nodes with a peer on it.
 */
export function nodesCarrying(db: Db, interfaceId: number, opts: { dnsChanged: boolean }): number[] {
  const first = interfacesRepo.list(db)[0];
  if (opts.dnsChanged || first?.id === interfaceId) return nodesFullRepo.remote(db).map((n) => n.id);
  if (poolsRepo.isPool(db, interfaceId)) return poolsRepo.memberIds(db, interfaceId); // issue 11
  return peersRepo.nodesOn(db, interfaceId);
}

/**
 * The master's own node routes each failover pool's address space through its first interface, one route
 * per pool however many clients it has (WireGuard picks the member holding each client by its allowed
 * IPs); not a pool it is a member of itself (its own pool device has the subnet).
 */
function poolSpaces(interfaces: InterfaceRow[], pools: ReturnType<typeof poolsOf>): { routes?: string[] } {
  const routes = interfaces.filter((i) => pools.pools.has(i.id) && !pools.mine.has(i.id))
    .flatMap((i) => [i.address4, ...(i.address6 ? [i.address6] : [])].map((c) => normalizeCidr(c)));
  return routes.length > 0 ? { routes } : {};
}

export async function renderNodeConfig(
  db: Db,
  secrets: SecretOpener,
  nodeId: number,
  opts: { now: number; publicHost: string },
): Promise<NodeConfig> {
  const node = nodesFullRepo.byId(db, nodeId);
  if (!node) throw new Error(`node ${nodeId} not found`);
  const interfaces = interfacesRepo.list(db);
  const first = interfaces[0];
  const out: NodeInterfaceConfig[] = [];
  // Failover pools (pool_config.ts): only their members run them, with the pool's shared identity.
  const pools = poolsOf(db, nodeId);
  const pool = async (iface: InterfaceRow) => {
    const m = pools.mine.get(iface.id);
    if (m) {
      out.push(
        await renderPoolInterface(db, secrets, iface, pools.pools.get(iface.id)!, m, opts.now, clientPeers),
      );
    }
  };

  if (node.is_local) {
    const remotes = nodesFullRepo.remote(db);
    const routed = poolRoutes(db, opts.now);
    for (const iface of interfaces) {
      if (pools.pools.has(iface.id)) {
        await pool(iface);
        continue;
      }
      const rows = peersRepo.activeOn(db, iface.id, opts.now);
      const peers = await clientPeers(rows.filter((p) => p.node_id === null), secrets);
      if (iface === first) {
        for (const remote of remotes) {
          const ni = nodeInterfacesRepo.get(db, remote.id, iface.id);
          if (!ni?.public_key) continue; // not enrolled or not reported yet
          const clients = peersRepo.activeAddressesOf(db, remote.id, opts.now);
          peers.push({
            public_key: ni.public_key,
            preshared_key: null,
            allowed_ips: [
              ni.address4,
              ...(ni.address6 ? [ni.address6] : []),
              ...clients.flatMap((c) => (c.ipv6 ? [c.ipv4, c.ipv6] : [c.ipv4])),
              ...(routed.get(remote.id) ?? []),
            ],
            endpoint: null,
            persistent_keepalive: null,
          });
        }
      }
      out.push({
        name: iface.name,
        addresses: iface.address6 ? [iface.address4, iface.address6] : [iface.address4],
        listen_port: iface.listen_port,
        mtu: iface.mtu,
        private_key: await secrets.open(iface.private_key_sealed, `interface:${iface.name}`),
        peers,
        master_peer: null,
        masquerade: true,
        ...(iface === first ? poolSpaces(interfaces, pools) : {}),
      });
    }
  } else {
    const rotation = wgRotationRepo.running(db, nodeId); // a key rotation's next devices (wg_key_rotation.ts)
    for (const [index, iface] of interfaces.entries()) {
      if (pools.pools.has(iface.id)) {
        await pool(iface);
        continue;
      }
      const rows = peersRepo.activeOfNodeOn(db, nodeId, iface.id, opts.now);
      if (iface !== first && rows.length === 0) continue;
      const ni = nodeInterfacesRepo.get(db, nodeId, iface.id);
      if (!ni) continue;
      out.push({
        ...renderedDevice(rotation, iface, ni.device ?? null, nodePort(node.wg_port, index)),
        addresses: [
          `${hostOf(ni.address4)}${prefixOf(iface.address4)}`,
          ...(ni.address6 && iface.address6 ? [`${hostOf(ni.address6)}${prefixOf(iface.address6)}`] : []),
        ],
        mtu: iface.mtu,
        private_key: null,
        peers: await clientPeers(rows, secrets),
        master_peer: iface === first
          ? {
            public_key: iface.public_key,
            endpoint: `${
              opts.publicHost.includes(":") ? `[${opts.publicHost}]` : opts.publicHost
            }:${iface.listen_port}`,
            allowed_ips: tunnelAddresses(first, interfaces),
            persistent_keepalive: 25,
          }
          : null,
        masquerade: true,
      });
    }
  }
  return {
    node_id: nodeId,
    config_version: node.config_version,
    issued_at: opts.now,
    interfaces: out,
    // The fleet's resolver runs on the master's host: only its `local` node configures Unbound.
    ...(node.is_local ? { dns: renderDnsConfig(db, opts.now) } : {}),
  };
}

/**
 * Each node's rendered config for its current version (and the one before, for deltas): rendered when a
 * node lacks that version, then shared by every fetch until the version moves (a bump is the only way a
 * node's desired state changes). Concurrent fetches of one version share one render.
 */
export class NodeConfigCache {
  #byNode = new Map<number, Rendered>();
  #previous = new Map<number, Rendered>();
  #renders = 0;

  constructor(private readonly render: (nodeId: number) => Promise<NodeConfig>) {}

  /** Renders so far (what the cache saved is measured against this). */
  get renders(): number {
    return this.#renders;
  }

  #entry(nodeId: number, version: number): Rendered {
    const hit = this.#byNode.get(nodeId);
    if (hit && hit.version === version) return hit;
    this.#renders++;
    // Only the text is kept (10,000 nodes' configs as objects weigh on the heap); a delta parses it.
    const entry = { version, json: this.render(nodeId).then((c) => JSON.stringify(c)) };
    if (hit) this.#previous.set(nodeId, hit);
    this.#byNode.set(nodeId, entry);
    entry.json.catch(() => {
      if (this.#byNode.get(nodeId) === entry) this.#byNode.delete(nodeId);
    });
    return entry;
  }

  /** The config of `nodeId` at `version` (its current one), as JSON text, rendered at most once. */
  async json(nodeId: number, version: number): Promise<string> {
    return await this.#entry(nodeId, version).json;
  }

  /**
   * The changes from `have` to `version` as a delta's JSON text, when `have` is the version rendered
   * before the current one; else null (the node gets the full config).
   */
  async delta(nodeId: number, have: number, version: number): Promise<string | null> {
    const current = this.#entry(nodeId, version); // first: it moves the version before to #previous
    const prev = this.#previous.get(nodeId);
    if (!prev) return null;
    try {
      const [from, to] = (await Promise.all([prev.json, current.json])).map((j) =>
        JSON.parse(j) as NodeConfig
      );
      return from.config_version === have ? JSON.stringify(diffConfigs(from, to)) : null;
    } catch {
      return null; // a failed render: the full config path reports it
    }
  }

  /** Forgets a node (deleted, or its config must be rendered afresh). */
  forget(nodeId: number): void {
    this.#byNode.delete(nodeId);
    this.#previous.delete(nodeId);
  }
}

type Rendered = { version: number; json: Promise<string> };
