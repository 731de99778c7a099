// An admin's scope: the nodes and pools (interfaces) they may see and change. No scope (null) is the
// whole fleet. Stored on the user as JSON; the actor carries it, API tokens inherit it from their owner.
import { z } from "zod";

export type AdminScope = { nodes: number[]; interfaces: number[] };

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
