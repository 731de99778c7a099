// Traffic sampling: every interval, one `wg show all dump` becomes one sample per peer (counters,
// latest handshake, endpoint) in the at-least-once queue, which the heartbeat delivers.
import type { Logger } from "../../core/logger.ts";
import type { Clock, Exec } from "../../core/ports/types.ts";
import { parseWgDump, wgArgv, type WgDevice } from "../drivers/wg.ts";
import { type AgentState, storageProblem } from "../agent_state.ts";
import { pause } from "../sleep.ts";
import type { RotationEnd, TrafficCarry } from "./carry.ts";
import type { MetricsQueue, NewSample } from "./queue.ts";

/** Carried bytes to add, by device and peer (metrics/carry.ts). */
export type Extra = ReadonlyMap<string, ReadonlyMap<string, { rx: number; tx: number }>>;

/**
 * One sample per peer of a `wg show all dump`, all taken at `at`. A peer two devices carry (during a key
 * rotation, node/wg_key_rotation.ts) is one sample: both devices' counters, the later handshake's endpoint;
 * plus what `extra` carries for it from a device a rotation's end removed.
 */
export function samplesFromDump(
  dump: string | Map<string, WgDevice>,
  at: number,
  extra?: Extra,
): NewSample[] {
  const samples = new Map<string, NewSample>();
  const devices = typeof dump === "string" ? parseWgDump(dump) : dump;
  for (const [name, device] of devices) {
    const carried = extra?.get(name);
    for (const p of device.peers.values()) {
      const seen = samples.get(p.publicKey);
      const later = !seen || p.latestHandshake > seen.handshake;
      const c = carried?.get(p.publicKey);
      samples.set(p.publicKey, {
        at,
        peer: p.publicKey,
        rx: p.rxBytes + (c?.rx ?? 0) + (seen?.rx ?? 0),
        tx: p.txBytes + (c?.tx ?? 0) + (seen?.tx ?? 0),
        handshake: later ? p.latestHandshake : seen.handshake,
        endpoint: later ? p.endpoint : seen.endpoint,
      });
    }
  }
  return [...samples.values()];
}

export type SampleDeps = {
  exec: Exec;
  clock: Clock;
  log: Logger;
  queue: Pick<MetricsQueue, "enqueue">;
  /** WIREBUDDY_METRICS_QUEUE_MAX, for the log line when the queue drops samples. */
  queueMax: number;
  /** Told when samples cannot be stored (a full disk), and when they can again. */
  health?: Pick<AgentState, "storageFailed" | "storageOk">;
  /** Counters carried across key rotations' ends (keeps each client's counter monotonic). */
  carry?: TrafficCarry;
};

const STORE = "store traffic samples";

/**
 * Samples once into the queue (only the peers in `only`, when given: those about to be removed; `ends`:
 * the key rotations whose departing device is about to go, carried from this same dump first).
 * Never throws: a failure is logged and the next interval tries again.
 */
export async function sampleOnce(
  d: SampleDeps,
  only?: ReadonlySet<string>,
  ends: readonly RotationEnd[] = [],
): Promise<void> {
  let samples: NewSample[];
  try {
    const r = await d.exec.run(wgArgv.showAllDump());
    if (r.code !== 0) return;
    const devices = parseWgDump(r.stdout);
    await d.carry?.take(devices, ends);
    samples = samplesFromDump(devices, d.clock.now(), await d.carry?.extra(devices));
    if (only) samples = samples.filter((s) => only.has(s.peer));
  } catch (err) {
    d.log.warn("metrics sample failed", { error: err instanceof Error ? err.message : String(err) });
    return;
  }
  try {
    const dropped = d.queue.enqueue(samples);
    d.health?.storageOk(STORE);
    if (dropped > 0) {
      d.log.warn("metrics queue full: dropped the oldest samples", { dropped, cap: d.queueMax });
    }
  } catch (err) {
    // The queue counted them as dropped; the master hears of it with the next heartbeat.
    const problem = storageProblem(`cannot ${STORE}`, err);
    d.health?.storageFailed(STORE, problem);
    d.log.warn(`metrics sample lost: ${problem}`, { samples: samples.length });
  }
}

/** Samples every `intervalMs` until `stop` aborts. */
export async function metricsLoop(d: SampleDeps & { intervalMs: number; stop: AbortSignal }): Promise<void> {
  while (!d.stop.aborted) {
    await sampleOnce(d);
    await pause(d.clock, d.intervalMs, d.stop);
  }
}
