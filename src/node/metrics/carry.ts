// A client's counters across the end of a WireGuard key rotation (node/wg_key_rotation.ts). During the
// overlap a client's sample is both devices' counters; when one device goes (the old one at the finish,
// the next one at a cancel) its counters would leave the sum, the master would see a counter that went
// down, count it from zero (a reset) and so count the remaining device's earlier bytes twice. Instead the
// departing device's last counters (taken from the removal sample's own dump, just before the engine
// removes it) are carried: added to the client's counters on the device that stays, saved on disk before
// the removal so a restart keeps them. A carry is dropped once it no longer describes that device's
// counters: the device or the peer is gone, or a carried client's counters there went below where they
// were when carried (the device was made again, a reboot: all of its carries end): then the master
// rightly sees a reset.
import type { Logger } from "../../core/logger.ts";
import type { WgDevice } from "../drivers/wg.ts";

/** A client's carried bytes on a device, and that device's own counters when they were carried. */
export type CarriedPeer = { rx: number; tx: number; baseRx: number; baseTx: number };
/** By the device that stays: the device that went, and each client's carried counters. */
export type Carries = Record<string, { from: string; peers: Record<string, CarriedPeer> }>;

export type CarryStore = {
  wgCarries(): Promise<Carries>;
  saveWgCarries(c: Carries): Promise<void>;
};

/** A rotation's overlap that ends in this apply: `gone` leaves the host, `stays` keeps its clients. */
export type RotationEnd = { gone: string; stays: string };

export class TrafficCarry {
  #carries: Carries | null = null;

  constructor(private readonly disk: CarryStore, private readonly log: Logger) {}

  async #load(): Promise<Carries> {
    if (!this.#carries) {
      try {
        this.#carries = await this.disk.wgCarries();
      } catch (err) {
        this.log.warn("cannot read the carried traffic counters", { error: (err as Error).message });
        this.#carries = {};
      }
    }
    return this.#carries;
  }

  async #save(why: string): Promise<void> {
    try {
      await this.disk.saveWgCarries(this.#carries ?? {});
    } catch (err) {
      this.log.warn(`cannot save the carried traffic counters (${why})`, { error: (err as Error).message });
    }
  }

  /**
   * Carries each client's counters on `gone` (its own plus what it carried) to `stays`, from the dump
   * taken just before `gone` is removed. Replaces an earlier carry for the same end (idempotent).
   */
  async take(devices: Map<string, WgDevice>, ends: readonly RotationEnd[]): Promise<void> {
    if (ends.length === 0) return;
    const carries = await this.#load();
    let changed = false;
    for (const { gone, stays } of ends) {
      const from = devices.get(gone);
      const to = devices.get(stays);
      if (!from || !to) continue;
      const already = this.#extra(devices, gone);
      const peers: Record<string, CarriedPeer> = {};
      for (const p of from.peers.values()) {
        const on = to.peers.get(p.publicKey);
        const before = already.get(p.publicKey);
        const rx = p.rxBytes + (before?.rx ?? 0);
        const tx = p.txBytes + (before?.tx ?? 0);
        if (!on || (rx === 0 && tx === 0)) continue;
        peers[p.publicKey] = { rx, tx, baseRx: on.rxBytes, baseTx: on.txBytes };
      }
      delete carries[gone];
      if (Object.keys(peers).length > 0) carries[stays] = { from: gone, peers };
      else delete carries[stays];
      changed = true;
      this.log.info("key rotation ended: carried the departing device's traffic counters", {
        from: gone,
        to: stays,
        peers: Object.keys(peers).length,
      });
    }
    if (changed) await this.#save("rotation end");
  }

  /** The carried bytes to add to one device's peers (nothing while the device they came from is up). */
  #extra(devices: Map<string, WgDevice>, name: string): Map<string, { rx: number; tx: number }> {
    const out = new Map<string, { rx: number; tx: number }>();
    const c = this.#carries?.[name];
    const dev = devices.get(name);
    if (!c || !dev || devices.has(c.from)) return out; // still up: its own counters are in the sum
    const below = (v: CarriedPeer, p: { rxBytes: number; txBytes: number }) =>
      p.rxBytes < v.baseRx || p.txBytes < v.baseTx;
    // A device made again resets every peer's counters: one carried client below its base ends them all
    // (a client that had counted nothing there when carried could not tell on its own).
    if (Object.entries(c.peers).some(([k, v]) => dev.peers.has(k) && below(v, dev.peers.get(k)!))) return out;
    for (const [k, v] of Object.entries(c.peers)) {
      if (dev.peers.has(k)) out.set(k, { rx: v.rx, tx: v.tx });
    }
    return out;
  }

  /**
   * The carried bytes to add, by device and peer, for this dump; forgets (and saves) the carries that
   * no longer apply: device or peer gone, or counters below where they were carried (a reset).
   */
  async extra(devices: Map<string, WgDevice>): Promise<Map<string, Map<string, { rx: number; tx: number }>>> {
    const carries = await this.#load();
    const out = new Map<string, Map<string, { rx: number; tx: number }>>();
    let changed = false;
    for (const [name, c] of Object.entries(carries)) {
      const dev = devices.get(name);
      if (!dev) {
        delete carries[name];
        changed = true;
        continue;
      }
      if (devices.has(c.from)) continue;
      const add = this.#extra(devices, name);
      for (const k of Object.keys(c.peers)) {
        if (add.has(k)) continue;
        delete c.peers[k];
        changed = true;
      }
      if (Object.keys(c.peers).length === 0) delete carries[name];
      if (add.size > 0) out.set(name, add);
    }
    if (changed) await this.#save("pruned");
    return out;
  }
}
