// The engine as the agent's loops use it: fed from a signed NodeConfig plus this node's own WireGuard
// keys, one tick at a time whichever loop asks (the engine must never run two at once).
import { AppError } from "../core/errors.ts";
import type { HostState } from "../core/host_state.ts";
import { hostStateFromNodeConfig } from "../core/node_config.ts";
import type { DnsReport, NodeConfig } from "../core/sync.ts";
import type { DnsResult } from "./dns/unbound.ts";
import type { RotationEnd } from "./metrics/carry.ts";
import { storageProblem } from "./agent_state.ts";
import type { Engine, ReconcileResult } from "./reconcile/engine.ts";
import type { NodeState } from "./state.ts";
import type { NodeWgRotation } from "./wg_key_rotation.ts";

const EMPTY: HostState = { interfaces: [], forwarding: { ipv4: false, ipv6: false } };

/** A resolver the node keeps as its config says (dns/unbound.ts): reconciled after the interfaces. */
export type DnsPlane = { reconcile(dns: NodeConfig["dns"] | null): Promise<DnsResult> };

/** The failover pools' announcer (pools/announcer.ts): told each apply's config and outcome. */
export type PoolPlane = {
  reconcile(config: NodeConfig | null, applyOk: boolean): Promise<{ commands: number }>;
};

/**
 * Queues a traffic sample of these peers (metrics/sample.ts) before the engine removes them from a
 * device: the bytes since the last interval's sample reach the master too; a key rotation's departing
 * device (`ends`) has its counters carried to the device that stays (metrics/carry.ts). Never throws.
 */
export type RemovalSampler = (publicKeys: ReadonlySet<string>, ends: readonly RotationEnd[]) => Promise<void>;

/** The peers `desired` no longer has on a device `served` gave them (a whole device gone: all its peers). */
export function removedPeers(served: HostState | null, desired: HostState): Set<string> {
  const gone = new Set<string>();
  if (!served) return gone;
  const wanted = new Map(desired.interfaces.map((i) => [i.name, new Set(i.peers.map((p) => p.publicKey))]));
  for (const i of served.interfaces) {
    for (const p of i.peers) if (!wanted.get(i.name)?.has(p.publicKey)) gone.add(p.publicKey);
  }
  return gone;
}

/**
 * The key rotations whose overlap `served` ran and `desired` no longer has: the device `desired` drops
 * (the old one at the finish, the next one at a cancel) and the one it keeps.
 */
export function rotationEnds(served: HostState | null, desired: HostState): RotationEnd[] {
  const kept = new Set(desired.interfaces.map((i) => i.name));
  const still = new Set((desired.overlaps ?? []).map((o) => `${o.old}\n${o.next}`));
  return (served?.overlaps ?? []).flatMap((o) => {
    if (still.has(`${o.old}\n${o.next}`)) return [];
    if (!kept.has(o.old) && kept.has(o.next)) return [{ gone: o.old, stays: o.next }];
    if (kept.has(o.old) && !kept.has(o.next)) return [{ gone: o.next, stays: o.old }];
    return [];
  });
}

export class DataPlane {
  #tail: Promise<unknown> = Promise.resolve();
  #dnsReport: DnsReport | null = null;
  /** What the engine was last asked for: the peers it may remove next are among these. */
  #served: HostState | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly keys: Pick<NodeState, "wgKeys">,
    /** Milliseconds, to time each apply (the agent passes its clock). */
    private readonly now: () => number = () => 0,
    private readonly dns: DnsPlane | null = null,
    private readonly pools: PoolPlane | null = null,
    /** A WireGuard key rotation's next devices (wg_key_rotation.ts). */
    private readonly rotation: NodeWgRotation | null = null,
    private readonly sampleRemoved: RemovalSampler | null = null,
  ) {}

  /** The resolver's state after the last apply (null without a `dns` section), for the heartbeat. */
  dnsReport(): DnsReport | null {
    return this.#dnsReport;
  }

  /**
   * The resolver, after the interfaces. Its failures do not fail the WireGuard apply (clients keep
   * their tunnels and the last good config is still saved): they are logged and reported on the
   * master's DNS page, and the running resolver keeps its last good configuration.
   */
  async #reconcileDns(config: NodeConfig | null): Promise<number> {
    if (!this.dns) return 0;
    const r = await this.dns.reconcile(config?.dns ?? null);
    this.#dnsReport = r.report;
    return r.commands;
  }

  /**
   * Brings the host to `config`; interfaces without a key from the master use (or get) this node's own.
   * Never throws: a key that cannot be made or saved (a full disk) is a failed apply, like the engine's.
   */
  apply(config: NodeConfig): Promise<ReconcileResult & { durationMs?: number }> {
    // Everything, the keys included, inside the queue: applies run in the order they were asked for.
    // (Preparing outside it let a repair tick that read the config before a newer one arrived finish its
    // awaits later and apply that older config after the newer: its DNS files flipped back until the
    // next tick, and the next change then reloaded Unbound instead of changing zones at run time.)
    return this.#serial(() => this.#apply(config));
  }

  async #apply(config: NodeConfig): Promise<ReconcileResult & { durationMs?: number }> {
    let desired: HostState;
    try {
      await this.rotation?.prepare(config);
      const keys = await this.keys.wgKeys([
        ...config.interfaces.filter((i) => !i.private_key).map((i) => i.name),
        ...(this.rotation?.deviceNames(config) ?? []),
      ]);
      desired = hostStateFromNodeConfig(config, keys);
      if (this.rotation) desired = this.rotation.extend(config, desired, keys);
    } catch (err) {
      const message = storageProblem("cannot prepare the interface keys", err);
      return {
        ok: false,
        planned: 0,
        commands: 0,
        warnings: [],
        error: new AppError("unavailable", message),
      };
    }
    const start = this.now();
    // A peer leaving a device (deleted, a drained pool member's clients, a rotation's old device)
    // takes its counters with it: sampled first, so every byte this host counted is reported.
    const leaving = removedPeers(this.#served, desired);
    if (leaving.size > 0) await this.sampleRemoved?.(leaving, rotationEnds(this.#served, desired));
    this.#served = desired;
    const result = await this.engine.reconcileOnce(desired);
    const dnsCommands = await this.#reconcileDns(config);
    const poolCommands = (await this.pools?.reconcile(config, result.ok))?.commands ?? 0;
    return {
      ...result,
      commands: result.commands + dnsCommands + poolCommands,
      durationMs: this.now() - start,
    };
  }

  /** Takes down every interface and rule this node made (the master removed it). */
  takeDown(): Promise<ReconcileResult> {
    return this.#serial(async () => {
      this.#served = EMPTY;
      const result = await this.engine.reconcileOnce(EMPTY);
      const dnsCommands = await this.#reconcileDns(null);
      const poolCommands = (await this.pools?.reconcile(null, true))?.commands ?? 0;
      return { ...result, commands: result.commands + dnsCommands + poolCommands };
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => {});
    return next;
  }
}
