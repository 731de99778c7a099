// keepalived as one more resource of the node's reconcile loop (DESIGN §8), for the failover pools whose
// address floats by VRRP: render (pure: one vrrp_instance `wb_pool_<id>` per pool, VRRP v3, a track
// file per pool with weight 0 that the node writes: 0 healthy, 1 withdraw) → plan (pure: which files to
// write, whether to start, reload with SIGHUP or stop keepalived) → apply (atomic writes, then one
// signal or one start). The node owns exactly its directory (WIREBUDDY_KEEPALIVED_DIR): the config,
// the track files, the notify fifo and the pid files; the system's /etc/keepalived is never touched.
// A tick with nothing to change writes nothing and signals nothing; with no VRRP pool nothing runs.
import type { PoolAnnounce } from "../../core/sync.ts";

export type VrrpAnnounce = Extract<PoolAnnounce, { kind: "vrrp" }>;

/** One VRRP pool as this member announces it: `link` resolved (the config's, or the route's device). */
export type VrrpPool = { id: number; announce: VrrpAnnounce; link: string; withdraw: boolean };

export type KeepalivedPaths = {
  /** The node's own directory for keepalived (0700), e.g. /var/lib/wirebuddy-node/keepalived. */
  dir: string;
  /** The program (WIREBUDDY_KEEPALIVED): `keepalived` from PATH, or an absolute path. */
  program: string;
};

export const confPath = (p: KeepalivedPaths) => `${p.dir}/keepalived.conf`;
export const fifoPath = (p: KeepalivedPaths) => `${p.dir}/notify.fifo`;
export const pidPath = (p: KeepalivedPaths) => `${p.dir}/keepalived.pid`;
export const vrrpPidPath = (p: KeepalivedPaths) => `${p.dir}/vrrp.pid`;
/**
 * The pid of the keepalived the node started, recorded by the node: keepalived writes its own pid file
 * only as root, and refuses to start when that file names a live process (itself, if we wrote it first).
 */
export const startedPidPath = (p: KeepalivedPaths) => `${p.dir}/started.pid`;
export const trackPath = (p: KeepalivedPaths, id: number) => `${p.dir}/track_${id}`;
export const instanceName = (id: number) => `wb_pool_${id}`;

/** keepalived in the foreground, VRRP only, logging to our stderr (the journal), its pid files in our dir. */
export function keepalivedArgv(p: KeepalivedPaths): string[] {
  return [p.program, "-n", "-l", "-D", "--vrrp", "-f", confPath(p), "-p", pidPath(p), "-r", vrrpPidPath(p)];
}

/** advert_int in seconds (VRRP v3 counts centiseconds): 200 ms → "0.2", 1000 ms → "1". */
export function advertInt(ms: number): string {
  return String(Math.max(1, Math.round(ms / 10)) / 100);
}

/** The whole keepalived.conf for these pools (null: none, keepalived must not run). Pure. */
export function renderKeepalived(pools: VrrpPool[], paths: KeepalivedPaths, routerId: string): string | null {
  if (pools.length === 0) return null;
  const lines = [
    "# Written by wirebuddy-node: one VRRP instance per failover pool. Rewritten on every change.",
    "global_defs {",
    `  router_id ${routerId}`,
    `  notify_fifo ${fifoPath(paths)}`,
    "}",
  ];
  for (const pool of [...pools].sort((a, b) => a.id - b.id)) {
    const name = instanceName(pool.id);
    const a = pool.announce;
    lines.push(
      "",
      `track_file ${name} {`,
      `  file ${trackPath(paths, pool.id)}`,
      "  weight 0",
      "}",
      `vrrp_instance ${name} {`,
      "  state BACKUP",
      `  interface ${pool.link}`,
      `  virtual_router_id ${a.vrid}`,
      "  version 3",
      `  priority ${a.priority}`,
      `  advert_int ${advertInt(a.advert_ms)}`,
      "  virtual_ipaddress {",
      `    ${a.address} dev ${pool.link}`,
      "  }",
      "  track_file {",
      `    ${name}`,
      "  }",
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

/** The track file's content: "0" healthy, "1" withdraw (keepalived puts the instance in FAULT). */
export const trackText = (withdraw: boolean) => (withdraw ? "1\n" : "0\n");

export type DesiredKeepalived = { conf: string | null; tracks: Map<number, string> };
export type ObservedKeepalived = {
  /** Our keepalived.conf as on disk (null: absent). */
  conf: string | null;
  /** Our track files (id → content). */
  tracks: Map<number, string>;
  /** The pid of our keepalived when it runs (its pid file names a live keepalived reading our conf). */
  pid: number | null;
};

export type KeepalivedStep =
  | { kind: "track"; id: number; text: string }
  | { kind: "conf"; text: string }
  | { kind: "start" }
  | { kind: "reload"; pid: number }
  | { kind: "stop"; pid: number }
  | { kind: "remove-track"; id: number }
  | { kind: "remove-conf" };

/**
 * Pure: the steps from what is on disk and running to `desired`; [] when they match. Track files come
 * first (a new instance starts with its health already written), then the config, then one start,
 * reload or stop; leftovers are removed after keepalived has stopped reading them.
 */
export function planKeepalived(desired: DesiredKeepalived, observed: ObservedKeepalived): KeepalivedStep[] {
  const steps: KeepalivedStep[] = [];
  for (const [id, text] of [...desired.tracks].sort((a, b) => a[0] - b[0])) {
    if (observed.tracks.get(id) !== text) steps.push({ kind: "track", id, text });
  }
  const stale = [...observed.tracks.keys()].filter((id) => !desired.tracks.has(id)).sort((a, b) => a - b);
  if (desired.conf === null) {
    if (observed.pid !== null) steps.push({ kind: "stop", pid: observed.pid });
    if (observed.conf !== null) steps.push({ kind: "remove-conf" });
  } else {
    const changed = observed.conf !== desired.conf;
    if (changed) steps.push({ kind: "conf", text: desired.conf });
    if (observed.pid === null) steps.push({ kind: "start" });
    else if (changed) steps.push({ kind: "reload", pid: observed.pid });
  }
  for (const id of stale) steps.push({ kind: "remove-track", id });
  return steps;
}

/** One line of keepalived's notify fifo, e.g. `INSTANCE "wb_pool_3" MASTER 200`; null for any other. */
export function parseFifoLine(
  line: string,
): { id: number; state: "MASTER" | "BACKUP" | "FAULT" | "STOP" } | null {
  const m = line.trim().match(/^INSTANCE "wb_pool_(\d+)" (MASTER|BACKUP|FAULT|STOP)( \d+)?$/);
  if (!m) return null;
  return { id: Number(m[1]), state: m[2] as "MASTER" | "BACKUP" | "FAULT" | "STOP" };
}

/** The device of the most specific main-table route containing `address` (`ip -j route show match`). */
export function routeDevice(ipJson: string): string | null {
  let best: { len: number; dev: string } | null = null;
  let routes: { dst?: string; dev?: string; type?: string }[];
  try {
    routes = JSON.parse(ipJson || "[]");
  } catch {
    return null;
  }
  for (const r of routes) {
    if (!r.dev || (r.type && r.type !== "unicast")) continue;
    const len = r.dst === "default" || !r.dst
      ? 0
      : Number(r.dst.split("/")[1] ?? (r.dst.includes(":") ? 128 : 32));
    if (!best || len > best.len) best = { len, dev: r.dev };
  }
  return best?.dev ?? null;
}
