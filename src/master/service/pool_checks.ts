// The checks a pool's settings must pass against the rest of the fleet: its interface's name, port and
// address space, its announce settings (a floating address outside every tunnel pool, a VRRP router id
// unique per link, a DNS name used by one pool), and its port against each member's own ports.
import { contains, formatIp, hostAddress, networkOf, overlaps, parseCidr } from "../../core/cidr.ts";
import { AppError } from "../../core/errors.ts";
import type { Db } from "../db/db.ts";
import { type NodeFullRow, nodesFullRepo } from "../db/nodes_repo.ts";
import { poolsRepo } from "../db/pools_repo.ts";
import { type InterfaceRow, interfacesRepo } from "../db/wg_repo.ts";
import { nodePort } from "./node_config.ts";
import type { AnnounceInput } from "./pool_schemas.ts";
import type { FieldProblems } from "./validate.ts";

const conflict = (field: string, message: string, text: string) =>
  new AppError("conflict", text, { fields: [{ field, message }] });
const invalid = (field: string, message: string, text: string) =>
  new AppError("validation", text, { fields: [{ field, message }] });

/** `10.77.0.0/24` or `10.77.0.1/24` → the pool's gateway address with the prefix (`10.77.0.1/24`). */
export function gatewayAddress(cidr: string): string {
  const c = parseCidr(cidr);
  const net = networkOf(c);
  const addr = c.address === net.address ? hostAddress(net, 1) : { version: c.version, value: c.address };
  return `${formatIp(addr)}/${c.prefix}`;
}

/** A new pool's interface fields against every other interface (each problem recorded). */
export function checkInterfaceConflicts(
  db: Db,
  problems: FieldProblems,
  row: Pick<InterfaceRow, "name" | "listen_port" | "address4" | "address6">,
): void {
  for (const other of interfacesRepo.list(db)) {
    problems.check(() => {
      if (other.name === row.name) {
        throw conflict("name", "is already taken", `An interface named "${row.name}" already exists`);
      }
    });
    problems.check(() => {
      if (other.listen_port === row.listen_port) {
        throw conflict(
          "listen_port",
          `is already used by ${other.name}`,
          `Port ${row.listen_port} is already used by ${other.name}`,
        );
      }
    });
    problems.check(() => {
      if (overlaps(other.address4, row.address4)) {
        throw conflict(
          "ipv4_pool",
          `overlaps ${other.name} (${other.address4})`,
          `The IPv4 pool overlaps ${other.name}'s (${other.address4})`,
        );
      }
    });
    problems.check(() => {
      if (row.address6 && other.address6 && overlaps(other.address6, row.address6)) {
        throw conflict(
          "ipv6_pool",
          `overlaps ${other.name} (${other.address6})`,
          `The IPv6 pool overlaps ${other.name}'s (${other.address6})`,
        );
      }
    });
  }
}

/** Announce settings against the other pools and every interface's address space. */
export function checkAnnounce(db: Db, problems: FieldProblems, a: AnnounceInput, exceptId: number): void {
  const others = poolsRepo.list(db).filter((p) => p.id !== exceptId);
  if (a.kind === "vrrp") {
    problems.check(() => {
      const inside = interfacesRepo.list(db).find((i) =>
        [i.address4, ...(i.address6 ? [i.address6] : [])].some((c) => {
          try {
            return contains(networkOf(c), a.address.slice(0, a.address.indexOf("/")));
          } catch {
            return false; // another address family
          }
        })
      );
      if (inside) {
        throw invalid(
          "announce.address",
          `is inside ${inside.name}'s tunnel addresses`,
          `The floating address ${a.address} is inside ${inside.name}'s tunnel addresses: use an address on the members' shared link`,
        );
      }
    });
    problems.check(() => {
      const same = others.find((p) =>
        p.pool_announce === "vrrp" && p.pool_vrrp_vrid === a.vrid &&
        (p.pool_vrrp_link ?? "") === (a.link ?? "")
      );
      if (same) {
        const name = interfacesRepo.byId(db, same.id)?.name ?? String(same.id);
        throw conflict(
          "announce.vrid",
          `is already used by pool ${name} on this link`,
          `VRRP router id ${a.vrid} is already used by pool ${name} on ${a.link ?? "the default link"}`,
        );
      }
    });
  } else {
    problems.check(() => {
      const same = others.find((p) => p.pool_announce === "dns" && p.pool_dns_name === a.name);
      if (same) {
        const name = interfacesRepo.byId(db, same.id)?.name ?? String(same.id);
        throw conflict(
          "announce.name",
          `is already used by pool ${name}`,
          `${a.name} is already pool ${name}'s name`,
        );
      }
    });
  }
}

/** The pool's port must not be one of a member's own ports (nodePort(wg_port, index) of each interface). */
export function checkMemberPorts(db: Db, port: number, nodes: NodeFullRow[]): void {
  const count = interfacesRepo.count(db);
  for (const n of nodes) {
    if (n.is_local) continue; // the master's own interfaces use their listen ports (checked above)
    for (let i = 0; i < count; i++) {
      if (nodePort(n.wg_port, i) === port) {
        throw conflict(
          "listen_port",
          `is node ${n.name}'s own port`,
          `Port ${port} is node ${n.name}'s own WireGuard port (${n.wg_port}+${i}); choose another port for the pool`,
        );
      }
    }
  }
}

