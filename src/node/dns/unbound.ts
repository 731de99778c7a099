// Unbound as one more resource of the node's reconcile loop (DESIGN §8): observe (our include files, and
// `unbound-control status`) → plan (pure: which files to write or remove, whether to reload) → apply
// (stage and check with unbound-checkconf first, then write each file atomically, then one
// `unbound-control reload_keep_cache`, or, when only the global local zones of wb-blocklist.conf
// changed, `unbound-control local_zones_remove` / `local_zones` with the difference on stdin: Unbound
// 1.17 drops every query in flight on a reload, a run-time zone change drops none). A configuration
// Unbound would refuse is never installed: the running resolver keeps serving. The node owns exactly the files it lists in wb-manifest.json in the
// include directory; Unbound's own configuration (and the include line for ours) belongs to the
// installer. A tick with nothing to change runs only `unbound-control status`.
import type { Logger } from "../../core/logger.ts";
import type { Exec, Fs } from "../../core/ports/types.ts";
import type { NodeDnsConfig } from "../../core/sync.ts";
import { displayArgv } from "../drivers/exec.ts";

export type DnsPaths = {
  /** The include directory Unbound reads `wb-*.conf` from (e.g. /etc/unbound/wirebuddy). */
  dir: string;
  /** The configuration unbound-control reads its control socket from (e.g. /etc/unbound/unbound.conf). */
  controlConf: string;
  /** Where the node receives Unbound's dnstap stream (the answers of the query log). */
  dnstapSocket: string;
  /** Unbound's logfile with a line per reply (the query log's durable source, see reply_log.ts). */
  replyLog?: string;
};

export type DnsFile = { name: string; text: string };
export type ObservedDns = {
  files: Map<string, string>;
  running: boolean;
  detail: string;
  installed?: boolean;
};
export type DnsStep =
  | { kind: "check"; files: DnsFile[] }
  | { kind: "write"; file: DnsFile }
  | { kind: "remove"; name: string }
  | { kind: "manifest"; names: string[] }
  | { kind: "reload" }
  /** Global local zones changed at run time (no reload drops queries in flight): names, then `name type`. */
  | { kind: "zones"; remove: string[]; add: string[] }
  /** Unbound opens listening addresses only at start: a new listen set needs a restart (see README: DNS). */
  | { kind: "restart" };

export type DnsResult = {
  ok: boolean;
  commands: number;
  error: string | null;
  /** What the master shows on its DNS page. */
  report: { running: boolean; detail: string; error: string | null } | null;
};

const MANIFEST = "wb-manifest.json";
const SAFE_PATH = /^\/[A-Za-z0-9_./-]+$/;

/**
 * The files the node writes for a `dns` section: the master's, plus for the query log Unbound's reply
 * lines to its logfile (wb-log.conf) and the dnstap clause that brings the answers.
 */
export function desiredFiles(dns: NodeDnsConfig | null, paths: DnsPaths): DnsFile[] {
  if (!dns) return [];
  const files = dns.files.map((f) => ({ name: f.name, text: f.text }));
  if (dns.log && paths.replyLog && SAFE_PATH.test(paths.replyLog)) {
    files.push({
      name: "wb-log.conf",
      text: [
        "# Written by wirebuddy-node: a line per reply, tailed into the node's query log.",
        "server:",
        "  use-syslog: no",
        `  logfile: "${paths.replyLog}"`,
        "  log-replies: yes",
        "  log-tag-queryreply: yes",
        "",
      ].join("\n"),
    });
  }
  if (dns.log && SAFE_PATH.test(paths.dnstapSocket)) {
    files.push({
      name: "wb-dnstap.conf",
      text: [
        "# Written by wirebuddy-node: Unbound's replies go to the node's query log.",
        "dnstap:",
        "  dnstap-enable: yes",
        "  dnstap-bidirectional: yes",
        `  dnstap-socket-path: "${paths.dnstapSocket}"`,
        "  dnstap-send-identity: no",
        "  dnstap-send-version: no",
        "  dnstap-log-client-response-messages: yes",
        "",
      ].join("\n"),
    });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The `interface:` lines of a set of files, in order (what Unbound listens on). */
export function listenSet(files: Iterable<string>): string {
  return [...files].flatMap((t) => t.split("\n").filter((l) => /^\s*interface:/.test(l)).map((l) => l.trim()))
    .join("\n");
}

/** The file whose global `local-zone` lines the node changes at run time instead of reloading. */
export const RUNTIME_ZONES = "wb-blocklist.conf";
const ZONE_LINE = /^\s*local-zone: "([^"\s]+)" ([a-z_]+)\s*$/;

