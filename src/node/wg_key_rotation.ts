// The node's side of a WireGuard key rotation (master/service/wg_key_rotation.ts). While its config
// names a `next` device for an interface, the node:
// - makes a new key for that device itself, once per rotation (wg-rotations.json records which), and
//   reports its public key in the heartbeat (the master's announce);
// - runs the next device with the same client peers, on the alternate port, with its address as a host
//   address only (no connected route: traffic keeps going through the old device);
// - answers each connection through the device it arrived on (HostState.overlaps: a connection mark and
//   a table of the engine's), so the reply to a client's first packet on the new key already leaves
//   through the next device;
// - routes each client through the device of its latest handshake (a host route per moved client,
//   part of the desired state the engine reconciles), checked every WG_ROTATION_TICK_MS: that covers
//   connections the client did not start (another client's, the master's), which carry no mark;
// - once the config names the next device as the interface itself, forgets the old key (never used
//   again); a rotation cancelled before it finished forgets the new one.
import type { HostState, InterfaceSpec } from "../core/host_state.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock, Exec } from "../core/ports/types.ts";
import { hostStateFromNodeConfig } from "../core/node_config.ts";
import type { HeartbeatRequest, NodeConfig } from "../core/sync.ts";
import { parseWgDump, wgArgv, type WgDevice } from "./drivers/wg.ts";
import { pause } from "./sleep.ts";
import type { NodeState } from "./state.ts";

/** How often the node looks at handshakes while a rotation runs (bounds a switching client's gap). */
export const WG_ROTATION_TICK_MS = 200;
/** A handshake younger than this is a live session (WireGuard rejects older keys after 180 s). */
const SESSION_S = 180;

const asHost = (cidr: string) => {
  const addr = cidr.slice(0, cidr.indexOf("/"));
  return `${addr}${addr.includes(":") ? "/128" : "/32"}`;
};

/**
 * The next devices of `config`'s rotating interfaces as desired interfaces: the client peers (not the
 * master's), the node's address as a host address, the alternate port, and a route per moved client.
 */
export function nextDevices(
  config: NodeConfig,
  keys: Record<string, string>,
  routes: ReadonlyMap<string, readonly string[]>,
): InterfaceSpec[] {
  const rotating = config.interfaces.filter((i) => i.next && !i.private_key);
  const next = hostStateFromNodeConfig({
    ...config,
    interfaces: rotating.map((i) => ({
      ...i,
      name: i.next!.name,
      listen_port: i.next!.listen_port,
      addresses: i.addresses.map(asHost),
      master_peer: null,
      masquerade: false,
    })),
  }, keys);
  return next.interfaces.map((spec) => ({ ...spec, routes: [...(routes.get(spec.name) ?? [])].sort() }));
}

export type RotationLook = {
  /** Per next device: the allowed IPs of the clients whose latest handshake is on it. */
  routes: Map<string, string[]>;
  progress: NonNullable<HeartbeatRequest["wg_rotation"]>;
};

/** Where each client of a rotating interface is: on the next device (moved) or still on the old one. */
export function lookAt(config: NodeConfig, devices: Map<string, WgDevice>, nowS: number): RotationLook {
  const routes = new Map<string, string[]>();
  const progress: RotationLook["progress"] = [];
  for (const i of config.interfaces) {
    if (!i.next) continue;
    const old = devices.get(i.name);
    const next = devices.get(i.next.name);
    const moved: string[] = [];
    let count = 0;
    let pending = 0;
    for (const p of i.peers) {
      const before = old?.peers.get(p.public_key)?.latestHandshake ?? 0;
      const after = next?.peers.get(p.public_key)?.latestHandshake ?? 0;
      if (after > 0 && after >= before) {
        moved.push(...p.allowed_ips);
        count++;
      } else if (before > 0 && nowS - before < SESSION_S) {
        pending++;
      }
    }
    routes.set(i.next.name, moved);
    progress.push({ name: i.name, moved: count, pending });
  }
  return { routes, progress };
}

/** Same routes on every device (a device without routes and one not named are the same). */
const sameRoutes = (a: Map<string, string[]>, b: Map<string, string[]>) =>
  [...new Set([...a.keys(), ...b.keys()])].every((k) =>
    JSON.stringify([...(a.get(k) ?? [])].sort()) === JSON.stringify([...(b.get(k) ?? [])].sort())
  );

export class NodeWgRotation {
  #routes = new Map<string, string[]>();
  #progress: RotationLook["progress"] = [];

