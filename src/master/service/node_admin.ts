// Nodes as the admin sees them: list, create (with a one-time enrollment token), edit, delete, new
// token. The master's own `local` node is made at the first start and cannot be edited or deleted here.
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { randomToken, sha256Hex } from "../../core/seal.ts";
import type { Db } from "../db/db.ts";
import {
  type NodeFullRow,
  nodeInterfacesRepo,
  nodesFullRepo,
  type NodeStatus,
  removedNodesRepo,
} from "../db/nodes_repo.ts";
import { interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { ConfigVersions } from "./config_versions.ts";
import type { Actor, RequestMeta } from "./context.ts";
import { allocateNodeAddresses } from "./node_addresses.ts";
import type { NodeClocks } from "./node_clocks.ts";
import type { SyncKeys } from "./sync_keys.ts";
import { FieldProblems, parseInput } from "./validate.ts";
import { HostSchema } from "./wg_schemas.ts";
import { checkNodePortAgainstPools, checkNotPoolMember } from "./pool_checks.ts";

export const LOCAL_NODE_NAME = "local";

const NodeNameSchema = z.string().trim().min(1, "is required").max(64, "must be at most 64 characters").regex(
  /^[\p{L}\p{N} ._-]+$/u,
  "may contain letters, digits, spaces and . _ - only",
);
const PortSchema = z.number({ error: "must be a port number" }).int("must be a whole number").min(
  1,
  "must be 1-65535",
).max(
  65535,
  "must be 1-65535",
);
export const NodeInputSchema = z.object({
  name: NodeNameSchema,
  fqdn: HostSchema,
  wg_port: PortSchema.default(51820),
}).strict();
export const NodePatchSchema = z.object({ name: NodeNameSchema, fqdn: HostSchema, wg_port: PortSchema })
  .partial().strict();

export type NodeView = {
  id: number;
  name: string;
  fqdn: string;
  wgPort: number;
  isLocal: boolean;
  status: NodeStatus;
  lastSeenAt: number | null;
  lastError: string | null;
  hostname: string;
  enrolled: boolean;
  tokenExpiresAt: number | null;
  configVersion: number;
  appliedVersion: number;
  peerCount: number;
  droppedMetrics: number;
  /** The node's clock minus the master's, from its latest request (null: not heard from since the start). */
  clockSkewMs: number | null;
  interfaces: { name: string; address: string; publicKey: string | null }[];
};

export type NodeAdminOptions = {
  publicUrl: URL;
  publicHost: string;
  tokenTtlMs: number;
  /** Each node's clock skew, as the sync API measured it. */
  clocks?: NodeClocks;
};

export class NodeAdminService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly keys: SyncKeys,
    private readonly versions: ConfigVersions,
    private readonly opts: NodeAdminOptions,
  ) {}

  /** Makes the master's own `local` node at the first start. */
  ensureLocalNode(): void {
    if (nodesFullRepo.local(this.db)) return;
    this.db.tx(() => {
      nodesFullRepo.insert(this.db, {
        name: LOCAL_NODE_NAME,
        fqdn: this.opts.publicHost,
        wg_port: 1,
        is_local: 1,
        now: this.clock.now(),
      });
    });
  }

  #view(n: NodeFullRow, counts: Map<number, number>, ifaces: Map<number, string>): NodeView {
    return {
      id: n.id,
      name: n.name,
      fqdn: n.fqdn,
      wgPort: n.wg_port,
      isLocal: n.is_local === 1,
      status: n.status,
      lastSeenAt: n.last_seen_at,
      lastError: n.last_error,
      hostname: n.hostname,
      enrolled: n.verify_key !== null,
      tokenExpiresAt: n.enroll_expires_at,
      configVersion: n.config_version,
      appliedVersion: n.applied_version,
      peerCount: n.is_local ? peersRepo.countOnMaster(this.db) : counts.get(n.id) ?? 0,
      droppedMetrics: n.dropped_metrics,
      clockSkewMs: this.opts.clocks?.skew(n.id) ?? null,
      interfaces: nodeInterfacesRepo.forNode(this.db, n.id).map((ni) => ({
        name: ifaces.get(ni.interface_id) ?? "?",
        address: ni.address4,
        publicKey: ni.public_key,
      })),
    };
  }

  /** Interface names by id, read once per listing. */
  #interfaceNames(): Map<number, string> {
    return new Map(interfacesRepo.list(this.db).map((i) => [i.id, i.name]));
  }

  list(): NodeView[] {
    const counts = nodesFullRepo.peerCounts(this.db);
    const ifaces = this.#interfaceNames();
    return nodesFullRepo.list(this.db).map((n) => this.#view(n, counts, ifaces));
  }

  get(id: number): NodeView {
    const n = nodesFullRepo.byId(this.db, id);
    if (!n) throw new AppError("not_found", `Node ${id} not found`);
    return this.#view(n, nodesFullRepo.peerCounts(this.db), this.#interfaceNames());
  }

  /** The nodes a peer can be put on (the master's own node is "none"), by name. */
  remoteChoices(): { id: number; name: string }[] {
    return nodesFullRepo.remote(this.db).map((n) => ({ id: n.id, name: n.name }));
  }

  /** A name or FQDN another node has, both reported together. */
  #uniqueness(name: string, fqdn: string, exceptId = 0): void {
    const problems = new FieldProblems();
    problems.check(() => {
      const byName = nodesFullRepo.byName(this.db, name);
      if (byName && byName.id !== exceptId) {
        throw new AppError("conflict", `A node named "${name}" already exists`, {
          fields: [{ field: "name", message: "is already taken" }],
        });
      }
    });
    problems.check(() => {
      const byFqdn = nodesFullRepo.byFqdn(this.db, fqdn);
      if (byFqdn && byFqdn.id !== exceptId && !byFqdn.is_local) {
        throw new AppError("conflict", `Node "${byFqdn.name}" already uses ${fqdn}`, {
          fields: [{ field: "fqdn", message: "is already taken" }],
        });
      }
    });
    problems.throwIfAny();
  }

  async create(
    actor: Actor,
    meta: RequestMeta | null,
    input: unknown,
  ): Promise<{ node: NodeView; token: string }> {
    requireAdmin(actor);
    const data = parseInput(NodeInputSchema, input, "node");
    if (data.name.toLowerCase() === LOCAL_NODE_NAME) {
      throw new AppError("conflict", `"${LOCAL_NODE_NAME}" is the master's own node`, {
        fields: [{ field: "name", message: "is reserved" }],
      });
    }
    const id = this.db.tx(() => {
      this.#uniqueness(data.name, data.fqdn);
      const id = nodesFullRepo.insert(this.db, { ...data, is_local: 0, now: this.clock.now() });
      allocateNodeAddresses(this.db, id);
      this.audit.record(actor, meta, {
        action: "node.create",
        target: data.name,
        detail: `${data.fqdn}:${data.wg_port}`,
      });
      return id;
    });
    const token = await this.#issueToken(id);
    return { node: this.get(id), token };
  }

  update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): NodeView {
    requireAdmin(actor);
    const patch = parseInput(NodePatchSchema, input, "node");
    if (Object.keys(patch).length === 0) return this.get(id); // nothing to change: no audit row, no config bump
    this.db.tx(() => {
      const cur = nodesFullRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Node ${id} not found`);
      if (cur.is_local) {
        throw new AppError("conflict", "The master's own node is configured through the master");
      }
      const next = {
        name: patch.name ?? cur.name,
        fqdn: patch.fqdn ?? cur.fqdn,
        wg_port: patch.wg_port ?? cur.wg_port,
      };
      this.#uniqueness(next.name, next.fqdn, id);
      if (next.wg_port !== cur.wg_port) checkNodePortAgainstPools(this.db, cur, next.wg_port);
      nodesFullRepo.update(this.db, id, { ...next, now: this.clock.now() });
      if (next.wg_port !== cur.wg_port) this.versions.bumpInTx([id]);
      this.audit.record(actor, meta, {
        action: "node.update",
        target: next.name,
        detail: Object.keys(patch).join(","),
      });
    });
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): { unassignedPeers: number } {
    requireAdmin(actor);
    const unassigned = this.db.tx(() => {
      const cur = nodesFullRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Node ${id} not found`);
      if (cur.is_local) throw new AppError("conflict", "The master's own node cannot be deleted");
      checkNotPoolMember(this.db, cur); // its pools' key must be rotated first (pools.ts)
      const n = nodesFullRepo.unassignPeers(this.db, id);
      if (cur.verify_key && cur.node_secret_hash) {
        removedNodesRepo.insert(this.db, {
          id,
          verify_key: cur.verify_key,
          node_secret_hash: cur.node_secret_hash,
          removed_at: this.clock.now(),
        });
      }
      nodesFullRepo.delete(this.db, id);
      this.versions.bumpLocalInTx();
      this.audit.record(actor, meta, {
        action: "node.delete",
        target: cur.name,
        detail: `${n} peer(s) unassigned`,
      });
      return n;
    });
    this.versions.wake([id]);
    return { unassignedPeers: unassigned };
  }

  async regenerateToken(actor: Actor, meta: RequestMeta | null, id: number): Promise<string> {
    requireAdmin(actor);
    const node = nodesFullRepo.byId(this.db, id);
    if (!node) throw new AppError("not_found", `Node ${id} not found`);
    const token = await this.#issueToken(id);
    this.audit.record(actor, meta, { action: "node.token", target: node.name });
    return token;
  }

  /** A new single-use enrollment token; any older one stops working. */
  async #issueToken(id: number): Promise<string> {
    const secret = randomToken(32);
    const exp = this.clock.now() + this.opts.tokenTtlMs;
    const hash = await sha256Hex(secret);
    this.db.tx(() => nodesFullRepo.setEnrollment(this.db, id, hash, exp));
    return await this.keys.issueToken({
      url: this.opts.publicUrl.href.replace(/\/$/, ""),
      node_id: id,
      secret,
      exp,
    });
  }
}