/** `name type` for each local-zone line of a file, or null when it holds anything else (then: reload). */
function zoneEntries(text: string): Map<string, string> | null {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = line.match(ZONE_LINE);
    if (m) out.set(m[1]!, m[2]!);
    else if (line.trim() !== "" && !line.startsWith("#") && line.trim() !== "server:") return null;
  }
  return out;
}

/** The run-time change from one zones file to another, or null when only a reload can apply it. */
export function zonesDiff(before: string, after: string): { remove: string[]; add: string[] } | null {
  const [a, b] = [zoneEntries(before), zoneEntries(after)];
  if (!a || !b) return null;
  return {
    remove: [...a.keys()].filter((n) => !b.has(n)),
    add: [...b].filter(([n, t]) => a.get(n) !== t).map(([n, t]) => `${n} ${t}`),
  };
}

/** Pure: the steps from what is on disk to `desired`; [] when they match. */
export function planDns(desired: DnsFile[], observed: ObservedDns): DnsStep[] {
  const want = new Map(desired.map((f) => [f.name, f]));
  const writes = desired.filter((f) => observed.files.get(f.name) !== f.text);
  const removes = [...observed.files.keys()].filter((n) => !want.has(n)).sort();
  if (writes.length === 0 && removes.length === 0) return [];
  const old = observed.files.get(RUNTIME_ZONES);
  const zones = writes.length === 1 && writes[0]!.name === RUNTIME_ZONES && removes.length === 0 &&
      old !== undefined
    ? zonesDiff(old, writes[0]!.text)
    : null;
  return [
    ...(writes.length > 0 ? [{ kind: "check" as const, files: desired }] : []),
    ...writes.map((file) => ({ kind: "write" as const, file })),
    ...removes.map((name) => ({ kind: "remove" as const, name })),
    { kind: "manifest", names: desired.map((f) => f.name) },
    ...(!observed.running
      ? []
      : listenSet(desired.map((f) => f.text)) !== listenSet(observed.files.values())
      ? [{ kind: "restart" as const }]
      : zones
      ? [{ kind: "zones" as const, ...zones }]
      : [{ kind: "reload" as const }]),
  ];
}

export type UnboundDeps = { exec: Exec; fs: Fs; log: Logger; paths: DnsPaths };

const firstLine = (s: string) => s.trim().split("\n").filter(Boolean).at(-1)?.slice(0, 300) ?? "";

/** `unbound-control status`: whether Unbound runs, and a sentence for the operator either way. */
export async function unboundStatus(
  d: Pick<UnboundDeps, "exec" | "paths">,
): Promise<{ running: boolean; detail: string; installed?: boolean }> {
  let r;
  try {
    r = await d.exec.run(["unbound-control", "-c", d.paths.controlConf, "status"]);
  } catch {
    return {
      running: false,
      installed: false,
      detail: "Unbound is not installed on the master's host (no unbound-control): run install.sh --dns",
    };
  }
  if (r.code === 0) {
    const version = r.stdout.match(/version: (\S+)/)?.[1] ?? "";
    const pid = r.stdout.match(/pid (\d+)/)?.[1] ?? "";
    return { running: true, detail: `Unbound ${version} is running${pid ? ` (pid ${pid})` : ""}` };
  }
  const why = firstLine(r.stderr) || firstLine(r.stdout);
  if (/No such file|Connection refused|connect/i.test(why)) {
    return {
      running: false,
      detail: `Unbound is not running (${why}): start it with "systemctl start unbound"`,
    };
  }
  return { running: false, detail: `unbound-control status failed: ${why}` };
}

/** Our files and Unbound's status; `needStatus` false skips the status when there is nothing of ours. */
export async function observeDns(d: UnboundDeps, needStatus = true): Promise<ObservedDns> {
  const files = new Map<string, string>();
  const manifest = await d.fs.readText(`${d.paths.dir}/${MANIFEST}`);
  const names = manifest ? (JSON.parse(manifest) as { files: string[] }).files : [];
  for (const name of names) {
    if (!/^wb-[a-z0-9-]+\.conf$/.test(name)) continue; // never follow a hand-edited manifest elsewhere
    files.set(name, (await d.fs.readText(`${d.paths.dir}/${name}`)) ?? "");
  }
  if (!needStatus && files.size === 0) return { files, running: false, detail: "" };
  return { files, ...(await unboundStatus(d)) };
}

