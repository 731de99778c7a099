// The typed vocabulary of the engine: what observe() sees, what the state file proves we own, and the
// steps plan() returns and apply() runs. Steps that only touch the state file run no command.
import type { Secret } from "../../core/secret.ts";
import type { IpLink, IpRoute, IpRule } from "../drivers/ip.ts";
import type { WgDevice } from "../drivers/wg.ts";
import type { SavedTables } from "../drivers/iptables.ts";

/** Which WireGuard implementation creates interfaces (WIREBUDDY_WG_IMPL). */
export type WgImpl = "auto" | "kernel" | "userspace";

export type Observed = {
  links: Map<string, IpLink>;
  /** WireGuard devices (kernel and userspace alike), from `wg show all dump`. */
  wg: Map<string, WgDevice>;
  routes: IpRoute[];
  /** The egress interface of the default route, per family. */
  egress: { 4: string | null; 6: string | null };
  /** iptables-save / ip6tables-save; null when that family's tool failed (IPv6 off, say). */
  firewall: { 4: SavedTables | null; 6: SavedTables | null };
  /** sysctl key → value; a key the kernel lacks is missing. */
  sysctl: Map<string, string>;
  /**
   * The policy rules per family (null: that family's `ip rule` failed) and the routes of our reply
   * table; null when not read (no overlap wanted and none owned: observe() skips the four reads).
   */
  replies: { rules: { 4: IpRule[] | null; 6: IpRule[] | null }; routes: IpRoute[] } | null;
};

export type OwnedInterface = {
  /** Routes we added through this interface (beyond its own subnets), canonical CIDRs. */
  routes: string[];
  /** Per peer public key, the endpoint we last set from the desired state (never a roamed one). */
  endpoints: Record<string, string>;
};

/** A key rotation's reply routing: our policy rule per family and the routes in our reply table. */
export type OwnedReplies = { rules: (4 | 6)[]; routes: { cidr: string; dev: string }[] };

/** The state file: exactly what we created, so that nothing else is ever changed or removed. */
export type Ownership = { version: 1; interfaces: Record<string, OwnedInterface>; replies?: OwnedReplies };

export const emptyOwnership = (): Ownership => ({ version: 1, interfaces: {} });

export type PeerFields = {
  /** A Secret to set, or null to remove the preshared key. */
  presharedKey?: Secret | null;
  endpoint?: string;
  persistentKeepalive?: number;
  allowedIps?: string[];
};

export type NewPeer = {
  publicKey: string;
  presharedKey?: Secret;
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
};

export type Step =
  // state file only: recorded before the thing is created, forgotten after it is gone
  | { kind: "own-interface"; iface: string }
  | { kind: "forget-interface"; iface: string }
  | { kind: "own-route"; iface: string; cidr: string }
  | { kind: "forget-route"; iface: string; cidr: string }
  | { kind: "note-endpoints"; iface: string; endpoints: Record<string, string> }
  | { kind: "own-reply-rule"; family: 4 | 6 }
  | { kind: "forget-reply-rule"; family: 4 | 6 }
  | { kind: "own-reply-route"; iface: string; cidr: string }
  | { kind: "forget-reply-route"; iface: string; cidr: string }
  // host changes
  | { kind: "link-add"; iface: string }
  | { kind: "link-delete"; iface: string }
  /** `wg addconf IF /dev/stdin`: interface key/port and new peers in one config piped through stdin. */
  | { kind: "wg-addconf"; iface: string; privateKey?: Secret; listenPort?: number; peers: NewPeer[] }
  | { kind: "peer-set"; iface: string; publicKey: string; fields: PeerFields }
  | { kind: "peer-remove"; iface: string; publicKey: string }
  | { kind: "address-add"; iface: string; cidr: string }
  | { kind: "address-delete"; iface: string; cidr: string }
  | { kind: "mtu"; iface: string; mtu: number }
  | { kind: "link-up"; iface: string }
  | { kind: "route-add"; iface: string; cidr: string }
  | { kind: "route-delete"; iface: string; cidr: string }
  /** `ip rule add fwmark REPLY_MARK lookup REPLY_TABLE priority REPLY_TABLE` (and its removal). */
  | { kind: "reply-rule-add"; family: 4 | 6 }
  | { kind: "reply-rule-delete"; family: 4 | 6 }
  /** A route in our reply table: a rotating interface's subnet through its next device. */
  | { kind: "reply-route-add"; iface: string; cidr: string }
  | { kind: "reply-route-delete"; iface: string; cidr: string }
  /** Replaces our chains (and their one jump each) in one `iptables-restore --noflush` transaction. */
  | { kind: "firewall"; family: 4 | 6; script: string }
  | { kind: "sysctl"; key: string };

export const STATE_ONLY: ReadonlySet<Step["kind"]> = new Set([
  "own-interface",
  "forget-interface",
  "own-route",
  "forget-route",
  "note-endpoints",
  "own-reply-rule",
  "forget-reply-rule",
  "own-reply-route",
  "forget-reply-route",
]);

export type Plan = { steps: Step[]; warnings: string[] };

export const FWD_CHAIN = "WIREBUDDY-FWD";
export const NAT_CHAIN = "WIREBUDDY-NAT";

// Reply routing while a key rotation overlaps two devices (HostState.overlaps): a connection that
// arrives on the next device gets our connmark bit, its packets get it back as their mark, and a policy
// rule sends marked packets to our table, which routes the old device's subnets through the next one.
// A destination the table lacks falls through to the main table, so only replies to clients change.
/** mangle PREROUTING: set the bit for the next device, clear it for the old one, restore it. */
export const MARK_CHAIN = "WIREBUDDY-MARK";
/** mangle OUTPUT: restore it for the node's own replies. */
export const MARK_OUT_CHAIN = "WIREBUDDY-MARKOUT";
/** One bit of the mark, masked everywhere, so other software's marks are left as they are. */
export const REPLY_MARK = "0x1000000";
/** Our routing table, and the priority of our rule (before tailscale's 5210 and main's 32766). */
export const REPLY_TABLE = 5150;
