// The devices a node runs an interface as, for WireGuard key rotation (wg_key_rotation.ts): its own name
// on its port, or its alternate (wg0 → wg0r) on the alternate port (+1000); a rotation brings up the
// other one. Pure helpers and the small reads node_config.ts and client_configs.ts hook in (a
// heartbeat's key reports read the devices through nodeInterfacesRepo.keysByDevice).
import type { Db } from "../db/db.ts";
import { wgRotationRepo, type WgRotationRow } from "../db/wg_rotation_repo.ts";
import type { InterfaceRow } from "../db/wg_repo.ts";

const MAX_IFNAME = 15;

/** The alternate port is this far from the interface's own. */
export const ALT_PORT_OFFSET = 1000;

/** The alternate device name of interface `base`: `wg0` → `wg0r` (a 15-character name loses its last). */
export function altDeviceName(base: string): string {
  const alt = base.slice(0, MAX_IFNAME - 1) + "r";
  return alt === base ? base.slice(0, MAX_IFNAME - 1) + "R" : alt;
}

/** The alternate port of `home`: 1000 above, or below when that is out of range. */
export function altPort(home: number): number {
  return home + ALT_PORT_OFFSET <= 65535 ? home + ALT_PORT_OFFSET : home - ALT_PORT_OFFSET;
}

/** A node's device for one interface: its name and port now, and the device a rotation brings up next. */
export type DevicePlan = {
  name: string;
  listen_port: number;
  next: { name: string; listen_port: number };
};

/** Where interface `base` (home port `home`) runs when the node uses `device` (null: its own name). */
export function devicePlan(base: string, device: string | null, home: number): DevicePlan {
  const onAlt = device !== null && device !== base;
  const alt = { name: altDeviceName(base), listen_port: altPort(home) };
  const own = { name: base, listen_port: home };
  return onAlt ? { ...alt, next: own } : { ...own, next: alt };
}

/**
 * Why the next devices of a node's interfaces cannot come up (a name another interface has, or a port
 * one of the node's devices uses), or null. `ifaces` are every interface with its home port on this node.
 */
export function collision(
  ifaces: { base: string; device: string | null; home: number }[],
  allNames: string[],
): string | null {
  const plans = ifaces.map((i) => ({ base: i.base, plan: devicePlan(i.base, i.device, i.home) }));
  const names = new Map<string, string>();
  const ports = new Map<number, string>();
  for (const { base, plan } of plans) {
    for (const d of [plan, plan.next]) {
      const nameOwner = names.get(d.name);
      if (nameOwner !== undefined && nameOwner !== base) {
        return `device ${d.name} of ${base} is also a device of ${nameOwner}`;
      }
      names.set(d.name, base);
      const portOwner = ports.get(d.listen_port);
      if (portOwner !== undefined && (portOwner !== base || d !== plan)) {
        return `port ${d.listen_port} of ${base} is also used by ${
          portOwner === base ? "its own device" : portOwner
        }`;
      }
      ports.set(d.listen_port, base);
    }
    if (allNames.includes(plan.next.name) && plan.next.name !== base) {
      return `the device name ${plan.next.name} of ${base} is the name of another interface`;
    }
  }
  return null;
}

/**
 * The device a node's config names for one interface (name, port) and, during a rotation, its `next`.
 * Used by node_config.ts for remote nodes.
 */
export function renderedDevice(
  rotation: WgRotationRow | undefined,
  iface: InterfaceRow,
  device: string | null,
  home: number,
): { name: string; listen_port: number; next?: { id: number; name: string; listen_port: number } } {
  const plan = devicePlan(iface.name, device, home);
  return {
    name: plan.name,
    listen_port: plan.listen_port,
    ...(rotation ? { next: { id: rotation.id, ...plan.next } } : {}),
  };
}

/** What a client config of node `nodeId` names for interface `ifaceId`: the announced key and port once there is one. */
export function servingDevice(
  db: Db,
  nodeId: number,
  iface: InterfaceRow,
  home: number,
): { publicKey: string | null; port: number } {
  const d = wgRotationRepo.devices(db, nodeId).find((x) => x.interface_id === iface.id);
  const plan = devicePlan(iface.name, d?.device ?? null, home);
  if (d?.next_public_key && wgRotationRepo.running(db, nodeId)) {
    return { publicKey: d.next_public_key, port: plan.next.listen_port };
  }
  return { publicKey: d?.public_key ?? null, port: plan.listen_port };
}
