// WireGuard interfaces and peers: the only code that combines their tables. Keys are made in-process
// (X25519 through WebCrypto) and sealed at rest; addresses are allocated inside the inserting
// transaction, so concurrent requests never share one.
import { nextFreeAddress } from "../../core/allocate.ts";
import { contains, formatIp, hostAddress, networkOf, overlaps, parseCidr, parseIp } from "../../core/cidr.ts";
import {
  allowedIpsForPreset,
  type ClientConf,
  clientConfFileName,
  renderClientConf,
} from "../../core/client_conf.ts";
import { AppError } from "../../core/errors.ts";
import type { HostState } from "../../core/host_state.ts";
import type { Clock } from "../../core/ports/types.ts";
import { seal, unseal } from "../../core/seal.ts";
import { generateKeyPair, generatePresharedKey } from "../../core/wg_keys.ts";
import type { Db } from "../db/db.ts";
import {
  type InterfaceRow,
  interfacesRepo,
  type PeerListRow,
  type PeerRow,
  peersRepo,
} from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import { nodeInterfacesRepo, nodesFullRepo } from "../db/nodes_repo.ts";
import { nodePort, renderNodeConfig } from "./node_config.ts";
import { hostStateFromNodeConfig } from "../../core/node_config.ts";
import type { AuditService } from "./audit.ts";
import { type Actor, canWrite, type RequestMeta } from "./context.ts";
import { parseInput } from "./validate.ts";
import {
  InterfaceInputSchema,
  InterfacePatchSchema,
  PeerInputSchema,
  PeerPatchSchema,
  PeerQuerySchema,
} from "./wg_schemas.ts";

export type InterfaceView = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listenPort: number;
  mtu: number | null;
  dns: string[];
  keepalive: number | null;
  endpointHost: string | null;
  publicKey: string;
  peerCount: number;
};

export type PeerView = {
  id: number;
  interfaceId: number;
  interfaceName: string;
  nodeId: number | null;
  nodeName: string | null;
  name: string;
  publicKey: string;
  hasPrivateKey: boolean;
  hasPresharedKey: boolean;
  ipv4: string;
  ipv6: string | null;
  routing: "full" | "split" | "custom";
  allowedIps: string[];
  enabled: boolean;
  expiresAt: number | null;
  expired: boolean;
  createdAt: number;
  updatedAt: number;
};

export type PeerPage = { items: PeerView[]; total: number; page: number; perPage: number };

export type ClientConfig = {
  filename: string;
  text: string;
  badge: { label: string } | null;
  peer: PeerView;
};

/** Called with the hosts whose desired state changed: null is the master itself, a number a node. */
export type HostsChanged = (hosts: (number | null)[]) => void;

const splitList = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

/** Opens sealed values, remembering the plaintext of each sealed string (they never change). */
class OpenedSecrets {
  #cache = new Map<string, string>();
  constructor(private readonly key: CryptoKey) {}
  async open(sealed: string, context: string): Promise<string> {
    const cacheKey = `${context}\u0000${sealed}`;
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined) return hit;
    const plain = await unseal(this.key, sealed, context);
    if (this.#cache.size > 250_000) this.#cache.clear();
    this.#cache.set(cacheKey, plain);
    return plain;
  }
}

