// Each host's config_version and the node long-polls waiting for it to move. The interfaces and peers
// services report what they changed through the HostChanges port; this is its implementation: it bumps
// the versions of the hosts concerned (the master always, as its wg0 carries every node's client
// addresses) and wakes their long-polls, so the node fetches its new config at once. Long-polls are
// woken after the change's own request has been answered, a batch per event-loop turn, so a
// fleet-wide change neither delays the admin's answer nor starves heartbeats.
import type { Logger } from "../../core/logger.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { allocateNodeAddresses } from "./node_addresses.ts";

/** What the interfaces and peers services tell the sync side after a change. */
export interface HostChanges {
  /** The desired state of these hosts changed (null is the master itself, a number a node). */
  hostsChanged(hosts: (number | null)[]): void;
  /** An interface was created; called inside the creating transaction. */
  interfacesChanged(): void;
}

/** Why a long-poll ended: the version moved, its time ran out, or the master is stopping. */
export type WaitEnd = "changed" | "timeout" | "closing";

/** Long-polls woken per event-loop turn. */
const WAKE_BATCH = 256;

export class ConfigVersions implements HostChanges {
  #waiters = new Map<number, Set<(end: WaitEnd) => void>>();
  #pending = new Set<number>();
  #flushing: ReturnType<typeof setTimeout> | null = null;
  #closing = false;

  /** Where bumps are logged (services.ts sets it). */
  log: Logger | null = null;

  constructor(private readonly db: Db, private readonly opts: { longPollMaxMs: number }) {}

  /** Bumps config_version of the hosts a change touched and wakes their long-polls. */
  hostsChanged(hosts: (number | null)[]): void {
    const local = nodesFullRepo.local(this.db);
    const ids = new Set<number>();
    for (const h of hosts) {
      if (local) ids.add(local.id); // the master's wg0 carries every node's client addresses
      if (h !== null) ids.add(h);
    }
    if (ids.size === 0) return;
    this.db.tx(() => this.bumpInTx([...ids]));
    this.wake([...ids]);
  }

  /** New interfaces get an address for every remote node. */
  interfacesChanged(): void {
    this.db.tx(() => {
      for (const n of nodesFullRepo.remote(this.db)) allocateNodeAddresses(this.db, n.id);
    });
  }

  /** Bumps config_version of these nodes, inside the caller's transaction (wake them after it). */
  bumpInTx(nodeIds: number[]): void {
    const ids = [...new Set(nodeIds)];
    if (ids.length === 1) nodesFullRepo.bump(this.db, ids[0]);
    else if (ids.length > 1) nodesFullRepo.bumpAll(this.db, ids); // a fleet-wide change: one statement
    this.#logBumps(ids);
  }

  /** One line per bump: the first few nodes with their new versions, and how many in all. */
  #logBumps(ids: number[]): void {
    if (!this.log || ids.length === 0) return;
    const shown = ids.slice(0, 5).map((id) => nodesFullRepo.byId(this.db, id)).filter((n) => n !== undefined)
      .map((n) => `${n!.name}=v${n!.config_version}`);
    this.log.info("config version bumped", {
      nodes: ids.length,
      versions: shown.join(" ") + (ids.length > 5 ? " …" : ""),
    });
  }

  /** Bumps the master's own node inside the caller's transaction. */
  bumpLocalInTx(): void {
    const local = nodesFullRepo.local(this.db);
    if (local) this.bumpInTx([local.id]);
  }

  /** Ends the long-polls of these nodes soon: after the current request, WAKE_BATCH per turn. */
  wake(nodeIds: number[]): void {
    for (const id of nodeIds) if (this.#waiters.get(id)?.size) this.#pending.add(id);
    if (this.#pending.size > 0 && this.#flushing === null) this.#flushing = setTimeout(this.#flush, 0);
  }

  #flush = (): void => {
    this.#flushing = null;
    let n = 0;
    for (const id of this.#pending) {
      this.#pending.delete(id);
      for (const w of [...(this.#waiters.get(id) ?? [])]) w("changed");
      if (++n >= WAKE_BATCH) break;
    }
    if (this.#pending.size > 0) this.#flushing = setTimeout(this.#flush, 0);
  };

  /** Resolves when the node's config_version exceeds `have`, or after `waitMs` (long-poll). */
  async waitForChange(nodeId: number, have: number, waitMs: number, signal?: AbortSignal): Promise<WaitEnd> {
    if (this.#closing) return "closing";
    if ((nodesFullRepo.configVersion(this.db, nodeId) ?? Infinity) > have) return "changed";
    if (waitMs <= 0) return "timeout";
    return await new Promise<WaitEnd>((resolve) => {
      const set = this.#waiters.get(nodeId) ?? new Set();
      this.#waiters.set(nodeId, set);
      const done = (end: WaitEnd) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.#waiters.delete(nodeId);
        signal?.removeEventListener("abort", aborted);
        resolve(end);
      };
      const aborted = () => done("timeout");
      const timer = setTimeout(() => done("timeout"), Math.min(waitMs, this.opts.longPollMaxMs));
      signal?.addEventListener("abort", aborted, { once: true });
      set.add(done);
    });
  }

  /** Whether the master is stopping (shutdown() was called). */
  get closing(): boolean {
    return this.#closing;
  }

  /** How many node long-polls are waiting now. */
  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** Ends every long-poll at once (and every later one without waiting), so a shutdown is not held up. */
  shutdown(): void {
    this.#closing = true;
    if (this.#flushing !== null) clearTimeout(this.#flushing);
    this.#flushing = null;
    this.#pending.clear();
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w("closing");
  }
}
