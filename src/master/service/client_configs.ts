// A peer's client configuration (`.conf` and QR code): its own keys opened from the database, and the
// host that serves it (the master, or a node with its FQDN and its own interface key). Only admins and
// write tokens get one, as it holds the peer's private key; every download is audited.
import {
  allowedIpsForPreset,
  type ClientConf,
  clientConfFileName,
  renderClientConf,
} from "../../core/client_conf.ts";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { type InterfaceRow, interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import type { AuditService } from "./audit.ts";
import { type Actor, canWrite, type RequestMeta } from "./context.ts";
import { splitList } from "./interfaces.ts";
import { nodePort } from "./node_config.ts";
import { type PeerView, peerView } from "./peers.ts";
import { servingDevice } from "./wg_devices.ts";
import type { SecretBox } from "./secret_box.ts";
import { poolClientTarget } from "./pool_config.ts";

export type ClientConfig = {
  filename: string;
  text: string;
  badge: { label: string } | null;
  peer: PeerView;
};

export class ClientConfigService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    private readonly opts: { publicHost: string },
  ) {}

  /** The peer's `.conf`. Audited as a download; the caller sends it with Cache-Control: no-store. */
  async forPeer(
    actor: Actor,
    meta: RequestMeta | null,
    id: number,
    kind: "conf" | "qr",
  ): Promise<ClientConfig> {
    // A client config holds the peer's private key and PSK: only admins (and write tokens) get it.
    if (!canWrite(actor)) {
      throw new AppError("forbidden", "Only admins can download client configs (they contain private keys)");
    }
    const row = peersRepo.byId(this.db, id);
    if (!row) throw new AppError("not_found", `Peer ${id} not found`);
    const peer = peerView(row, this.clock.now());
    const iface = interfacesRepo.byId(this.db, row.interface_id)!;
    const pool = poolClientTarget(this.db, iface); // a failover pool's client (issue 11)
    const served = pool ?? this.#servedBy(iface, row.node_id);
    const dns = pool?.dns ?? splitList(iface.dns);
    const conf: ClientConf = {
      interface: {
        privateKey: row.private_key_sealed
          ? await this.secrets.open(row.private_key_sealed, `peer:${row.public_key}:private`)
          : "",
        addresses: [row.ipv4, ...(row.ipv6 ? [row.ipv6] : [])],
        ...(dns.length > 0 ? { dns } : {}),
        ...(iface.mtu ? { mtu: iface.mtu } : {}),
      },
      peer: {
        publicKey: served.publicKey,
        ...(row.psk_sealed
          ? { presharedKey: await this.secrets.open(row.psk_sealed, `peer:${row.public_key}:psk`) }
          : {}),
        allowedIps: row.routing === "custom" ? splitList(row.allowed_ips) : allowedIpsForPreset(row.routing, {
          interfaceSubnets: [iface.address4, ...(iface.address6 ? [iface.address6] : [])],
          dnsAddresses: dns,
        }),
        endpoint: served.endpoint,
        ...(iface.keepalive ? { persistentKeepalive: iface.keepalive } : {}),
      },
    };
    let text: string;
    if (row.private_key_sealed) {
      text = renderClientConf(conf);
    } else {
      // The client made its own key: hand out everything else, with a line to fill in.
      text = renderClientConf({ ...conf, interface: { ...conf.interface, privateKey: "A".repeat(43) + "=" } })
        .replace(
          /^PrivateKey = .*$/m,
          "# PrivateKey = (the private key that belongs to the public key you registered)",
        );
    }
    this.audit.record(actor, meta, { action: kind === "qr" ? "peer.qr" : "peer.config", target: row.name });
    return {
      filename: clientConfFileName(row.name),
      text,
      badge: row.node_name ? { label: row.node_name } : null,
      peer,
    };
  }

  /** The endpoint a peer's config names (no keys, not audited), null when the node has no key yet. */
  endpointOf(id: number): { host: string; port: number } | null {
    const row = peersRepo.byId(this.db, id);
    if (!row) throw new AppError("not_found", `Peer ${id} not found`);
    try {
      const iface = interfacesRepo.byId(this.db, row.interface_id)!;
      const pool = poolClientTarget(this.db, iface);
      if (pool) return pool.endpoint;
      return this.#servedBy(interfacesRepo.byId(this.db, row.interface_id)!, row.node_id).endpoint;
    } catch {
      return null;
    }
  }

  /** Who serves a peer: the master (its public host) or a node (its FQDN and its interface key). */
  #servedBy(
    iface: InterfaceRow,
    nodeId: number | null,
  ): { publicKey: string; endpoint: { host: string; port: number } } {
    if (nodeId !== null) {
      const node = nodesFullRepo.byId(this.db, nodeId);
      if (node) {
        const index = interfacesRepo.list(this.db).findIndex((i) => i.id === iface.id);
        // During a key rotation, the node's announced new key and port (wg_key_rotation.ts).
        const { publicKey: key, port } = servingDevice(this.db, nodeId, iface, nodePort(node.wg_port, index));
        if (!key) {
          throw new AppError(
            "conflict",
            `Node "${node.name}" has not reported its WireGuard key for ${iface.name} yet; the config is ready once the node is online`,
          );
        }
        return { publicKey: key, endpoint: { host: node.fqdn, port } };
      }
    }
    return {
      publicKey: iface.public_key,
      endpoint: { host: iface.endpoint_host ?? this.opts.publicHost, port: iface.listen_port },
    };
  }
}
