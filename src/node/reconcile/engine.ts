// The level-triggered engine: a full tick observes the host afresh, plans against the desired state and
// the state file, and applies. A tick with nothing to do runs no mutating command and writes nothing.
// Between full ticks a change to peers alone is planned and applied incrementally, against what the
// last full observe saw plus what was applied since (incremental.ts): no read of the host at all. A full
// tick comes again once the drift interval has passed, after any failure, and whenever more than peers
// changed, so a hand edit or a reboot is still repaired within the drift interval.
// Every command it runs gets LC_ALL=C, here and only here, so the stderr apply() matches is English.
import type { HostState } from "../../core/host_state.ts";
import { AppError, toAppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Exec, Fs } from "../../core/ports/types.ts";
import { inCLocale } from "../drivers/exec.ts";
import { apply } from "./apply.ts";
import { advance, type Baseline, peerDelta, planDelta } from "./incremental.ts";
import { observe, observeReplies } from "./observe.ts";
import { fileOwnershipStore } from "./ownership.ts";
import { plan } from "./plan.ts";
import { type Plan, STATE_ONLY, type WgImpl } from "./steps.ts";
import type { Uapi } from "../drivers/uapi.ts";
import { spawnedWireguardGo, type WireguardGo } from "./userspace.ts";

export type EngineDeps = {
  exec: Exec;
  fs: Fs;
  log: Logger;
  /** Who starts wireguard-go: a supervisor (supervisedWireguardGo) or, by default, the engine itself. */
  wireguardGo?: WireguardGo;
  /** wireguard-go's UAPI sockets (socketUapi): peer changes to userspace interfaces skip `wg`. */
  uapi?: Uapi;
  /** Milliseconds, for the drift interval (the agent passes its clock). */
  now?: () => number;
};

export type EngineConfig = {
  /** Where the ownership state file lives, e.g. /var/lib/wirebuddy-node/dataplane.json. */
  statePath: string;
  /** WIREBUDDY_WG_IMPL, parsed by the caller (the engine never reads the environment). */
  wgImpl: WgImpl;
  /**
   * The longest time between full observes (WIREBUDDY_DRIFT_INTERVAL): peer changes in between are
   * applied incrementally. 0 (the default) observes on every tick.
   */
  driftIntervalMs?: number;
};

export type ReconcileResult = {
  ok: boolean;
  /** Steps planned (host commands and state-file records). */
  planned: number;
  /** Mutating commands run (0 on a tick with nothing to do). */
  commands: number;
  /** Whether the host was read (a full tick) or the change planned against the baseline. */
  observed?: boolean;
  warnings: string[];
  error?: AppError;
};

export interface Engine {
  /** Observe → plan → apply, once. Never throws: failures come back as `ok: false` with `error`. */
  reconcileOnce(desired: HostState): Promise<ReconcileResult>;
}

export function createEngine(deps: EngineDeps, config: EngineConfig): Engine {
  const store = fileOwnershipStore(deps.fs, config.statePath);
  const wg: { impl: WgImpl; kernelAvailable?: boolean } = { impl: config.wgImpl };
  const log = deps.log;
  const exec = inCLocale(deps.exec);
  const wireguardGo = deps.wireguardGo ?? spawnedWireguardGo;
  let lastWarnings = "";

  const now = deps.now ?? (() => Date.now());
  const driftMs = config.driftIntervalMs ?? 0;
  /** What the host looks like, known without reading it; null forces the next tick to observe. */
  let baseline: (Baseline & { at: number }) | null = null;

  const report = (warnings: string[]) => {
    // Warnings repeat every tick while the condition lasts: log them when they change.
    const key = warnings.join("\n");
    if (key !== lastWarnings) { for (const w of warnings) log.warn(w); }
    lastWarnings = key;
  };

  const run = async (p: Plan, ownership: Baseline["ownership"]) => {
    const hostSteps = p.steps.filter((s) => !STATE_ONLY.has(s.kind)).length;
    log.info("Applying changes", { steps: hostSteps, records: p.steps.length - hostSteps });
    return await apply(p.steps, { exec, log, store, ownership, wg, wireguardGo, ...uapiOption });
  };
  const uapiOption = deps.uapi ? { uapi: deps.uapi } : {};

  return {
    async reconcileOnce(desired) {
      let commands = 0;
      let planned = 0;
      let warnings: string[] = [];
      const base = baseline;
      baseline = null;
      try {
        const delta = base && now() - base.at < driftMs ? peerDelta(base.desired, desired) : null;
        if (base && delta) {
          const p = planDelta(base, desired, delta);
          planned = p.steps.length;
          warnings = p.warnings;
          report(warnings);
          if (p.steps.length > 0) {
            const result = await run(p, base.ownership);
            commands = result.commands;
            if (result.error) {
              return { ok: false, planned, commands, warnings, error: result.error, observed: false };
            }
          }
          advance(base, desired, delta, p.steps);
          baseline = base;
          return { ok: true, planned, commands, warnings, observed: false };
        }
        const at = now();
        // Policy rules and our reply table are read only while a key rotation's overlap wants them or
        // the state file says some are ours: an idle tick runs the same seven reads as ever.
        const wantReplies = (desired.overlaps?.length ?? 0) > 0;
        const [observed, ownership] = await Promise.all([
          observe(exec, { replies: wantReplies }),
          store.load(),
        ]);
        if (!wantReplies && ownership.replies) observed.replies = await observeReplies(exec);
        const p = plan(desired, observed, ownership);
        planned = p.steps.length;
        warnings = p.warnings;
        report(warnings);
        if (p.steps.length === 0) {
          // Converged: the next peer changes can be planned against this observe.
          if (driftMs > 0) baseline = { desired, observed, ownership, at };
          return { ok: true, planned, commands, warnings, observed: true };
        }
        const result = await run(p, ownership);
        commands = result.commands;
        if (result.error) {
          return { ok: false, planned, commands, warnings, error: result.error, observed: true };
        }
        return { ok: true, planned, commands, warnings, observed: true };
      } catch (err) {
        const error = toAppError(err);
        log.error("Reconcile failed", { error: error.message });
        return { ok: false, planned, commands, warnings, error };
      }
    },
  };
}