export class WireGuardService {
  readonly #secrets: OpenedSecrets;
  #listeners: HostsChanged[] = [];

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly sealKey: CryptoKey,
    private readonly opts: { publicHost: string },
  ) {
    this.#secrets = new OpenedSecrets(sealKey);
  }

  #interfaceListeners: (() => void)[] = [];

  /** Called inside the creating transaction, e.g. to give every node an address in the new pool. */
  onInterfaceCreated(fn: () => void): void {
    this.#interfaceListeners.push(fn);
  }

  onHostsChanged(fn: HostsChanged): void {
    this.#listeners.push(fn);
  }

  #changed(hosts: (number | null)[]): void {
    const unique = [...new Set(hosts)];
    for (const fn of this.#listeners) fn(unique);
  }

  /** Every host that serves peers of this interface (the master, and nodes with peers on it). */
  #hostsOfInterface(interfaceId: number): (number | null)[] {
    return [
      null,
      ...this.db.all<{ node_id: number }>(
        "SELECT DISTINCT node_id FROM peers WHERE interface_id = :interfaceId AND node_id IS NOT NULL",
        { interfaceId },
      ).map((r) => r.node_id),
    ];
  }

  // --- interfaces ----------------------------------------------------------------------------

  #interfaceView(r: InterfaceRow, counts?: Map<number, number>): InterfaceView {
    return {
      id: r.id,
      name: r.name,
      address4: r.address4,
      address6: r.address6,
      listenPort: r.listen_port,
      mtu: r.mtu,
      dns: splitList(r.dns),
      keepalive: r.keepalive,
      endpointHost: r.endpoint_host,
      publicKey: r.public_key,
      peerCount: (counts ?? interfacesRepo.peerCounts(this.db)).get(r.id) ?? 0,
    };
  }

  listInterfaces(): InterfaceView[] {
    const counts = interfacesRepo.peerCounts(this.db);
    return interfacesRepo.list(this.db).map((r) => this.#interfaceView(r, counts));
  }

  getInterface(id: number): InterfaceView {
    const r = interfacesRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `Interface ${id} not found`);
    return this.#interfaceView(r);
  }

  /** `10.13.13.0/24` or `10.13.13.1/24` → the interface's own address with the prefix (`10.13.13.1/24`). */
  #ownAddress(pool: string): string {
    const c = parseCidr(pool);
    const net = networkOf(c);
    const addr = c.address === net.address ? hostAddress(net, 1) : { version: c.version, value: c.address };
    return `${formatIp(addr)}/${c.prefix}`;
  }

  #checkInterfaceConflicts(row: Omit<InterfaceRow, "id">, exceptId = 0): void {
    for (const other of interfacesRepo.list(this.db)) {
      if (other.id === exceptId) continue;
      if (other.name === row.name) {
        throw new AppError("conflict", `An interface named "${row.name}" already exists`, {
          fields: [{ field: "name", message: "is already taken" }],
        });
      }
      if (other.listen_port === row.listen_port) {
        throw new AppError("conflict", `Port ${row.listen_port} is already used by ${other.name}`, {
          fields: [{ field: "listen_port", message: `is already used by ${other.name}` }],
        });
      }
      if (overlaps(other.address4, row.address4)) {
        throw new AppError("conflict", `The IPv4 pool overlaps ${other.name}'s (${other.address4})`, {
          fields: [{ field: "ipv4_pool", message: `overlaps ${other.name} (${other.address4})` }],
        });
      }
      if (row.address6 && other.address6 && overlaps(other.address6, row.address6)) {
        throw new AppError("conflict", `The IPv6 pool overlaps ${other.name}'s (${other.address6})`, {
          fields: [{ field: "ipv6_pool", message: `overlaps ${other.name} (${other.address6})` }],
        });
      }
    }
  }

  async createInterface(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<InterfaceView> {
    requireAdmin(actor);
    const data = parseInput(InterfaceInputSchema, input, "interface");
    const keys = await generateKeyPair();
    const now = this.clock.now();
    const row: Omit<InterfaceRow, "id"> = {
      name: data.name,
      address4: this.#ownAddress(data.ipv4_pool),
      address6: data.ipv6_pool ? this.#ownAddress(data.ipv6_pool) : null,
      listen_port: data.listen_port,
      mtu: data.mtu ?? null,
      dns: data.dns.join(","),
      keepalive: data.keepalive ?? null,
      endpoint_host: data.endpoint_host ?? null,
      private_key_sealed: "",
      public_key: keys.publicKey,
      created_at: now,
      updated_at: now,
    };
    const id = await this.#withSealed(row.name, keys.privateKey, (sealed) =>
      this.db.tx(() => {
        this.#checkInterfaceConflicts(row);
        const id = interfacesRepo.insert(this.db, { ...row, private_key_sealed: sealed });
        for (const fn of this.#interfaceListeners) fn();
        this.audit.record(actor, meta, {
          action: "interface.create",
          target: row.name,
          detail: row.address4,
        });
        return id;
      }));
    this.#changed([null]);
    return this.getInterface(id);
  }

  async #withSealed<T>(name: string, privateKey: string, fn: (sealed: string) => T): Promise<T> {
    return fn(await seal(this.sealKey, privateKey, `interface:${name}`));
  }

  updateInterface(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): InterfaceView {
    requireAdmin(actor);
    const patch = parseInput(InterfacePatchSchema, input, "interface");
    this.db.tx(() => {
      const cur = interfacesRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Interface ${id} not found`);
      if (patch.name !== undefined && patch.name !== cur.name) {
        throw new AppError(
          "validation",
          "An interface cannot be renamed (its private key is bound to its name)",
          {
            fields: [{ field: "name", message: "cannot be changed" }],
          },
        );
      }
      const next: InterfaceRow = {
        ...cur,
        address4: patch.ipv4_pool !== undefined ? this.#ownAddress(patch.ipv4_pool) : cur.address4,
        address6: patch.ipv6_pool !== undefined
          ? (patch.ipv6_pool ? this.#ownAddress(patch.ipv6_pool) : null)
          : cur.address6,
        listen_port: patch.listen_port ?? cur.listen_port,
        mtu: patch.mtu !== undefined ? patch.mtu ?? null : cur.mtu,
        dns: patch.dns !== undefined ? patch.dns.join(",") : cur.dns,
        keepalive: patch.keepalive !== undefined ? patch.keepalive ?? null : cur.keepalive,
        endpoint_host: patch.endpoint_host !== undefined ? patch.endpoint_host ?? null : cur.endpoint_host,
        updated_at: this.clock.now(),
      };
      const poolsChanged = next.address4 !== cur.address4 || next.address6 !== cur.address6;
      if (poolsChanged && (interfacesRepo.peerCounts(this.db).get(id) ?? 0) > 0) {
        throw new AppError("conflict", `Cannot change the address pools of ${cur.name} while it has peers`, {
          fields: [{
            field: next.address4 !== cur.address4 ? "ipv4_pool" : "ipv6_pool",
            message: "cannot change while peers exist",
          }],
        });
      }
      this.#checkInterfaceConflicts(next, id);
      interfacesRepo.update(this.db, next);
      this.audit.record(actor, meta, { action: "interface.update", target: cur.name });
    });
    this.#changed(this.#hostsOfInterface(id));
    return this.getInterface(id);
  }

  deleteInterface(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const hosts = this.#hostsOfInterface(id);
    this.db.tx(() => {
      const cur = interfacesRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Interface ${id} not found`);
      const peers = interfacesRepo.peerCounts(this.db).get(id) ?? 0;
      if (peers > 0) {
        throw new AppError("conflict", `Interface ${cur.name} still has ${peers} peer(s); delete them first`);
      }
      interfacesRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "interface.delete", target: cur.name });
    });
    this.#changed(hosts);
  }

  // --- peers ---------------------------------------------------------------------------------

  #peerView(r: PeerListRow): PeerView {
    const now = this.clock.now();
    return {
      id: r.id,
      interfaceId: r.interface_id,
      interfaceName: r.interface_name,
      nodeId: r.node_id,
      nodeName: r.node_name,
      name: r.name,
      publicKey: r.public_key,
      hasPrivateKey: r.private_key_sealed !== null,
      hasPresharedKey: r.psk_sealed !== null,
      ipv4: r.ipv4,
      ipv6: r.ipv6,
      routing: r.routing,
      allowedIps: splitList(r.allowed_ips),
      enabled: r.enabled === 1,
      expiresAt: r.expires_at,
      expired: r.expires_at !== null && r.expires_at <= now,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  listPeers(query: unknown): PeerPage {
    const q = parseInput(PeerQuerySchema, query, "peer search");
    const filter = {
      q: q.q.trim(),
      interfaceId: q.interface_id ?? null,
      nodeId: q.node ?? null,
      limit: q.per_page,
      offset: (q.page - 1) * q.per_page,
    };
    const { rows, total } = peersRepo.page(this.db, filter);
    return { items: rows.map((r) => this.#peerView(r)), total, page: q.page, perPage: q.per_page };
  }

  getPeer(id: number): PeerView {
    const r = peersRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `Peer ${id} not found`);
    return this.#peerView(r);
  }

  #requireNode(nodeId: number | null | undefined): void {
    if (nodeId && nodesFullRepo.byId(this.db, nodeId)?.is_local) {
      throw new AppError("validation", "Leave the node empty for peers of the master itself", {
        fields: [{ field: "node_id", message: "is the master's own node: leave it empty" }],
      });
    }
    if (nodeId && !nodesFullRepo.byId(this.db, nodeId)) {
      throw new AppError("validation", `Node ${nodeId} does not exist`, {
        fields: [{ field: "node_id", message: "does not exist" }],
      });
    }
  }

  #expiry(text: string | null | undefined, now: number): number | null {
    if (!text) return null;
    const at = Date.parse(text);
    if (at <= now) {
      throw new AppError("validation", "The expiry must be in the future", {
        fields: [{ field: "expires_at", message: "must be in the future" }],
      });
    }
    return at;
  }

  #allowedFor(iface: InterfaceRow, routing: PeerRow["routing"], custom: string[]): string {
    if (routing !== "custom") return "";
    if (custom.length === 0) {
      throw new AppError("validation", "Custom routing needs AllowedIPs", {
        fields: [{ field: "allowed_ips", message: "is required for custom routing" }],
      });
    }
    try {
      return allowedIpsForPreset("custom", { interfaceSubnets: [iface.address4], custom }).join(",");
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      throw new AppError("validation", err.message, {
        fields: [{ field: "allowed_ips", message: err.fields[0]?.message ?? err.message }],
      });
    }
  }

  async createPeer(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<PeerView> {
    requireAdmin(actor);
    const data = parseInput(PeerInputSchema, input, "peer");
    const now = this.clock.now();
    const iface = interfacesRepo.byId(this.db, data.interface_id);
    if (!iface) {
      throw new AppError("validation", `Interface ${data.interface_id} does not exist`, {
        fields: [{ field: "interface_id", message: "does not exist" }],
      });
    }
    this.#requireNode(data.node_id);
    const allowed = this.#allowedFor(iface, data.routing, data.allowed_ips);
    const expiresAt = this.#expiry(data.expires_at, now);
    if (data.ipv4) {
      const own = parseCidr(iface.address4);
      if (
        !contains(networkOf(own), data.ipv4) || parseIp(data.ipv4).value === own.address ||
        parseIp(data.ipv4).version !== 4
      ) {
        throw new AppError(
          "validation",
          `${data.ipv4} is not a free host address of ${iface.name}'s pool ${iface.address4}`,
          {
            fields: [{
              field: "ipv4",
              message: `must be inside ${iface.address4} and not the interface's own address`,
            }],
          },
        );
      }
    }
    // Keys and sealing are async; everything that must be atomic happens in the synchronous transaction.
    const keys = data.public_key ? null : await generateKeyPair();
    const publicKey = data.public_key ?? keys!.publicKey;
    const privateSealed = keys
      ? await seal(this.sealKey, keys.privateKey, `peer:${publicKey}:private`)
      : null;
    const pskSealed = data.preshared_key
      ? await seal(this.sealKey, generatePresharedKey(), `peer:${publicKey}:psk`)
      : null;

    const id = this.db.tx(() => {
      if (peersRepo.byName(this.db, iface.id, data.name)) {
        throw new AppError("conflict", `A peer named "${data.name}" already exists on ${iface.name}`, {
          fields: [{ field: "name", message: "is already taken on this interface" }],
        });
      }
      if (peersRepo.byPublicKey(this.db, publicKey)) {
        throw new AppError("conflict", "Another peer already uses this public key", {
          fields: [{ field: "public_key", message: "is already in use" }],
        });
      }
      const used = peersRepo.usedAddresses(this.db, iface.id);
      let ipv4: string;
      if (data.ipv4) {
        ipv4 = `${formatIp(parseIp(data.ipv4))}/32`;
        if (used.some((u) => u.ipv4 === ipv4)) {
          throw new AppError("conflict", `${data.ipv4} is already taken`, {
            fields: [{ field: "ipv4", message: "is already taken" }],
          });
        }
      } else {
        ipv4 = nextFreeAddress(iface.address4, used.map((u) => u.ipv4));
      }
      const ipv6 = iface.address6
        ? nextFreeAddress(iface.address6, used.flatMap((u) => (u.ipv6 ? [u.ipv6] : [])))
        : null;
      const id = peersRepo.insert(this.db, {
        interface_id: iface.id,
        node_id: data.node_id ?? null,
        name: data.name,
        public_key: publicKey,
        private_key_sealed: privateSealed,
        psk_sealed: pskSealed,
        ipv4,
        ipv6,
        routing: data.routing,
        allowed_ips: allowed,
        enabled: data.enabled ? 1 : 0,
        expires_at: expiresAt,
        created_at: now,
        updated_at: now,
      });
      this.audit.record(actor, meta, {
        action: "peer.create",
        target: data.name,
        detail: `${iface.name} ${ipv4}`,
      });
      return id;
    });
    this.#changed([data.node_id ?? null]);
    return this.getPeer(id);
  }

  async updatePeer(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): Promise<PeerView> {
    requireAdmin(actor);
    const patch = parseInput(PeerPatchSchema, input, "peer");
    const cur = peersRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Peer ${id} not found`);
    const iface = interfacesRepo.byId(this.db, cur.interface_id)!;
    if (patch.node_id !== undefined) this.#requireNode(patch.node_id);
    if (patch.public_key && patch.regenerate_keys) {
      throw new AppError("validation", "Give a public key or regenerate keys, not both", {
        fields: [{ field: "public_key", message: "cannot be combined with regenerate_keys" }],
      });
    }
    let publicKey = cur.public_key;
    let privateSealed = cur.private_key_sealed;
    if (patch.regenerate_keys) {
      const keys = await generateKeyPair();
      publicKey = keys.publicKey;
      privateSealed = await seal(this.sealKey, keys.privateKey, `peer:${publicKey}:private`);
    } else if (patch.public_key && patch.public_key !== cur.public_key) {
      publicKey = patch.public_key;
      privateSealed = null; // the client holds its own private key now
    }
    let pskSealed = cur.psk_sealed;
    if (patch.preshared_key === false) pskSealed = null;
    else if (
      (patch.preshared_key === true && !cur.psk_sealed) || (pskSealed && publicKey !== cur.public_key)
    ) {
      pskSealed = await seal(this.sealKey, generatePresharedKey(), `peer:${publicKey}:psk`);
    }
    const routing = patch.routing ?? cur.routing;
    const allowed = patch.allowed_ips !== undefined || patch.routing !== undefined
      ? this.#allowedFor(iface, routing, patch.allowed_ips ?? splitList(cur.allowed_ips))
      : cur.allowed_ips;
    const next: PeerRow = {
      ...cur,
      name: patch.name ?? cur.name,
      node_id: patch.node_id !== undefined ? patch.node_id : cur.node_id,
      public_key: publicKey,
      private_key_sealed: privateSealed,
      psk_sealed: pskSealed,
      routing,
      allowed_ips: allowed,
      enabled: patch.enabled !== undefined ? (patch.enabled ? 1 : 0) : cur.enabled,
      expires_at: patch.expires_at !== undefined
        ? this.#expiry(patch.expires_at, this.clock.now())
        : cur.expires_at,
      updated_at: this.clock.now(),
    };
    this.db.tx(() => {
      if (next.name !== cur.name && peersRepo.byName(this.db, cur.interface_id, next.name)) {
        throw new AppError("conflict", `A peer named "${next.name}" already exists on ${iface.name}`, {
          fields: [{ field: "name", message: "is already taken on this interface" }],
        });
      }
      const owner = next.public_key !== cur.public_key
        ? peersRepo.byPublicKey(this.db, next.public_key)
        : undefined;
      if (owner) {
        throw new AppError("conflict", "Another peer already uses this public key", {
          fields: [{ field: "public_key", message: "is already in use" }],
        });
      }
      peersRepo.update(this.db, next);
      const changes = Object.keys(patch).filter((k) => k !== "regenerate_keys" || patch.regenerate_keys).join(
        ",",
      );
      this.audit.record(actor, meta, { action: "peer.update", target: next.name, detail: changes });
    });
    this.#changed([cur.node_id, next.node_id]);
    return this.getPeer(id);
  }

  deletePeer(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const cur = peersRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Peer ${id} not found`);
    this.db.tx(() => {
      peersRepo.delete(this.db, id);
      this.audit.record(actor, meta, {
        action: "peer.delete",
        target: cur.name,
        detail: `${cur.interface_name} ${cur.ipv4}`,
      });
    });
    this.#changed([cur.node_id]);
  }

  /** Disables peers whose expiry has passed; returns how many. Run by the scheduler. */
  expireDue(): number {
    const now = this.clock.now();
    const due = peersRepo.due(this.db, now);
    if (due.length === 0) return 0;
    this.db.tx(() => {
      for (const p of due) {
        peersRepo.update(this.db, { ...p, enabled: 0, updated_at: now });
        this.audit.record("scheduler", null, { action: "peer.expire", target: p.name });
      }
    });
    this.#changed(due.map((p) => p.node_id));
    return due.length;
  }

  stats() {
    return peersRepo.stats(this.db, this.clock.now());
  }

  // --- client configuration ------------------------------------------------------------------

  /** The peer's `.conf`. Audited as a download; the caller sends it with Cache-Control: no-store. */
  async clientConfig(
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
    const peer = this.#peerView(row);
    const iface = interfacesRepo.byId(this.db, row.interface_id)!;
    const served = this.#servedBy(iface, row.node_id);
    const dns = splitList(iface.dns);
    const conf: ClientConf = {
      interface: {
        privateKey: row.private_key_sealed
          ? await this.#secrets.open(row.private_key_sealed, `peer:${row.public_key}:private`)
          : "",
        addresses: [row.ipv4, ...(row.ipv6 ? [row.ipv6] : [])],
        ...(dns.length > 0 ? { dns } : {}),
        ...(iface.mtu ? { mtu: iface.mtu } : {}),
      },
      peer: {
        publicKey: served.publicKey,
        ...(row.psk_sealed
          ? { presharedKey: await this.#secrets.open(row.psk_sealed, `peer:${row.public_key}:psk`) }
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

  /** Who serves a peer: the master (its public host) or, later, a node (its FQDN and its interface key). */
  #servedBy(
    iface: InterfaceRow,
    nodeId: number | null,
  ): { publicKey: string; endpoint: { host: string; port: number } } {
    if (nodeId !== null) {
      const node = nodesFullRepo.byId(this.db, nodeId);
      if (node) {
        const key = nodeInterfacesRepo.get(this.db, nodeId, iface.id)?.public_key;
        if (!key) {
          throw new AppError(
            "conflict",
            `Node "${node.name}" has not reported its WireGuard key for ${iface.name} yet; the config is ready once the node is online`,
          );
        }
        const index = interfacesRepo.list(this.db).findIndex((i) => i.id === iface.id);
        return { publicKey: key, endpoint: { host: node.fqdn, port: nodePort(node.wg_port, index) } };
      }
    }
    return {
      publicKey: iface.public_key,
      endpoint: { host: iface.endpoint_host ?? this.opts.publicHost, port: iface.listen_port },
    };
  }

  // --- desired state -------------------------------------------------------------------------

  /** Opens every sealed PSK and interface key once, so the first desired-state render after a start is fast. */
  async warmSecrets(): Promise<number> {
    let n = 0;
    for (const iface of interfacesRepo.list(this.db)) {
      await this.#secrets.open(iface.private_key_sealed, `interface:${iface.name}`);
      const rows = this.db.all<{ public_key: string; psk_sealed: string }>(
        "SELECT public_key, psk_sealed FROM peers WHERE interface_id = :id AND psk_sealed IS NOT NULL",
        { id: iface.id },
      );
      await Promise.all(rows.map((r) => this.#secrets.open(r.psk_sealed, `peer:${r.public_key}:psk`)));
      n += rows.length + 1;
    }
    return n;
  }

  /** The desired data plane of the master's own host (its `local` node), as the engine takes it. */
  async hostState(): Promise<HostState> {
    const local = nodesFullRepo.local(this.db);
    if (!local) throw new AppError("internal", "the local node does not exist yet");
    const config = await renderNodeConfig(this.db, (s, c) => this.#secrets.open(s, c), local.id, {
      now: this.clock.now(),
      publicHost: this.opts.publicHost,
    });
    return hostStateFromNodeConfig(config, {});
  }

  /** Opens a sealed secret (cached). */
  openSecret(sealed: string, context: string): Promise<string> {
    return this.#secrets.open(sealed, context);
  }
}