  constructor(
    private readonly disk: Pick<NodeState, "replaceWgKey" | "dropWgKey" | "wgRotations" | "saveWgRotations">,
    private readonly log: Logger,
  ) {}

  /** Makes each next device's key (once per rotation) and forgets the keys a finished one replaced. */
  async prepare(config: NodeConfig): Promise<void> {
    const records = await this.disk.wgRotations();
    let changed = false;
    for (const i of config.interfaces) {
      if (!i.next || i.private_key) continue;
      const r = records[i.next.name];
      if (r && r.id === i.next.id) continue;
      await this.disk.replaceWgKey(i.next.name); // before the record: a crash makes it again, unannounced
      records[i.next.name] = { id: i.next.id, from: i.name };
      changed = true;
      this.log.info("made a new WireGuard key for the next device", {
        interface: i.name,
        device: i.next.name,
        rotation: i.next.id,
      });
    }
    for (const [device, r] of Object.entries(records)) {
      if (config.interfaces.some((i) => i.next?.name === device && i.next.id === r.id)) continue;
      if (config.interfaces.some((i) => i.name === device && !i.next)) {
        await this.disk.dropWgKey(r.from); // finished: the old key is never used again
        this.log.info("key rotation finished: forgot the old WireGuard key", { device: r.from, now: device });
      } else if (config.interfaces.some((i) => i.name === r.from)) {
        await this.disk.dropWgKey(device); // cancelled
        this.log.info("key rotation cancelled: forgot the unused new key", { device });
      } else {
        continue; // the interface is not in this config: decided when it is
      }
      delete records[device];
      changed = true;
    }
    if (changed) await this.disk.saveWgRotations(records);
  }

  /** The names of the next devices (their keys are made with the interfaces'). */
  deviceNames(config: NodeConfig): string[] {
    return config.interfaces.flatMap((i) => (i.next && !i.private_key ? [i.next.name] : []));
  }

  /** `desired` plus the next devices, with the routes of the last look, and their overlaps. */
  extend(config: NodeConfig, desired: HostState, keys: Record<string, string>): HostState {
    const extra = nextDevices(config, keys, this.#routes);
    if (extra.length === 0) return desired;
    const overlaps = config.interfaces.flatMap((i) =>
      i.next && !i.private_key ? [{ old: i.name, next: i.next.name }] : []
    );
    return { ...desired, interfaces: [...desired.interfaces, ...extra], overlaps };
  }

  /** Takes a look's routes; true when they changed (the host must be reconciled). */
  take(look: RotationLook): boolean {
    this.#progress = look.progress;
    if (sameRoutes(look.routes, this.#routes)) return false;
    this.#routes = look.routes;
    return true;
  }

  /** The heartbeat's field while a rotation runs. */
  fields(config: NodeConfig | null): Pick<HeartbeatRequest, "wg_rotation"> {
    if (!config?.interfaces.some((i) => i.next)) return {};
    return { wg_rotation: this.#progress };
  }
}

export type WgRotationLoopDeps = {
  clock: Clock;
  log: Logger;
  stop: AbortSignal;
  exec: Exec;
  rotation: NodeWgRotation;
  current: () => NodeConfig | null;
  /** Reconciles the host to the current config (with the routes just taken). */
  apply: (config: NodeConfig) => Promise<{ ok: boolean }>;
};

/** While a rotation runs: looks at handshakes every tick and moves client routes that changed device. */
export async function wgRotationLoop(d: WgRotationLoopDeps): Promise<void> {
  while (!d.stop.aborted) {
    const config = d.current();
    if (!config?.interfaces.some((i) => i.next)) {
      d.rotation.take({ routes: new Map(), progress: [] }); // a later rotation starts from no moved client
      await pause(d.clock, 1_000, d.stop);
      continue;
    }
    try {
      const r = await d.exec.run(wgArgv.showAllDump());
      if (r.code === 0) {
        const look = lookAt(config, parseWgDump(r.stdout), Math.floor(d.clock.now() / 1000));
        if (d.rotation.take(look)) {
          const moved = look.progress.reduce((n, p) => n + p.moved, 0);
          const start = d.clock.now();
          const result = await d.apply(config);
          d.log.info("key rotation: client routes follow their handshakes", {
            moved,
            ok: result.ok,
            apply_ms: d.clock.now() - start,
          });
        }
      }
    } catch (err) {
      d.log.warn("key rotation look failed", { error: (err as Error).message });
    }
    await pause(d.clock, WG_ROTATION_TICK_MS, d.stop);
  }
}
