// The level-triggered engine: every tick observes the host afresh, plans against the desired state and
// the state file, and applies. A tick with nothing to do runs no mutating command and writes nothing.
// Every command it runs gets LC_ALL=C, here and only here, so the stderr apply() matches is English.
import type { HostState } from "../../core/host_state.ts";
import { AppError, toAppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Exec, Fs } from "../../core/ports/types.ts";
import { inCLocale } from "../drivers/exec.ts";
import { apply } from "./apply.ts";
import { observe } from "./observe.ts";
import { fileOwnershipStore } from "./ownership.ts";
import { plan } from "./plan.ts";
import { STATE_ONLY, type WgImpl } from "./steps.ts";
import { spawnedWireguardGo, type WireguardGo } from "./userspace.ts";

export type EngineDeps = {
  exec: Exec;
  fs: Fs;
  log: Logger;
  /** Who starts wireguard-go: a supervisor (supervisedWireguardGo) or, by default, the engine itself. */
  wireguardGo?: WireguardGo;
};

export type EngineConfig = {
  /** Where the ownership state file lives, e.g. /var/lib/wirebuddy-node/dataplane.json. */
  statePath: string;
  /** WIREBUDDY_WG_IMPL, parsed by the caller (the engine never reads the environment). */
  wgImpl: WgImpl;
};

export type ReconcileResult = {
  ok: boolean;
  /** Steps planned (host commands and state-file records). */
  planned: number;
  /** Mutating commands run (0 on a tick with nothing to do). */
  commands: number;
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

  return {
    async reconcileOnce(desired) {
      let commands = 0;
      let planned = 0;
      let warnings: string[] = [];
      try {
        const [observed, ownership] = await Promise.all([observe(exec), store.load()]);
        const p = plan(desired, observed, ownership);
        planned = p.steps.length;
        warnings = p.warnings;
        // Warnings repeat every tick while the condition lasts: log them when they change.
        const key = warnings.join("\n");
        if (key !== lastWarnings) { for (const w of warnings) log.warn(w); }
        lastWarnings = key;
        if (p.steps.length === 0) return { ok: true, planned, commands, warnings };
        const hostSteps = p.steps.filter((s) => !STATE_ONLY.has(s.kind)).length;
        log.info("Applying changes", { steps: hostSteps, records: p.steps.length - hostSteps });
        const result = await apply(p.steps, { exec, log, store, ownership, wg, wireguardGo });
        commands = result.commands;
        if (result.error) return { ok: false, planned, commands, warnings, error: result.error };
        return { ok: true, planned, commands, warnings };
      } catch (err) {
        const error = toAppError(err);
        log.error("Reconcile failed", { error: error.message });
        return { ok: false, planned, commands, warnings, error };
      }
    },
  };
}