/** Runs the steps in order; stops at the first failure (nothing after a failed check is touched). */
export async function applyDns(
  steps: DnsStep[],
  d: UnboundDeps,
): Promise<{ commands: number; error: string | null }> {
  let commands = 0;
  const run = async (argv: string[]) => {
    d.log.info(`[#] ${displayArgv(argv)}`);
    commands++;
    return await d.exec.run(argv);
  };
  const dir = d.paths.dir;
  for (const step of steps) {
    if (step.kind === "check") {
      const staged = `${dir}/.staged`;
      await d.fs.mkdir(staged, 0o755);
      for (const f of step.files) await d.fs.writeTextAtomic(`${staged}/${f.name}`, f.text, 0o644);
      const top = step.files.map((f) => `include: "${staged}/${f.name}"`).join("\n") + "\n";
      await d.fs.writeTextAtomic(`${staged}/check.conf`, top, 0o644);
      const r = await run(["unbound-checkconf", `${staged}/check.conf`]);
      for (const f of step.files) await d.fs.remove(`${staged}/${f.name}`);
      if (r.code !== 0) {
        const why = firstLine(r.stderr) || firstLine(r.stdout);
        return { commands, error: `Unbound refuses the new configuration (kept the running one): ${why}` };
      }
    } else if (step.kind === "write") {
      await d.fs.writeTextAtomic(`${dir}/${step.file.name}`, step.file.text, 0o644);
    } else if (step.kind === "remove") {
      await d.fs.remove(`${dir}/${step.name}`);
    } else if (step.kind === "manifest") {
      await d.fs.writeTextAtomic(`${dir}/${MANIFEST}`, JSON.stringify({ files: step.names }) + "\n", 0o644);
    } else if (step.kind === "restart") {
      // Unbound exits cleanly; its service manager starts it again (the unit's Restart=always drop-in).
      const r = await run(["unbound-control", "-c", d.paths.controlConf, "stop"]);
      if (r.code !== 0) {
        return {
          commands,
          error: `unbound-control stop failed: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
        };
      }
    } else if (step.kind === "zones") {
      // Unbound reads one entry a line from stdin; an empty list is skipped.
      for (const [cmd, lines] of [["local_zones_remove", step.remove], ["local_zones", step.add]] as const) {
        if (lines.length === 0) continue;
        const argv = ["unbound-control", "-c", d.paths.controlConf, cmd];
        d.log.info(`[#] ${displayArgv(argv)} < ${lines.length} zones`);
        commands++;
        const r = await d.exec.run(argv, { stdin: lines.join("\n") + "\n" });
        if (r.code !== 0 || /error/i.test(r.stdout)) {
          return {
            commands,
            error: `unbound-control ${cmd} failed: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
          };
        }
      }
    } else {
      let r = await run(["unbound-control", "-c", d.paths.controlConf, "reload_keep_cache"]);
      if (r.code !== 0 && /unknown command/i.test(r.stdout + r.stderr)) {
        r = await run(["unbound-control", "-c", d.paths.controlConf, "reload"]); // Unbound before 1.17
      }
      if (r.code !== 0) {
        return {
          commands,
          error: `unbound-control reload failed: ${firstLine(r.stderr) || firstLine(r.stdout)}`,
        };
      }
    }
  }
  return { commands, error: null };
}

/** The resource as the data plane drives it: one reconcile per tick, serialised by the caller. */
export class UnboundResource {
  #lastError = "";

  constructor(private readonly d: UnboundDeps) {}

  async reconcile(dns: NodeDnsConfig | null): Promise<DnsResult> {
    try {
      // A node without a resolver to run (every node but the master's own) never asks Unbound anything.
      const observed = await observeDns(this.d, dns !== null);
      // Without Unbound there is nothing to check a config with, nor anything to serve it: say so.
      const steps = observed.installed === false ? [] : planDns(desiredFiles(dns, this.d.paths), observed);
      if (steps.length === 0) {
        const report = { running: observed.running, detail: observed.detail, error: null };
        return { ok: true, commands: 0, error: null, report: dns ? report : null };
      }
      this.d.log.info("Applying DNS changes", { steps: steps.length, running: observed.running });
      const { commands, error } = await applyDns(steps, this.d);
      if (error && error !== this.#lastError) this.d.log.error(error);
      this.#lastError = error ?? "";
      const after = steps.some((s) => s.kind === "reload" || s.kind === "restart" || s.kind === "zones")
        ? await unboundStatus(this.d)
        : observed;
      return {
        ok: error === null,
        commands,
        error,
        report: dns ? { running: after.running, detail: after.detail, error } : null,
      };
    } catch (err) {
      const error = `DNS apply failed: ${err instanceof Error ? err.message : String(err)}`;
      this.d.log.error(error);
      return { ok: false, commands: 0, error, report: dns ? { running: false, detail: error, error } : null };
    }
  }
}
