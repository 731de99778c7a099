// `wirebuddy-node status`: what an operator types first on a broken VPS. The daemon writes status.json
// into its data dir every heartbeat interval (statusLoop); the command reads it with the enrollment and
// prints enrollment, master URL, last contact, applied and served versions, the last apply, interfaces
// with their peer counts, the metrics queue and what is wrong. Exit 0 when all is well, 1 otherwise.
import { z } from "zod";
import type { Clock, Fs } from "../core/ports/types.ts";
import { duration } from "./contact.ts";

export const STATUS_FILE = "status.json";

const StatusFileSchema = z.object({
  written_at: z.number(),
  pid: z.number(),
  interval_ms: z.number(),
  applied_version: z.number(),
  serving_version: z.number(),
  last_contact_at: z.number().nullable(),
  sync_latency_ms: z.number().nullable(),
  problem: z.string().nullable(),
  last_apply: z.object({
    ok: z.boolean(),
    error: z.string().nullable(),
    version: z.number(),
    duration_ms: z.number(),
  }).nullable(),
  warnings: z.array(z.string()),
  queue: z.object({ size: z.number(), dropped: z.number() }).nullable(),
  interfaces: z.array(z.object({ name: z.string(), addresses: z.array(z.string()), peers: z.number() })),
});
export type StatusFile = z.infer<typeof StatusFileSchema>;

export type StatusLoopDeps = {
  clock: Clock;
  stop: AbortSignal;
  fs: Fs;
  dir: string;
  pid: number;
  intervalMs: number;
  state: {
    readonly applied: number;
    readonly have: number;
    readonly problem: string | null;
    readonly lastContactAt: number | null;
    readonly current: { interfaces: { name: string; addresses: string[]; peers: unknown[] }[] } | null;
    report(depth: number | null): {
      apply: StatusFile["last_apply"];
      warnings: string[];
      sync_latency_ms: number | null;
    };
  };
  queue: { stats(): { size: number; dropped: number } };
};

/** Writes status.json every interval until `stop` (a write that fails, a full disk say, is skipped). */
export async function statusLoop(d: StatusLoopDeps): Promise<void> {
  while (!d.stop.aborted) {
    let queue: StatusFile["queue"] = null;
    try {
      queue = d.queue.stats();
    } catch { /* reported by the heartbeat */ }
    const r = d.state.report(queue?.size ?? null);
    const file: StatusFile = {
      written_at: d.clock.now(),
      pid: d.pid,
      interval_ms: d.intervalMs,
      applied_version: d.state.applied,
      serving_version: d.state.have,
      last_contact_at: d.state.lastContactAt,
      sync_latency_ms: r.sync_latency_ms,
      problem: d.state.problem,
      last_apply: r.apply,
      warnings: r.warnings,
      queue,
      interfaces: (d.state.current?.interfaces ?? []).map((i) => ({
        name: i.name,
        addresses: i.addresses,
        peers: i.peers.length,
      })),
    };
    try {
      await d.fs.writeTextAtomic(`${d.dir}/${STATUS_FILE}`, JSON.stringify(file), 0o600);
    } catch { /* the heartbeat reports storage problems */ }
    try {
      await d.clock.sleep(d.intervalMs, d.stop);
    } catch {
      return;
    }
  }
}

export type Enrolled = { node_id: number; name: string; url: string } | null;

/** The report `wirebuddy-node status` prints, and whether everything is well. */
export function renderStatus(
  dir: string,
  enrollment: Enrolled,
  status: StatusFile | null,
  now: number,
): { text: string; ok: boolean } {
  const lines: string[] = [`wirebuddy-node status (data dir ${dir})`];
  const row = (k: string, v: string) => lines.push(`  ${(k + ":").padEnd(16)}${v}`);
  const ago = (at: number) => `${duration(Math.max(0, now - at))} ago`;
  let ok = true;
  if (!enrollment) {
    row(
      "Enrollment",
      "not enrolled: start the daemon with WIREBUDDY_ENROLLMENT_TOKEN=<token from the master>",
    );
    return { text: lines.join("\n"), ok: false };
  }
  row("Enrollment", `node ${enrollment.node_id} "${enrollment.name}"`);
  row("Master", enrollment.url);
  if (!status) {
    row("Daemon", "no status yet (the daemon has not run since this version was installed)");
    return { text: lines.join("\n"), ok: false };
  }
  const fresh = now - status.written_at <= 3 * status.interval_ms;
  if (!fresh) ok = false;
  row(
    "Daemon",
    fresh
      ? `running (pid ${status.pid}; status written ${ago(status.written_at)})`
      : `NOT RUNNING? its status was last written ${
        ago(status.written_at)
      } (pid ${status.pid}); try: systemctl status wirebuddy-node`,
  );
  if (status.last_contact_at === null) {
    ok = false;
    row("Last contact", "never since the daemon started: check the master URL, DNS, firewall and TLS pin");
  } else {
    const stale = status.written_at - status.last_contact_at > 3 * status.interval_ms;
    if (stale) ok = false;
    row(
      "Last contact",
      `${ago(status.last_contact_at)}${
        status.sync_latency_ms !== null ? ` (round trip ${Math.round(status.sync_latency_ms)} ms)` : ""
      }${stale ? ": the master is not answering; the last good config keeps serving" : ""}`,
    );
  }
  const behind = status.applied_version < status.serving_version;
  row(
    "Config",
    behind
      ? `v${status.applied_version} applied, v${status.serving_version} pending`
      : `applied v${status.applied_version}`,
  );
  if (status.last_apply) {
    const a = status.last_apply;
    row(
      "Last apply",
      a.ok
        ? `ok (v${a.version}, ${Math.round(a.duration_ms)} ms)`
        : `FAILED (v${a.version}, ${Math.round(a.duration_ms)} ms): ${a.error}`,
    );
    if (!a.ok) ok = false;
  }
  if (status.interfaces.length === 0) row("Interfaces", "none in the served config");
  for (const [n, i] of status.interfaces.entries()) {
    row(
      n === 0 ? "Interfaces" : "",
      `${i.name} ${i.addresses.join(", ")}: ${i.peers} peer${i.peers === 1 ? "" : "s"}`,
    );
  }
  if (status.queue) {
    row(
      "Metrics queue",
      `${status.queue.size} sample${
        status.queue.size === 1 ? "" : "s"
      } waiting, ${status.queue.dropped} dropped`,
    );
  }
  for (const w of status.warnings) row("Warning", w);
  if (status.problem) ok = false;
  row("Last error", status.problem ?? "none");
  return { text: lines.join("\n"), ok };
}

/** Reads the enrollment and status.json from `dir` (either may be missing). */
export async function readStatus(
  fs: Fs,
  dir: string,
): Promise<{ enrollment: Enrolled; status: StatusFile | null }> {
  const parse = async <T>(name: string, schema: z.ZodType<T>): Promise<T | null> => {
    const text = await fs.readText(`${dir}/${name}`);
    if (text === null) return null;
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  };
  return {
    enrollment: await parse(
      "enrollment.json",
      z.object({ node_id: z.number(), name: z.string(), url: z.string() }),
    ),
    status: await parse(STATUS_FILE, StatusFileSchema),
  };
}
