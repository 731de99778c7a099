// The sync protocol's version, and the compatibility promise: a master and a node work together when
// their protocol versions differ by at most one (a master N+1 with nodes N during a rolling upgrade, and
// a node N+1 installed before its master). Each side sends its version in a header on every request and
// answer; a request or answer without it speaks protocol 1 (the protocol before the header existed).
// Further apart, the side that notices refuses with both versions named, and a node keeps serving its
// last good config until one of the two is upgraded.
//
//   1  signed requests (ECDSA per request), signed answers, long-polled config, heartbeats
//   2  the protocol header; sessions (an HMAC key agreed at enrollment) instead of a signature per request;
//      later within 2, additive only: heartbeat answers may name the master's verification key and announce
//      the next one (nodes that do not know the fields ignore them), and a node holding an announced key
//      lists the keys it trusts (only a master that announced one, so knows the field, is ever sent it).
//      Not a new version: that would refuse protocol-1 nodes, which lose nothing here.
export const SYNC_PROTOCOL = 2;
export const PROTOCOL_HEADER = "x-wb-protocol";

/** The version a header names (1 when absent), or null when it names none. */
export function protocolOf(header: string | null | undefined): number | null {
  if (header === null || header === undefined || header === "") return 1;
  return /^\d{1,6}$/.test(header.trim()) ? Number(header.trim()) : null;
}

/** True when two protocol versions may talk (N±1). */
export function compatible(own: number, peer: number): boolean {
  return Math.abs(own - peer) <= 1;
}

/** Why a peer is refused, naming both versions and which side to upgrade; null when they may talk. */
export function protocolRefusal(
  own: { role: "master" | "node"; protocol: number },
  header: string | null | undefined,
): string | null {
  const peer = protocolOf(header);
  const other = own.role === "master" ? "node" : "master";
  if (peer === null) return `the ${other} sent an invalid protocol version "${String(header).slice(0, 20)}"`;
  if (compatible(own.protocol, peer)) return null;
  const older = peer < own.protocol ? other : own.role;
  return `the ${other} speaks sync protocol ${peer}, this ${own.role} speaks ${own.protocol} (accepts ${
    Math.max(1, own.protocol - 1)
  } to ${own.protocol + 1}): upgrade the ${older}`;
}

/** On the node: throws `fail(why)` when the master's answer names a protocol too far from this node's. */
export function checkMasterProtocol(header: string | null, fail: (why: string) => Error): void {
  const refused = protocolRefusal({ role: "node", protocol: SYNC_PROTOCOL }, header);
  if (refused) throw fail(`Cannot sync: ${refused}`);
}
