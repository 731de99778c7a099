// Failover pools (issue 11): an interface served by several nodes with one identity made by the master
// (sealed like the master's own interface keys, bound to the pool's name). Creating one, its announce
// settings, its members (removal rotates the identity), and draining. Every change is audited and
// reported to the hosts whose config carries the pool through the HostChanges port.
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { generateKeyPair } from "../../core/wg_keys.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import { interfacesRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { HostChanges } from "./config_versions.ts";
import type { Actor, RequestMeta } from "./context.ts";
import {
  checkAnnounce,
  checkInterfaceConflicts,
  checkMemberPorts,
  checkPoolPort,
  gatewayAddress,
} from "./pool_checks.ts";
import { MemberInputSchema, MemberPatchSchema, PoolInputSchema, PoolPatchSchema } from "./pool_schemas.ts";
import { type PoolView, poolView } from "./pool_views.ts";
import { type PoolDnsTarget, poolDnsTargets, settingsRow, tsigContext } from "./pool_settings.ts";
import type { SecretBox } from "./secret_box.ts";
import { FieldProblems, parseInput } from "./validate.ts";

export type { MemberView, PoolView } from "./pool_views.ts";
export type { PoolDnsTarget } from "./pool_settings.ts";

export class PoolService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    private readonly hosts: HostChanges,
  ) {}

  list(): PoolView[] {
    return poolsRepo.list(this.db).map((p) => poolView(this.db, p.id, this.clock.now()));
  }

  get(id: number): PoolView {
    if (!poolsRepo.isPool(this.db, id)) throw new AppError("not_found", `Pool ${id} not found`);
    return poolView(this.db, id, this.clock.now());
  }

  /** Whether an interface is a failover pool (a peer form labels it). */
  isPool(interfaceId: number): boolean {
    return poolsRepo.isPool(this.db, interfaceId);
  }

  async create(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<PoolView> {
    requireAdmin(actor);
    const problems = new FieldProblems();
    const data = problems.parse(PoolInputSchema, input, "pool");
    if (!data) problems.throwIfAny();
    const d = data!;
    if (interfacesRepo.count(this.db) === 0) {
      throw new AppError(
        "validation",
        "Create the tunnel interface first: the first interface can never be a pool",
        {
          fields: [{ field: "name", message: "the first interface cannot be a pool" }],
        },
      );
    }
    const row = {
      name: d.name,
      address4: gatewayAddress(d.ipv4_pool),
      address6: d.ipv6_pool ? gatewayAddress(d.ipv6_pool) : null,
      listen_port: d.listen_port,
    };
    checkInterfaceConflicts(this.db, problems, row);
    checkAnnounce(this.db, problems, d.announce, 0);
    problems.throwIfAny();
    if (d.announce.kind === "dns" && !d.announce.tsig.secret) {
      throw new AppError("validation", "A DNS pool needs its TSIG secret", {
        fields: [{ field: "announce.tsig.secret", message: "is required" }],
      });
    }
    const keys = await generateKeyPair();
    const sealedKey = await this.secrets.seal(keys.privateKey, `interface:${d.name}`);
    const tsig = d.announce.kind === "dns"
      ? await this.secrets.seal(d.announce.tsig.secret!, tsigContext(d.name))
      : null;
    const now = this.clock.now();
    const id = this.db.tx(() => {
      const again = new FieldProblems();
      checkInterfaceConflicts(this.db, again, row);
      checkAnnounce(this.db, again, d.announce, 0);
      again.throwIfAny();
      const id = interfacesRepo.insert(this.db, {
        ...row,
        mtu: d.mtu ?? null,
        dns: d.dns.join(","),
        keepalive: d.keepalive ?? null,
        endpoint_host: d.endpoint_host ?? null,
        private_key_sealed: sealedKey,
        public_key: keys.publicKey,
        created_at: now,
        updated_at: now,
      });
      poolsRepo.saveSettings(this.db, settingsRow(id, d.announce, tsig));
      this.audit.record(actor, meta, {
        action: "pool.create",
        target: d.name,
        detail: `${row.address4} ${d.announce.kind}`,
      });
      return id;
    });
    return this.get(id);
  }

  /**
   * New announce settings and/or port (a DNS pool's TSIG secret stays unless a new one is given; a new
   * port or address means every client must download its config again).
   */
  async update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): Promise<PoolView> {
    requireAdmin(actor);
    const cur = this.#pool(id);
    const { announce, listen_port: port } = parseInput(PoolPatchSchema, input, "pool");
    const checks = () => {
      const problems = new FieldProblems();
      if (announce) checkAnnounce(this.db, problems, announce, id);
      if (port !== undefined) problems.check(() => checkPoolPort(this.db, id, port));
      problems.throwIfAny();
    };
    checks();
    let tsig: string | null = null;
    if (announce?.kind === "dns") {
      if (announce.tsig.secret) tsig = await this.secrets.seal(announce.tsig.secret, tsigContext(cur.name));
      else if (cur.settings.pool_announce === "dns") tsig = cur.settings.pool_tsig_secret_sealed;
      else {
        throw new AppError("validation", "A DNS pool needs its TSIG secret", {
          fields: [{ field: "announce.tsig.secret", message: "is required" }],
        });
      }
    }
    this.db.tx(() => {
      checks();
      if (announce) poolsRepo.saveSettings(this.db, settingsRow(id, announce, tsig));
      if (port !== undefined) {
        const row = interfacesRepo.byId(this.db, id)!;
        interfacesRepo.update(this.db, { ...row, listen_port: port, updated_at: this.clock.now() });
      }
      const detail = [announce?.kind, port !== undefined ? `port ${port}` : undefined].filter(Boolean).join(
        ", ",
      );
      this.audit.record(actor, meta, { action: "pool.update", target: cur.name, detail });
    });
    this.hosts.hostsChanged(poolsRepo.memberIds(this.db, id));
    return this.get(id);
  }

  addMember(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): PoolView {
    requireAdmin(actor);
    const cur = this.#pool(id);
    const m = parseInput(MemberInputSchema, input, "pool member");
    this.db.tx(() => {
      const node = nodesFullRepo.byId(this.db, m.node_id);
      if (!node) {
        throw new AppError("validation", `Node ${m.node_id} does not exist`, {
          fields: [{ field: "node_id", message: "does not exist" }],
        });
      }
      if (poolsRepo.member(this.db, id, node.id)) {
        throw new AppError("conflict", `Node ${node.name} is already a member of pool ${cur.name}`, {
          fields: [{ field: "node_id", message: "is already a member" }],
        });
      }
      checkMemberPorts(this.db, cur.listen_port, [node]);
      const members = poolsRepo.members(this.db, id);
      const lowest = members.reduce((lo, x) => Math.min(lo, x.priority), 255);
      const priority = m.priority ?? (members.length === 0 ? 200 : Math.max(1, lowest - 10));
      poolsRepo.addMember(this.db, {
        interface_id: id,
        node_id: node.id,
        priority,
        added_at: this.clock.now(),
      });
      this.audit.record(actor, meta, {
        action: "pool.member.add",
        target: cur.name,
        detail: `${node.name} priority ${priority}`,
      });
    });
    this.hosts.hostsChanged([m.node_id]);
    return this.get(id);
  }

  setPriority(actor: Actor, meta: RequestMeta | null, id: number, nodeId: number, input: unknown): PoolView {
    requireAdmin(actor);
    const cur = this.#pool(id);
    const { priority } = parseInput(MemberPatchSchema, input, "pool member");
    this.db.tx(() => {
      this.#member(cur, nodeId);
      poolsRepo.setPriority(this.db, id, nodeId, priority);
      this.audit.record(actor, meta, {
        action: "pool.member.update",
        target: cur.name,
        detail: `${this.#nodeName(nodeId)} priority ${priority}`,
      });
    });
    this.hosts.hostsChanged([nodeId]);
    return this.get(id);
  }

  /**
   * Removes a member and rotates the pool's identity (a new key pair): the removed node held the old
   * private key. Every member's config changes, and every client must download its config again.
   */
  async removeMember(actor: Actor, meta: RequestMeta | null, id: number, nodeId: number): Promise<PoolView> {
    requireAdmin(actor);
    const cur = this.#pool(id);
    this.#member(cur, nodeId);
    const keys = await generateKeyPair();
    const sealed = await this.secrets.seal(keys.privateKey, `interface:${cur.name}`);
    const bumped = poolsRepo.memberIds(this.db, id);
    this.db.tx(() => {
      this.#member(cur, nodeId);
      poolsRepo.removeMember(this.db, id, nodeId);
      poolsRepo.dropHoldersOf(this.db, id, nodeId);
      poolsRepo.setKeys(this.db, id, keys.publicKey, sealed, this.clock.now());
      this.audit.record(actor, meta, {
        action: "pool.member.remove",
        target: cur.name,
        detail: this.#nodeName(nodeId),
      });
      this.audit.record(actor, meta, {
        action: "pool.rotate",
        target: cur.name,
        detail: `new public key ${keys.publicKey}`,
      });
    });
    this.hosts.hostsChanged([...bumped, nodeId]);
    return this.get(id);
  }

  /** Drains a member: it withdraws, its clients move to the others; safe to stop once none is left. */
  drain(actor: Actor, meta: RequestMeta | null, id: number, nodeId: number): PoolView {
    return this.#setDrained(actor, meta, id, nodeId, true);
  }

  undrain(actor: Actor, meta: RequestMeta | null, id: number, nodeId: number): PoolView {
    return this.#setDrained(actor, meta, id, nodeId, false);
  }

  #setDrained(
    actor: Actor,
    meta: RequestMeta | null,
    id: number,
    nodeId: number,
    drained: boolean,
  ): PoolView {
    requireAdmin(actor);
    const cur = this.#pool(id);
    const changed = this.db.tx(() => {
      const m = this.#member(cur, nodeId);
      if ((m.drained_at !== null) === drained) return false;
      poolsRepo.setDrain(
        this.db,
        id,
        nodeId,
        drained ? this.clock.now() : null,
        drained ? "draining" : "active",
      );
      this.audit.record(actor, meta, {
        action: drained ? "pool.member.drain" : "pool.member.undrain",
        target: cur.name,
        detail: this.#nodeName(nodeId),
      });
      return true;
    });
    if (changed) this.hosts.hostsChanged([nodeId]);
    return this.get(id);
  }

  /**
   * Every DNS-mode pool with its TSIG key and the public addresses of its online, health-checked,
   * undrained members (the DNS path, pool_dns.ts). Stable signature.
   */
  async dnsTargets(now: number): Promise<PoolDnsTarget[]> {
    return await poolDnsTargets(this.db, this.secrets, now);
  }

  #pool(id: number) {
    const row = interfacesRepo.byId(this.db, id);
    const settings = poolsRepo.settings(this.db, id);
    if (!row || !settings || settings.is_pool !== 1) throw new AppError("not_found", `Pool ${id} not found`);
    return { ...row, settings };
  }

  #member(pool: { id: number; name: string }, nodeId: number) {
    const m = poolsRepo.member(this.db, pool.id, nodeId);
    if (!m) throw new AppError("not_found", `Node ${nodeId} is not a member of pool ${pool.name}`);
    return m;
  }

  #nodeName(nodeId: number): string {
    return nodesFullRepo.byId(this.db, nodeId)?.name ?? `node ${nodeId}`;
  }
}
