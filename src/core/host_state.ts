// The desired state of one host's data plane: what the node engine (src/node/reconcile) converges the
// host to, and what the master renders from its database for each host. One type, shared by both.
import { z } from "zod";

/** A WireGuard key: 32 bytes in standard base64 (44 characters ending in "="). */
export const WgKeySchema = z.string().regex(
  /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/,
  "must be a WireGuard key (44 characters of base64)",
);

/** Linux interface names: at most 15 characters, no slash, whitespace or colon. */
export const IfNameSchema = z.string().regex(
  /^[A-Za-z0-9_.=+-]{1,15}$/,
  "must be 1-15 letters, digits or _.=+-",
);

/** An address with prefix length, IPv4 (`10.13.13.1/24`) or IPv6 (`fd42::1/64`). Parsed by src/core/cidr.ts. */
export const CidrTextSchema = z.string().min(3).max(43).regex(
  /^[0-9A-Fa-f:.]+\/\d{1,3}$/,
  "must be an address/prefix",
);

export const PeerSpecSchema = z.object({
  publicKey: WgKeySchema,
  presharedKey: WgKeySchema.optional(),
  /** Normalised network CIDRs (host bits zero), e.g. `10.13.13.2/32`. */
  allowedIps: z.array(CidrTextSchema),
  /** `host:port` or `[v6]:port`. */
  endpoint: z.string().max(300).optional(),
  persistentKeepalive: z.number().int().min(0).max(65535).optional(),
});
export type PeerSpec = z.infer<typeof PeerSpecSchema>;

export const InterfaceSpecSchema = z.object({
  name: IfNameSchema,
  privateKey: WgKeySchema,
  /** The interface's own addresses with the prefix of its subnet, e.g. `10.13.13.1/24`, `fd42:13::1/64`. */
  addresses: z.array(CidrTextSchema),
  listenPort: z.number().int().min(1).max(65535).optional(),
  mtu: z.number().int().min(1280).max(9000).optional(),
  peers: z.array(PeerSpecSchema),
  /** Extra routes through this interface beyond its own subnets (e.g. the master's resolver on a node). */
  routes: z.array(CidrTextSchema).default([]),
  /** Accept forwarded traffic in and out of this interface (our own chain, jumped to from FORWARD). */
  forward: z.boolean().default(true),
  /** MASQUERADE traffic from this interface's subnets out of the egress interface of the default route. */
  masquerade: z.boolean().default(true),
});
export type InterfaceSpec = z.infer<typeof InterfaceSpecSchema>;

export const HostStateSchema = z.object({
  interfaces: z.array(InterfaceSpecSchema),
  /** Turn on net.ipv4.ip_forward / net.ipv6.conf.all.forwarding (never turned off by us). */
  forwarding: z.object({ ipv4: z.boolean(), ipv6: z.boolean() }),
  /**
   * A node WireGuard key rotation's overlap: `old` and `next` serve the same clients. Replies to a
   * connection that arrived on `next` leave through `next` (a connection mark and a table of ours, made
   * from `old`'s subnets), whichever device the main table's routes name.
   */
  overlaps: z.array(z.object({ old: IfNameSchema, next: IfNameSchema })).optional(),
});
export type HostState = z.infer<typeof HostStateSchema>;
