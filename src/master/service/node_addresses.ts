// A node's tunnel addresses: one in every interface's pool, taken from the same free space as peers.
import { nextFreeAddress } from "../../core/allocate.ts";
import type { Db } from "../db/db.ts";
import { nodeInterfacesRepo } from "../db/nodes_repo.ts";
import { interfacesRepo, peersRepo } from "../db/wg_repo.ts";

/** Gives `nodeId` an address in every interface's pool it has none in yet (kept out of peer allocation). */
export function allocateNodeAddresses(db: Db, nodeId: number): void {
  for (const iface of interfacesRepo.list(db)) {
    if (nodeInterfacesRepo.get(db, nodeId, iface.id)) continue;
    const used = peersRepo.usedAddresses(db, iface.id);
    nodeInterfacesRepo.insert(db, {
      node_id: nodeId,
      interface_id: iface.id,
      address4: nextFreeAddress(iface.address4, used.map((u) => u.ipv4)),
      address6: iface.address6
        ? nextFreeAddress(iface.address6, used.flatMap((u) => (u.ipv6 ? [u.ipv6] : [])))
        : null,
    });
  }
}
