// The takeover handshake: a member that has just taken a pool's address over starts the handshake with
// each client itself, instead of waiting for the client's own timers (about 15 s without an answer
// before a stock client tries again, and then still to the member it last talked to). For each
// `handover` entry (the client's last endpoint seen by any member) the peer is removed and added back
// as configured plus `Endpoint = E` and `PersistentKeepalive = 1` (`wg set DEV peer K remove …`, then
// `wg addconf DEV /dev/stdin`). Turning a keepalive on for an up device sends one at once; with no
// session that is a handshake initiation (kernel WireGuard and wireguard-go alike). The removal matters:
// a member that served the client before still holds that session's keys, and would send its keepalive
// on them; the client, on a newer session with another member since, accepts it as its previous one,
// roams here, and answers on keys this member never had, so nothing flows until the client's own timers
// (15 s) start a new handshake. The client answers the initiation and roams to this member. A moment
// later the keepalive goes back to the configured value (0: off). The removal takes the peer's counters
// with it: the peers are sampled first (as an apply does before it removes peers, node/dataplane.ts). This is the only place the node sets a
// client's endpoint; the engine never does. A DNS pool's member does the same for the clients the master
// names in `pool.takeover` (their holder died or was drained), once per epoch (dnsTakeoverStep).
import type { Logger } from "../../core/logger.ts";
import type { Clock, Exec } from "../../core/ports/types.ts";
import type { NodeInterfaceConfig } from "../../core/sync.ts";
import { displayArgv } from "../drivers/exec.ts";
import { renderPeersConfig } from "../drivers/wg.ts";

/** Peers per `wg set` command (keeps argv far below the kernel's limit). */
export const TAKEOVER_CHUNK = 200;
/** How long the keepalive stays at 1 s: long enough for one initiation and its retry. */
export const TAKEOVER_KEEPALIVE_MS = 1_500;

type Entry = { public_key: string; endpoint: string };

/**
 * The handover entries for this interface's own peers (a `wg set peer` for any other key would add one),
 * only those of `only` when given (a DNS pool's takeover names its clients).
 */
export function takeoverEntries(iface: NodeInterfaceConfig, only?: ReadonlySet<string>): Entry[] {
  const own = new Set(iface.peers.map((p) => p.public_key));
  return (iface.pool?.handover ?? []).filter((h) =>
    own.has(h.public_key) && h.endpoint !== "" && (!only || only.has(h.public_key))
  );
}

type DnsTakeover = NonNullable<NonNullable<NodeInterfaceConfig["pool"]>["takeover"]>;

/**
 * A DNS pool's takeover (the master's order, once per epoch): which clients to kick now and what to
 * remember. A new epoch kicks its clients but those the last one already kicked (a set that grew must
 * not cut the sessions just made); no takeover forgets (the same client may come back later); a member
 * not ready (drained, its device unhealthy) waits, remembering nothing new.
 */
export function dnsTakeoverStep(
  last: DnsTakeover | null,
  next: DnsTakeover | undefined,
  ready: boolean,
): { kick: string[]; remember: DnsTakeover | null } {
  if (!next || next.keys.length === 0) return { kick: [], remember: null };
  if (last?.epoch === next.epoch || !ready) return { kick: [], remember: last };
  const done = new Set(last?.keys ?? []);
  return { kick: next.keys.filter((k) => !done.has(k)), remember: next };
}

/**
 * For each chunk: `wg set DEV peer K remove …`, then `wg addconf DEV /dev/stdin` with the peers as
 * configured plus the handover endpoint and a 1 s keepalive (keys on stdin only).
 */
export function kickCommands(
  iface: NodeInterfaceConfig,
  entries: Entry[],
): { argv: string[]; stdin?: string }[] {
  const peers = new Map(iface.peers.map((p) => [p.public_key, p]));
  const out: { argv: string[]; stdin?: string }[] = [];
  for (let i = 0; i < entries.length; i += TAKEOVER_CHUNK) {
    const chunk = entries.slice(i, i + TAKEOVER_CHUNK);
    out.push({ argv: ["wg", "set", iface.name, ...chunk.flatMap((e) => ["peer", e.public_key, "remove"])] });
    const text = renderPeersConfig(chunk.map((e) => {
      const p = peers.get(e.public_key)!;
      return {
        publicKey: e.public_key,
        ...(p.preshared_key ? { presharedKey: p.preshared_key } : {}),
        endpoint: e.endpoint,
        allowedIps: p.allowed_ips,
        persistentKeepalive: 1,
      };
    }));
    out.push({ argv: ["wg", "addconf", iface.name, "/dev/stdin"], stdin: text });
  }
  return out;
}

/** The keepalives back to what the config says (0: off), chunked. */
export function restoreArgv(dev: string, entries: Entry[], iface: NodeInterfaceConfig): string[][] {
  const keepalive = new Map(iface.peers.map((p) => [p.public_key, p.persistent_keepalive ?? 0]));
  const out: string[][] = [];
  for (let i = 0; i < entries.length; i += TAKEOVER_CHUNK) {
    out.push([
      "wg",
      "set",
      dev,
      ...entries.slice(i, i + TAKEOVER_CHUNK).flatMap((e) => [
        "peer",
        e.public_key,
        "persistent-keepalive",
        String(keepalive.get(e.public_key) || "off"),
      ]),
    ]);
  }
  return out;
}

export type TakeoverDeps = {
  exec: Exec;
  clock: Clock;
  log: Logger;
  /**
   * Queues a traffic sample of these peers before they are removed and added back (their counters
   * start again from zero): the bytes since the last interval's sample reach the master. Never throws.
   */
  sample?: (publicKeys: ReadonlySet<string>) => Promise<void>;
};

/** Runs the takeover for one pool interface; returns how many clients were asked. Never throws. */
export async function takeover(
  d: TakeoverDeps,
  iface: NodeInterfaceConfig,
  signal?: AbortSignal,
  only?: ReadonlySet<string>,
): Promise<number> {
  const entries = takeoverEntries(iface, only);
  if (entries.length === 0) return 0;
  const run = async (argv: string[], stdin?: string) => {
    // Long lists are counted, and keys (on stdin) never logged.
    const shown = argv.length > 12
      ? `${argv.slice(0, 3).join(" ")} … (peers: ${entries.length})`
      : displayArgv(argv);
    d.log.info(`[#] ${shown}${stdin === undefined ? "" : ` < ${entries.length} peers`}`);
    const r = await d.exec.run(argv, stdin === undefined ? {} : { stdin });
    if (r.code !== 0) {
      d.log.warn(`takeover command failed: ${r.stderr.trim().slice(0, 300)}`, { iface: iface.name });
    }
  };
  try {
    await d.sample?.(new Set(entries.map((e) => e.public_key)));
    for (const c of kickCommands(iface, entries)) await run(c.argv, c.stdin);
    await d.clock.sleep(TAKEOVER_KEEPALIVE_MS, signal).catch(() => {});
    for (const argv of restoreArgv(iface.name, entries, iface)) await run(argv);
  } catch (err) {
    d.log.warn("takeover failed", {
      iface: iface.name,
      error: err instanceof Error ? err.message : String(err),
    });
  }
  return entries.length;
}
