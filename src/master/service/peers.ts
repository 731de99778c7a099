// WireGuard peers: the clients of an interface, served by the master or by a node. Keys are made
// in-process and sealed at rest; addresses are allocated inside the inserting transaction, so
// concurrent requests never share one. Every change is reported to the hosts that serve the peer
// (its node before and after, and always the master) through the HostChanges port.
import { nextFreeAddress } from "../../core/allocate.ts";
import { formatIp, parseIp } from "../../core/cidr.ts";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { generateKeyPair, generatePresharedKey } from "../../core/wg_keys.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { interfacesRepo, type PeerListRow, type PeerRow, peersRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { HostChanges } from "./config_versions.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { splitList } from "./interfaces.ts";
import { allowedFor, checkChosenIpv4, expiry } from "./peer_rules.ts";
import type { SecretBox } from "./secret_box.ts";
import { FieldProblems, parseInput, validFields } from "./validate.ts";
import { PeerInputSchema, PeerPatchSchema, PeerQuerySchema } from "./wg_schemas.ts";
import type { AdminScope } from "./scope.ts";
import { checkPoolPeerNode } from "./pool_checks.ts";
import { poolHostsOf } from "./pool_config.ts";

export type PeerView = {
  id: number;
  interfaceId: number;
  interfaceName: string;
  nodeId: number | null;
  nodeName: string | null;
  /** A failover pool's client (its members serve it, no node): the pool and the member holding it. */
  pool: PeerPool | null;
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

export type PeerPool = { id: number; name: string; servedBy: { nodeId: number; nodeName: string } | null };

export type PeerPage = { items: PeerView[]; total: number; page: number; perPage: number };

export function peerView(r: PeerListRow, now: number): PeerView {
  return {
    id: r.id,
    interfaceId: r.interface_id,
    interfaceName: r.interface_name,
    nodeId: r.node_id,
    nodeName: r.node_name,
    pool: r.interface_is_pool === 1
      ? {
        id: r.interface_id,
        name: r.interface_name,
        servedBy: r.holder_id !== null ? { nodeId: r.holder_id, nodeName: r.holder_name ?? "" } : null,
      }
      : null,
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

export class PeerService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    private readonly hosts: HostChanges,
  ) {}

  /** A page of peers; with a scope, only those a scoped admin may see (their pools' and nodes'). */
  list(query: unknown, scope: AdminScope | null = null): PeerPage {
    const q = parseInput(PeerQuerySchema, query, "peer search");
    const filter = {
      q: q.q.trim(),
      interfaceId: q.interface_id ?? null,
      nodeId: q.node ?? null,
      limit: q.per_page,
      offset: (q.page - 1) * q.per_page,
      sort: q.sort,
      scope,
    };
    const { rows, total } = peersRepo.page(this.db, filter);
    const now = this.clock.now();
    return { items: rows.map((r) => peerView(r, now)), total, page: q.page, perPage: q.per_page };
  }

  get(id: number): PeerView {
    const r = peersRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `Peer ${id} not found`);
    return peerView(r, this.clock.now());
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

  async create(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<PeerView> {
    requireAdmin(actor);
    // Every problem at once: the schema's, and the checks of the fields that are valid on their own.
    const problems = new FieldProblems();
    const parsed = problems.parse(PeerInputSchema, input, "peer");
    const v = parsed ?? validFields(PeerInputSchema, input);
    const now = this.clock.now();
    const iface = v.interface_id === undefined ? undefined : interfacesRepo.byId(this.db, v.interface_id);
    problems.check(() => {
      if (v.interface_id !== undefined && !iface) {
        throw new AppError("validation", `Interface ${v.interface_id} does not exist`, {
          fields: [{ field: "interface_id", message: "does not exist" }],
        });
      }
    });
    problems.check(() => this.#requireNode(v.node_id));
    if (iface) problems.check(() => checkPoolPeerNode(this.db, iface.id, v.node_id));
    let allowed = "";
    if (iface) problems.check(() => (allowed = allowedFor(iface, v.routing ?? "full", v.allowed_ips ?? [])));
    let expiresAt: number | null = null;
    problems.check(() => (expiresAt = expiry(v.expires_at, now)));
    if (iface && v.ipv4) problems.check(() => checkChosenIpv4(iface, v.ipv4!));
    problems.check(() => {
      if (iface && v.name && peersRepo.byName(this.db, iface.id, v.name)) {
        throw new AppError("conflict", `A peer named "${v.name}" already exists on ${iface.name}`, {
          fields: [{ field: "name", message: "is already taken on this interface" }],
        });
      }
    });
    problems.throwIfAny();
    const data = parsed!;
    // Keys and sealing are async; everything that must be atomic happens in the synchronous transaction.
    const keys = data.public_key ? null : await generateKeyPair();
    const publicKey = data.public_key ?? keys!.publicKey;
    const privateSealed = keys ? await this.secrets.seal(keys.privateKey, `peer:${publicKey}:private`) : null;
    const pskSealed = data.preshared_key
      ? await this.secrets.seal(generatePresharedKey(), `peer:${publicKey}:psk`)
      : null;

    const id = this.db.tx(() => {
      if (!iface) throw new AppError("internal", "interface checked above");
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
    this.hosts.hostsChanged([data.node_id ?? null, ...poolHostsOf(this.db, [iface!.id])]);
    return this.get(id);
  }

  async update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): Promise<PeerView> {
    requireAdmin(actor);
    const cur = peersRepo.byId(this.db, id);
    if (!cur) throw new AppError("not_found", `Peer ${id} not found`);
    const iface = interfacesRepo.byId(this.db, cur.interface_id)!;
    const problems = new FieldProblems(); // every problem at once, as in create
    const parsed = problems.parse(PeerPatchSchema, input, "peer");
    if (parsed && Object.keys(parsed).length === 0) return this.get(id); // nothing to change: no audit, no bump
    const v = parsed ?? validFields(PeerPatchSchema, input);
    if (v.node_id !== undefined) problems.check(() => this.#requireNode(v.node_id));
    if (v.node_id !== undefined) problems.check(() => checkPoolPeerNode(this.db, iface.id, v.node_id));
    problems.check(() => {
      if (v.public_key && v.regenerate_keys) {
        throw new AppError("validation", "Give a public key or regenerate keys, not both", {
          fields: [{ field: "public_key", message: "cannot be combined with regenerate_keys" }],
        });
      }
    });
    if (v.allowed_ips !== undefined || v.routing !== undefined) {
      problems.check(() =>
        allowedFor(iface, v.routing ?? cur.routing, v.allowed_ips ?? splitList(cur.allowed_ips))
      );
    }
    if (v.expires_at !== undefined) problems.check(() => expiry(v.expires_at, this.clock.now()));
    problems.check(() => {
      if (v.name && v.name !== cur.name && peersRepo.byName(this.db, cur.interface_id, v.name)) {
        throw new AppError("conflict", `A peer named "${v.name}" already exists on ${iface.name}`, {
          fields: [{ field: "name", message: "is already taken on this interface" }],
        });
      }
    });
    problems.throwIfAny();
    const patch = parsed!;
    let publicKey = cur.public_key;
    let privateSealed = cur.private_key_sealed;
    if (patch.regenerate_keys) {
      const keys = await generateKeyPair();
      publicKey = keys.publicKey;
      privateSealed = await this.secrets.seal(keys.privateKey, `peer:${publicKey}:private`);
    } else if (patch.public_key && patch.public_key !== cur.public_key) {
      publicKey = patch.public_key;
      privateSealed = null; // the client holds its own private key now
    }
    let pskSealed = cur.psk_sealed;
    if (patch.preshared_key === false) pskSealed = null;
    else if (
      (patch.preshared_key === true && !cur.psk_sealed) || (pskSealed && publicKey !== cur.public_key)
    ) {
      pskSealed = await this.secrets.seal(generatePresharedKey(), `peer:${publicKey}:psk`);
    }
    const routing = patch.routing ?? cur.routing;
    const allowed = patch.allowed_ips !== undefined || patch.routing !== undefined
      ? allowedFor(iface, routing, patch.allowed_ips ?? splitList(cur.allowed_ips))
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
        ? expiry(patch.expires_at, this.clock.now())
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
    this.hosts.hostsChanged([cur.node_id, next.node_id, ...poolHostsOf(this.db, [cur.interface_id])]);
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): void {
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
    this.hosts.hostsChanged([cur.node_id, ...poolHostsOf(this.db, [cur.interface_id])]);
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
    this.hosts.hostsChanged([
      ...due.map((p) => p.node_id),
      ...poolHostsOf(this.db, due.map((p) => p.interface_id)),
    ]);
    return due.length;
  }

  stats() {
    return peersRepo.stats(this.db, this.clock.now());
  }
}
