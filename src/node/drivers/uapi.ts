// wireguard-go's UAPI (wireguard.com/xplatform): `set=1\n` then key=value lines and a blank line, on
// /run/wireguard/<if>.sock, answered with `errno=N\n\n`. One socket write is far cheaper than spawning
// `wg`, which talks the same protocol. Kernel interfaces have no such socket and keep using `wg`.
// The text holds keys (hex): it goes only to the socket. The log gets the display line, keys redacted.
import type { Secret } from "../../core/secret.ts";

/**
 * One request/answer exchange over a unix socket (the port; src/core/ports/real.ts has the real one):
 * the answer up to its blank line, or null when nothing listens at `path` (no file, refused).
 */
export type UnixRequest = (path: string, text: string) => Promise<string | null>;

/** The UAPI of userspace interfaces: null when `iface` has no socket (a kernel interface). */
export type Uapi = { request(iface: string, text: string): Promise<string | null> };

/** UAPI sockets under `dir` (wireguard-go's /run/wireguard, or a namespace's view of it in tests). */
export function socketUapi(unixRequest: UnixRequest, dir = "/run/wireguard"): Uapi {
  return { request: (iface, text) => unixRequest(`${dir}/${iface}.sock`, text) };
}

/** The standard base64 of a WireGuard key as the 64 hex digits UAPI wants. */
export function keyHex(base64: string): string {
  const bytes = atob(base64);
  if (bytes.length !== 32) throw new Error("a WireGuard key is 32 bytes");
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

/** UAPI takes only resolved endpoints (`1.2.3.4:51820`, `[fd00::1]:51820`); a host name needs `wg`. */
export const literalEndpoint = (endpoint: string) =>
  /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/.test(endpoint);

export type UapiPeer = {
  publicKey: string;
  /** A key to set, null to clear it; left as it is when undefined. */
  presharedKey?: Secret | null;
  endpoint?: string;
  persistentKeepalive?: number;
  /** Replaces the peer's allowed IPs (as `wg set … allowed-ips` and `wg addconf` do). */
  allowedIps?: readonly string[];
};

const ZERO_KEY = "0".repeat(64);

function peerLines(p: UapiPeer, out: string[]): void {
  out.push(`public_key=${keyHex(p.publicKey)}`);
  if (p.presharedKey !== undefined) {
    out.push(`preshared_key=${p.presharedKey === null ? ZERO_KEY : keyHex(p.presharedKey.reveal())}`);
  }
  if (p.endpoint !== undefined) out.push(`endpoint=${p.endpoint}`);
  if (p.persistentKeepalive !== undefined) out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
  if (p.allowedIps !== undefined) {
    out.push("replace_allowed_ips=true");
    for (const cidr of p.allowedIps) out.push(`allowed_ip=${cidr}`);
  }
}

/** `set=1`: the interface's key and port when given, then each peer added or updated. */
export function uapiSet(
  config: { privateKey?: Secret; listenPort?: number; peers?: readonly UapiPeer[]; remove?: string[] },
): string {
  const out = ["set=1"];
  if (config.privateKey) out.push(`private_key=${keyHex(config.privateKey.reveal())}`);
  if (config.listenPort !== undefined) out.push(`listen_port=${config.listenPort}`);
  for (const key of config.remove ?? []) out.push(`public_key=${keyHex(key)}`, "remove=true");
  for (const p of config.peers ?? []) peerLines(p, out);
  return out.join("\n") + "\n\n";
}

const list = (xs: readonly string[]) => xs.length > 8 ? `<${xs.length} entries>` : xs.join(",");

/** The `[#]` line for a set: like `wg set`, keys redacted, long lists counted. */
export function uapiDisplay(
  iface: string,
  config: { privateKey?: Secret; listenPort?: number; peers?: readonly UapiPeer[]; remove?: string[] },
): string {
  const parts = ["uapi", iface, "set"];
  if (config.privateKey) parts.push("private-key", "[redacted]");
  if (config.listenPort !== undefined) parts.push("listen-port", String(config.listenPort));
  for (const key of config.remove ?? []) parts.push("peer", key, "remove");
  const peers = config.peers ?? [];
  if (peers.length > 1) {
    parts.push(`<${peers.length} peers>`);
  } else {
    for (const p of peers) {
      parts.push("peer", p.publicKey);
      if (p.presharedKey !== undefined) parts.push("preshared-key", p.presharedKey ? "[redacted]" : "none");
      if (p.endpoint !== undefined) parts.push("endpoint", p.endpoint);
      if (p.persistentKeepalive !== undefined) {
        parts.push(
          "persistent-keepalive",
          p.persistentKeepalive === 0 ? "off" : String(p.persistentKeepalive),
        );
      }
      if (p.allowedIps !== undefined) parts.push("allowed-ips", list(p.allowedIps) || "''");
    }
  }
  return parts.join(" ");
}

/** The errno of an answer (`errno=0` is success); NaN when the answer has none. */
export function uapiErrno(answer: string): number {
  const m = /^errno=(-?\d+)$/m.exec(answer);
  return m ? Number(m[1]) : NaN;
}
