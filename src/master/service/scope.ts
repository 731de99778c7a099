// An admin's scope: the nodes and pools (interfaces) they may see and change. No scope (null) is the
// whole fleet. Stored on the user as JSON; the actor carries it, API tokens inherit it from their owner.
import { z } from "zod";
import type { Actor, AdminScope } from "./context.ts";

export type { AdminScope };

const StoredScope = z.object({
  nodes: z.array(z.number().int().positive()).default([]),
  interfaces: z.array(z.number().int().positive()).default([]),
});

/** The stored text ("" = unscoped) as a scope; a malformed one is the empty scope (sees nothing). */
export function parseScope(text: string | null | undefined): AdminScope | null {
  if (!text) return null;
  try {
    const parsed = StoredScope.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : { nodes: [], interfaces: [] };
  } catch {
    return { nodes: [], interfaces: [] };
  }
}

export function formatScope(scope: AdminScope | null | undefined): string {
  if (!scope) return "all";
  return `nodes=[${scope.nodes.join(",")}] pools=[${scope.interfaces.join(",")}]`;
}

/** The fleet scope an actor works in (null: the whole fleet; the system and unscoped users). */
export function fleetOf(actor: Actor | null): AdminScope | null {
  if (!actor || actor.kind === "system") return null;
  return actor.fleet ?? null;
}

export const nodeInScope = (scope: AdminScope | null, id: number | null | undefined) =>
  !scope || (id !== null && id !== undefined && scope.nodes.includes(id));
export const interfaceInScope = (scope: AdminScope | null, id: number | null | undefined) =>
  !scope || (id !== null && id !== undefined && scope.interfaces.includes(id));

/**
 * A peer is in scope when a node in scope serves it, or when it is in a pool in scope and no node serves
 * it (a peer of a pool served by a node outside the scope belongs to that node's admins). Seeing and
 * changing follow the same rule; a write must leave the peer in scope.
 */
export const peerInScope = (scope: AdminScope | null, p: { interfaceId: number; nodeId: number | null }) =>
  !scope || (p.nodeId !== null ? nodeInScope(scope, p.nodeId) : interfaceInScope(scope, p.interfaceId));

/** Only the items of `list` in scope (everything without one). */
export function inScope<T extends { id: number }>(
  scope: AdminScope | null,
  kind: "nodes" | "interfaces",
  list: T[],
): T[] {
  return scope ? list.filter((x) => scope[kind].includes(x.id)) : list;
}
