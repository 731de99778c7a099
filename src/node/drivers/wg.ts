// wireguard-tools (`wg`) and wireguard-go: argv for the commands we run, the whole config text we pipe
// in, and the parser for `wg show … dump`. Keys never go into argv: `wg` reads them from /dev/stdin.
import { observedNetwork } from "../../core/cidr.ts";

export type WgPeer = {
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  allowedIps: string[];
  /** Seconds since the epoch of the latest handshake, 0 when there was none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** 0 when off. */
  persistentKeepalive: number;
};

export type WgDevice = {
  name: string;
  privateKey: string | null;
  publicKey: string | null;
  listenPort: number;
  peers: Map<string, WgPeer>;
};

/** A peer for `wg addconf`: the fields of the config file format that we use. */
export type WgPeerConfig = {
  publicKey: string;
  presharedKey?: string;
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
};

const STDIN = "/dev/stdin";

export const wgArgv = {
  showAllDump: () => ["wg", "show", "all", "dump"],
  showInterfaces: () => ["wg", "show", "interfaces"],
  /** One device's dump: like `all dump` without the interface column. */
  showDump: (name: string) => ["wg", "show", name, "dump"],
  userspaceAdd: (name: string) => ["wireguard-go", name],
  /** Sets only the given fields of one peer; `presharedKey: "stdin"` reads it from stdin, "none" removes it. */
  setPeer: (name: string, publicKey: string, fields: {
    presharedKey?: "stdin" | "none";
    endpoint?: string;
    persistentKeepalive?: number;
    allowedIps?: string[];
  }) => [
    "wg",
    "set",
    name,
    "peer",
    publicKey,
    ...(fields.presharedKey === "stdin" ? ["preshared-key", STDIN] : []),
    ...(fields.presharedKey === "none" ? ["preshared-key", "/dev/null"] : []),
    ...(fields.endpoint !== undefined ? ["endpoint", fields.endpoint] : []),
    ...(fields.persistentKeepalive !== undefined
      ? [
        "persistent-keepalive",
        fields.persistentKeepalive === 0 ? "off" : String(fields.persistentKeepalive),
      ]
      : []),
    ...(fields.allowedIps !== undefined ? ["allowed-ips", fields.allowedIps.join(",")] : []),
  ],
  removePeer: (name: string, publicKey: string) => ["wg", "set", name, "peer", publicKey, "remove"],
  /** Adds (or updates) the peers of the config read from stdin, leaving every other peer untouched. */
  addconf: (name: string) => ["wg", "addconf", name, STDIN],
};

/** What `wg addconf` sets on an interface: its key and port when given, and peers to add or update. */
export type WgConfig = { privateKey?: string; listenPort?: number; peers: readonly WgPeerConfig[] };

/**
 * The config text `wg addconf IF /dev/stdin` reads: an `[Interface]` section when there is a key or a
 * port to set, then the `[Peer]` sections. Contains keys: stdin only.
 */
export function renderWgConfig(config: WgConfig): string {
  const head = config.privateKey || config.listenPort !== undefined
    ? [
      "[Interface]",
      ...(config.privateKey ? [`PrivateKey = ${config.privateKey}`] : []),
      ...(config.listenPort !== undefined ? [`ListenPort = ${config.listenPort}`] : []),
      "",
    ].join("\n") + "\n"
    : "";
  return head + renderPeersConfig(config.peers);
}

/** The `[Peer]` sections of a wg config file, for `wg addconf … /dev/stdin`. Contains keys: stdin only. */
export function renderPeersConfig(peers: readonly WgPeerConfig[]): string {
  const out: string[] = [];
  for (const p of peers) {
    out.push("[Peer]", `PublicKey = ${p.publicKey}`);
    if (p.presharedKey) out.push(`PresharedKey = ${p.presharedKey}`);
    if (p.endpoint) out.push(`Endpoint = ${p.endpoint}`);
    if (p.allowedIps.length > 0) out.push(`AllowedIPs = ${p.allowedIps.join(", ")}`);
    if (p.persistentKeepalive) out.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
    out.push("");
  }
  return out.join("\n");
}

const none = (v: string | undefined): string | null => (v === undefined || v === "(none)" ? null : v);
const num = (v: string | undefined): number => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/**
 * Parses `wg show all dump`: per interface one line `if priv pub port fwmark`, per peer one line
 * `if pub psk endpoint allowed-ips handshake rx tx keepalive`, tab-separated.
 */
export function parseWgDump(text: string): Map<string, WgDevice> {
  const devices = new Map<string, WgDevice>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const f = line.split("\t");
    if (f.length === 5) {
      devices.set(f[0]!, {
        name: f[0]!,
        privateKey: none(f[1]),
        publicKey: none(f[2]),
        listenPort: num(f[3]),
        peers: new Map(),
      });
    } else if (f.length === 9) {
      const device = devices.get(f[0]!);
      if (!device) throw new Error(`Cannot parse wg show dump: peer line before its interface ${f[0]}`);
      const allowed = none(f[4]);
      device.peers.set(f[1]!, {
        publicKey: f[1]!,
        presharedKey: none(f[2]),
        endpoint: none(f[3]),
        allowedIps: allowed ? allowed.split(",").map((a) => observedNetwork(a)) : [],
        latestHandshake: num(f[5]),
        rxBytes: num(f[6]),
        txBytes: num(f[7]),
        persistentKeepalive: f[8] === "off" ? 0 : num(f[8]),
      });
    } else {
      throw new Error(`Cannot parse wg show dump: a line has ${f.length} fields`);
    }
  }
  return devices;
}
