// Rotating a node's WireGuard interface keys with overlap (issue 14). A peer has one key and a device
// one port, so the overlap is a second device: the node runs each interface under its name or its
// alternate (wg0 / wg0r) on the interface's port or the alternate one (+1000), and alternates at each
// rotation.
//
// 1. start (admin or the schedule; audited node.rotate_wireguard_key): the node's config names a `next`
//    device per interface; the node makes the new key itself (it never leaves the node), brings the
//    device up with every peer and reports its public key in its heartbeat (announce). From then on the
//    clients' configs name the new key and port; the node routes each client to the device of its
//    latest handshake, so a client switches whenever it installs its fresh config.
// 2. finish (every client of the node moved, the overlap window is over, or an admin's "finish now";
//    audited node.rotate_wireguard_key.finish): the next device becomes the interface's, the old one
//    goes (its key refused from then on), and the master's tunnel peer takes the new key in the same
//    step. A window that ends before the node announced a key cancels the rotation instead.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { HeartbeatRequest } from "../../core/sync.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { type NodeFullRow, nodesFullRepo } from "../db/nodes_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import { type WgDeviceRow, wgRotationRepo, type WgRotationRow } from "../db/wg_rotation_repo.ts";
import { collision, devicePlan } from "./wg_devices.ts";
import { type InterfaceRow, interfacesRepo, peersRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { ConfigVersions } from "./config_versions.ts";
import { type Actor, actorName, type RequestMeta } from "./context.ts";
import { nodePort } from "./node_config.ts";

export type WgRotationStatus = {
  node: string;
  running: boolean;
  startedAt: number | null;
  finishBy: number | null;
  startedBy: string | null;
  /** Per interface the node runs: device and port now, the next ones, and the announced key. */
  interfaces: {
    name: string;
    device: string;
    port: number;
    next: { device: string; port: number; publicKey: string | null } | null;
  }[];
  /** Clients on the new key (their latest handshake is on the next device), and still on the old one. */
  moved: number;
  pending: number;
  /** The node's active clients (a finish before all moved leaves the rest to download their fresh config). */
  clients: number;
};

const since = (nodeId: number) => `wg_keys_since:${nodeId}`;

export class NodeWgKeyRotation {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly versions: Pick<ConfigVersions, "bumpInTx" | "wake">,
    private readonly opts: { overlapMs: number },
  ) {}

  #node(nodeId: number): NodeFullRow {
    const node = nodesFullRepo.byId(this.db, nodeId);
    if (!node) throw new AppError("not_found", `Node ${nodeId} not found`);
    return node;
  }

  /** The interfaces node `node` runs with its own keys (the first, and those it has peers on; not pools). */
  #running(node: NodeFullRow): { iface: InterfaceRow; home: number; row: WgDeviceRow }[] {
    const all = interfacesRepo.list(this.db);
    const rows = new Map(wgRotationRepo.devices(this.db, node.id).map((d) => [d.interface_id, d]));
    const now = this.clock.now();
    return all.flatMap((iface, index) => {
      const row = rows.get(iface.id);
      if (!row || poolsRepo.isPool(this.db, iface.id)) return []; // a pool's key is the pool's (issue 11)
      if (index > 0 && peersRepo.activeOfNodeOn(this.db, node.id, iface.id, now).length === 0) return [];
      return [{ iface, home: nodePort(node.wg_port, index), row }];
    });
  }

  status(nodeId: number): WgRotationStatus {
    const node = this.#node(nodeId);
    const r = wgRotationRepo.running(this.db, nodeId);
    return {
      node: node.name,
      running: r !== undefined,
      startedAt: r?.started_at ?? null,
      finishBy: r?.finish_by ?? null,
      startedBy: r?.started_by ?? null,
      interfaces: this.#running(node).map(({ iface, home, row }) => {
        const plan = devicePlan(iface.name, row.device, home);
        return {
          name: iface.name,
          device: plan.name,
          port: plan.listen_port,
          next: r
            ? { device: plan.next.name, port: plan.next.listen_port, publicKey: row.next_public_key }
            : null,
        };
      }),
      moved: r?.moved ?? 0,
      pending: r?.pending ?? 0,
      clients: peersRepo.activeAddressesOf(this.db, nodeId, this.clock.now()).length,
    };
  }

  /** Starts a rotation of node `nodeId`'s WireGuard keys: its next devices come up with new keys. */
  start(actor: Actor | string, meta: RequestMeta | null, nodeId: number): WgRotationStatus {
    if (typeof actor !== "string") requireAdmin(actor);
    const node = this.#node(nodeId);
    if (node.is_local) {
      throw new AppError(
        "conflict",
        `The master's own interfaces keep their keys in its database; rotation is for remote nodes`,
      );
    }
    this.db.tx(() => {
      if (wgRotationRepo.running(this.db, nodeId)) {
        throw new AppError("conflict", `A WireGuard key rotation of node "${node.name}" is already running`);
      }
      const running = this.#running(node);
      if (!node.verify_key || running.length === 0 || running.some((r) => !r.row.public_key)) {
        throw new AppError(
          "conflict",
          `Node "${node.name}" has not reported its WireGuard keys yet; rotate once it is online`,
        );
      }
      const all = interfacesRepo.list(this.db);
      const problem = collision(
        all.map((iface, index) => ({
          base: iface.name,
          device: wgRotationRepo.devices(this.db, nodeId).find((d) => d.interface_id === iface.id)?.device ??
            null,
          home: nodePort(node.wg_port, index),
        })),
        all.map((i) => i.name),
      );
      if (problem) {
        throw new AppError("conflict", `Cannot rotate the WireGuard keys of node "${node.name}": ${problem}`);
      }
      const now = this.clock.now();
      wgRotationRepo.clearNext(this.db, nodeId);
      wgRotationRepo.insert(this.db, {
        node_id: nodeId,
        started_at: now,
        finish_by: now + this.opts.overlapMs,
        started_by: typeof actor === "string" ? actor : actorName(actor),
      });
      this.versions.bumpInTx([nodeId]);
      this.audit.record(actor, meta, {
        action: "node.rotate_wireguard_key",
        target: node.name,
        detail: `started; overlap until ${new Date(now + this.opts.overlapMs).toISOString()}`,
      });
    });
    this.versions.wake([nodeId]);
    this.log.info("node WireGuard key rotation started", { node: node.name, node_id: nodeId });
    return this.status(nodeId);
  }

  /** Ends node `nodeId`'s rotation now: its next devices and keys become the interfaces'. */
  finish(actor: Actor | string, meta: RequestMeta | null, nodeId: number): WgRotationStatus {
    if (typeof actor !== "string") requireAdmin(actor);
    const node = this.#node(nodeId);
    const local = nodesFullRepo.local(this.db);
    this.db.tx(() => {
      const r = wgRotationRepo.running(this.db, nodeId);
      if (!r) throw new AppError("conflict", `No WireGuard key rotation of node "${node.name}" is running`);
      const running = this.#running(node);
      const missing = running.filter((x) => !x.row.next_public_key).map((x) => x.iface.name);
      if (missing.length > 0) {
        throw new AppError(
          "conflict",
          `Node "${node.name}" has not announced its new key for ${missing.join(", ")} yet`,
        );
      }
      for (const { iface, home, row } of running) {
        const next = devicePlan(iface.name, row.device, home).next.name;
        wgRotationRepo.switchTo(this.db, nodeId, iface.id, next === iface.name ? null : next);
      }
      wgRotationRepo.clearNext(this.db, nodeId);
      wgRotationRepo.finish(this.db, r.id, this.clock.now());
      metaRepo.set(this.db, since(nodeId), String(this.clock.now()));
      this.versions.bumpInTx(local ? [nodeId, local.id] : [nodeId]);
      this.audit.record(actor, meta, {
        action: "node.rotate_wireguard_key.finish",
        target: node.name,
        detail: `${r.moved} client(s) moved, ${r.pending} still on the old key`,
      });
    });
    this.versions.wake(local ? [nodeId, local.id] : [nodeId]);
    this.log.info("node WireGuard key rotation finished; the old keys are refused from now on", {
      node: node.name,
      node_id: nodeId,
    });
    return this.status(nodeId);
  }

  /** Ends a rotation that never got its keys (the node was away for the whole window). */
  #cancel(r: WgRotationRow, node: NodeFullRow): void {
    this.db.tx(() => {
      wgRotationRepo.clearNext(this.db, node.id);
      wgRotationRepo.finish(this.db, r.id, this.clock.now());
      this.versions.bumpInTx([node.id]);
      this.audit.record("schedule", null, {
        action: "node.rotate_wireguard_key.finish",
        target: node.name,
        detail: "cancelled: the node announced no new key within the overlap window",
      });
    });
    this.versions.wake([node.id]);
    this.log.warn("node WireGuard key rotation cancelled: no new key announced", { node: node.name });
  }

  /** A heartbeat's announced keys (the next devices' entries) and the node's count of moved clients. */
  heartbeatInTx(node: NodeFullRow, hb: HeartbeatRequest): void {
    if (node.is_local) return;
    const r = wgRotationRepo.running(this.db, node.id);
    if (!r) return;
    if (hb.interfaces.length > 0) {
      for (const { iface, home, row } of this.#running(node)) {
        const next = devicePlan(iface.name, row.device, home).next;
        const said = hb.interfaces.find((i) => i.name === next.name);
        if (!said || said.public_key === row.public_key) continue;
        if (wgRotationRepo.announce(this.db, node.id, iface.id, said.public_key) > 0) {
          this.log.info("node announced its new WireGuard key", {
            node: node.name,
            interface: iface.name,
            device: next.name,
            public_key: said.public_key,
          });
        }
      }
    }
    if (hb.wg_rotation) {
      const moved = hb.wg_rotation.reduce((n, x) => n + x.moved, 0);
      const pending = hb.wg_rotation.reduce((n, x) => n + x.pending, 0);
      if (moved !== r.moved || pending !== r.pending) wgRotationRepo.progress(this.db, r.id, moved, pending);
    }
  }

  /**
   * The scheduler's look at running rotations: finishes those whose every client moved to the new key
   * (none pending, all of the node's clients moved) or whose window is over; cancels one whose window
   * ended before the node announced. Returns how many ended.
   */
  finishDue(): number {
    let n = 0;
    const now = this.clock.now();
    for (const r of wgRotationRepo.allRunning(this.db)) {
      const node = nodesFullRepo.byId(this.db, r.node_id);
      if (!node) continue;
      const announced = this.#running(node).every((x) => x.row.next_public_key);
      const clients = peersRepo.activeAddressesOf(this.db, node.id, now).length;
      const allMoved = announced && r.pending === 0 && clients > 0 && r.moved >= clients;
      if (!allMoved && now < r.finish_by) continue;
      if (announced) this.finish("schedule", null, node.id);
      else this.#cancel(r, node);
      n++;
    }
    return n;
  }

  /** WIREBUDDY_ROTATE_NODE_WG_KEYS_EVERY: starts a rotation of each remote node whose keys are `everyMs` old. */
  startDue(everyMs: number): number {
    let n = 0;
    for (const node of nodesFullRepo.remote(this.db)) {
      if (!node.verify_key || wgRotationRepo.running(this.db, node.id)) continue;
      const at = wgRotationRepo.lastFinished(this.db, node.id) ?? metaRepo.get(this.db, since(node.id));
      if (at === undefined || at === null) {
        metaRepo.set(this.db, since(node.id), String(this.clock.now())); // counted from now
        continue;
      }
      if (this.clock.now() - Number(at) < everyMs) continue;
      try {
        this.start("schedule", null, node.id);
        n++;
      } catch (err) {
        this.log.warn("scheduled WireGuard key rotation not started", {
          node: node.name,
          reason: (err as Error).message,
        });
      }
    }
    return n;
  }
}
