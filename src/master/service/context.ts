// Who is acting, and from where: passed to every service call that changes something.
/** The nodes and pools (interfaces) an admin is limited to; see scope.ts. */
export type AdminScope = { nodes: number[]; interfaces: number[] };

export type Role = "admin" | "viewer";

export type Actor =
  | {
    kind: "user";
    userId: number;
    username: string;
    role: Role;
    sessionHash: string;
    /** The part of the fleet this user may see and change (absent or null: all of it). */
    fleet?: AdminScope | null;
    /** The "every admin needs a second factor" policy applies and this admin has none yet. */
    mustEnrol?: true;
  }
  | {
    kind: "token";
    tokenId: number;
    name: string;
    scope: "read" | "write";
    userId: number;
    username: string;
    role: Role;
    /** The token owner's fleet scope (inherited). */
    fleet?: AdminScope | null;
  }
  | { kind: "system"; name: string };

export type RequestMeta = { ip: string; userAgent: string };

export function actorName(actor: Actor): string {
  switch (actor.kind) {
    case "user":
      return actor.username;
    case "token":
      return `${actor.username} (token ${actor.name})`;
    case "system":
      return actor.name;
  }
}

/** True when the actor may change things: an admin session, or a write token of an admin. */
export function canWrite(actor: Actor): boolean {
  if (actor.kind === "system") return true;
  if (actor.kind === "token") return actor.scope === "write" && actor.role === "admin";
  return actor.role === "admin";
}