/**
 * A member node's new WireGuard port must not give it a pool's port (nodePort(wg_port, index) of each
 * interface): its own device and the pool's would bind the same UDP port.
 */
export function checkNodePortAgainstPools(db: Db, node: { id: number; name: string }, wgPort: number): void {
  const count = interfacesRepo.count(db);
  for (const m of poolsRepo.membershipsOf(db, node.id)) {
    const pool = interfacesRepo.byId(db, m.interface_id);
    if (!pool) continue;
    for (let i = 0; i < count; i++) {
      if (nodePort(wgPort, i) !== pool.listen_port) continue;
      throw conflict(
        "wg_port",
        `would give it pool ${pool.name}'s port ${pool.listen_port}`,
        `WireGuard port ${wgPort} would give node ${node.name} port ${pool.listen_port} (${wgPort}+${i}), pool ${pool.name}'s port: choose another port for the node or change the pool's port first`,
      );
    }
  }
}

/** A pool's peers are served by its members: they name no node. */
export function checkPoolPeerNode(db: Db, interfaceId: number, nodeId: number | null | undefined): void {
  if (nodeId && poolsRepo.isPool(db, interfaceId)) {
    throw invalid(
      "node_id",
      "must be empty for a pool's peer (the pool's members serve it)",
      "A failover pool's peers are served by all of its members: leave the node empty",
    );
  }
}

/** A node deleted while a pool member would keep the pool's key: it must leave (and rotate it) first. */
export function checkNotPoolMember(db: Db, node: { id: number; name: string }): void {
  const pools = poolsRepo.membershipsOf(db, node.id).map((m) =>
    interfacesRepo.byId(db, m.interface_id)?.name
  );
  if (pools.length > 0) {
    throw new AppError(
      "conflict",
      `Node "${node.name}" is a member of pool ${
        pools.join(", ")
      }: remove it from the pool first (that gives the pool a new key)`,
    );
  }
}

/** A pool's new port against every other interface's port and its members' own ports. */
export function checkPoolPort(db: Db, interfaceId: number, port: number): void {
  const other = interfacesRepo.list(db).find((i) => i.id !== interfaceId && i.listen_port === port);
  if (other) {
    throw conflict(
      "listen_port",
      `is already used by ${other.name}`,
      `Port ${port} is already used by ${other.name}`,
    );
  }
  const members = poolsRepo.memberIds(db, interfaceId).map((id) => nodesFullRepo.byId(db, id)!);
  checkMemberPorts(db, port, members);
}

/**
 * An interface's addresses (a new one, or an edit through the interfaces API or form) must not contain a
 * VRRP pool's floating address: the members would route it into the tunnel instead of their shared link.
 */
export function checkNoFloatingAddress(
  db: Db,
  row: Partial<Pick<InterfaceRow, "address4" | "address6">>,
  exceptId = 0,
): void {
  for (const p of poolsRepo.list(db)) {
    if (p.id === exceptId || p.pool_announce !== "vrrp" || !p.pool_vrrp_address) continue;
    const floating = p.pool_vrrp_address.slice(0, p.pool_vrrp_address.indexOf("/"));
    for (const [field, cidr] of [["ipv4_pool", row.address4], ["ipv6_pool", row.address6]] as const) {
      if (!cidr) continue;
      let inside = false;
      try {
        inside = contains(networkOf(cidr), floating);
      } catch {
        inside = false; // another address family
      }
      if (inside) {
        const name = interfacesRepo.byId(db, p.id)?.name ?? String(p.id);
        throw conflict(
          field,
          `contains pool ${name}'s floating address ${floating}`,
          `${cidr} contains pool ${name}'s floating address ${floating}: choose addresses outside it`,
        );
      }
    }
  }
}

/**
 * A pool interface edited through the interfaces API or form gets the same port check as PATCH
 * /api/pools/{id} (checkPoolPort): its members' own ports.
 */
export function checkPoolInterfacePort(db: Db, cur: InterfaceRow, port: number): void {
  if (port === cur.listen_port || !poolsRepo.isPool(db, cur.id)) return;
  // (Other interfaces' ports: the interfaces service checks them itself.)
  checkMemberPorts(db, port, poolsRepo.memberIds(db, cur.id).map((id) => nodesFullRepo.byId(db, id)!));
}

/**
 * A new interface gives every remote node one more port (nodePort(wg_port, its index)): it must not be a
 * pool's port on a node that is a member of that pool.
 */
export function checkNewInterfacePorts(db: Db): void {
  const index = interfacesRepo.count(db);
  for (const p of poolsRepo.list(db)) {
    const pool = interfacesRepo.byId(db, p.id)!;
    for (const nodeId of poolsRepo.memberIds(db, p.id)) {
      const n = nodesFullRepo.byId(db, nodeId);
      if (!n || n.is_local || nodePort(n.wg_port, index) !== pool.listen_port) continue;
      throw new AppError(
        "conflict",
        `A new interface would give node ${n.name} port ${pool.listen_port} (${n.wg_port}+${index}), pool ${pool.name}'s port: change the pool's port first (PATCH /api/pools/${pool.id})`,
      );
    }
  }
}
