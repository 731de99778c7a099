// How the engine runs the drivers' commands, without running any itself: argv shown as a line you could
// paste into a shell, and every command in the C locale, because apply() matches English stderr
// ("Cannot find device", "No such process", "Unknown device type") that a translated host would change.
import type { Exec } from "../../core/ports/types.ts";

const SAFE_ARG = /^[A-Za-z0-9_./:,=+@%^\-\[\]]+$/;

/** argv as a line you could paste into a shell. */
export function displayArgv(argv: readonly string[]): string {
  return argv.map((a) => (SAFE_ARG.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/** `exec` with LC_ALL=C added to every command's environment (on top of the daemon's own). */
export function inCLocale(exec: Exec): Exec {
  return {
    run: (argv, options = {}) => exec.run(argv, { ...options, env: { ...options.env, LC_ALL: "C" } }),
  };
}
