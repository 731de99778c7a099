// The master-node sync protocol, shared by both sides: the enrollment token, request and response
// signatures, and the schemas of every payload. Pure (WebCrypto only).
//
// Trust model (DESIGN §2):
// - The enrollment token is HMAC-signed with a key derived from WIREBUDDY_SECRET_KEY, so it cannot be
//   forged; it carries the master URL, the node id, a one-time secret, the SHA-256 pin of the master's TLS
//   certificate (the node fetches the certificate when it enrolls and refuses one that does not match the
//   pin) and the master's response-verification key. The node never needs the master's secret. Packed in
//   binary (about 270 characters); the older JSON tokens that carried the whole certificate still read.
// - Every node request carries the node's bearer secret AND an ECDSA P-256 signature (the key of the
//   node's self-signed certificate) over method, path, timestamp, nonce, body hash and node id. The
//   master checks the secret's hash, the signature, a clock window and a nonce cache.
// - Every master answer is signed with the master's P-256 key over the node id, the request's nonce and
//   the body hash, so a node accepts only fresh answers meant for it; configs carry node_id and a
//   monotonic config_version inside the signed body.
import { createHash } from "node:crypto";
import { z } from "zod";
import { CidrTextSchema, IfNameSchema, WgKeySchema } from "./host_state.ts";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./seal.ts";

const encoder = new TextEncoder();
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/** Requests older or newer than this (by the master's clock) are refused. */
export const CLOCK_WINDOW_MS = 5 * 60_000;

export * from "./sync_token.ts";

// --- keys and signatures ---------------------------------------------------------------------

export async function generateSigningKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
}

export async function exportPublicKey(key: CryptoKey): Promise<string> {
  return toBase64(new Uint8Array(await crypto.subtle.exportKey("spki", key)));
}

export async function importPublicKey(spkiBase64: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey("spki", fromBase64(spkiBase64), EC, true, ["verify"]);
}

export async function exportPrivateKey(key: CryptoKey): Promise<string> {
  return toBase64(new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)));
}

export async function importPrivateKey(pkcs8Base64: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey("pkcs8", fromBase64(pkcs8Base64), EC, false, ["sign"]);
}

export async function signText(key: CryptoKey, text: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign(SIGN, key, encoder.encode(text))));
}

export async function verifyText(key: CryptoKey, signature: string, text: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{40,200}$/.test(signature)) return false;
  try {
    return await crypto.subtle.verify(SIGN, key, fromBase64Url(signature), encoder.encode(text));
  } catch {
    return false;
  }
}

export type RequestParts = {
  method: string;
  path: string;
  timestamp: number;
  nonce: string;
  nodeId: number;
  body: string;
};

/** The text a node signs (or MACs) for one request; `path` includes the query string. Synchronous
 * (node:crypto): the master computes it on its hot path for every request. */
export function requestText(r: RequestParts): string {
  return [
    "WB1-REQ",
    r.method.toUpperCase(),
    r.path,
    String(r.timestamp),
    r.nonce,
    String(r.nodeId),
    sha256HexSync(r.body),
  ].join("\n");
}

/** The text the master signs (or MACs) for one answer: bound to the node and the request's nonce. */
export function responseText(nodeId: number, requestNonce: string, status: number, body: string): string {
  return ["WB1-RES", String(nodeId), requestNonce, String(status), sha256HexSync(body)].join("\n");
}

/** requestText, for callers that await it. */
export const requestSigningText = (r: RequestParts): Promise<string> => Promise.resolve(requestText(r));

/** responseText, for callers that await it. */
export const responseSigningText = (
  nodeId: number,
  requestNonce: string,
  status: number,
  body: string,
): Promise<string> => Promise.resolve(responseText(nodeId, requestNonce, status, body));

const sha256HexSync = (text: string) => createHash("sha256").update(text).digest("hex");

export const HEADERS = {
  node: "x-wb-node",
  timestamp: "x-wb-timestamp",
  nonce: "x-wb-nonce",
  signature: "x-wb-signature",
} as const;

export function newNonce(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

// --- payloads --------------------------------------------------------------------------------

export const EnrollRequestSchema = z.object({
  token: z.string().max(8000),
  /** The node's self-signed certificate (PEM); its key signs this request. */
  cert: z.string().max(4000),
  hostname: z.string().max(253).default(""),
  version: z.string().max(40).default(""),
}).strict();
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const EnrollResponseSchema = z.object({
  node_id: z.number().int().positive(),
  name: z.string(),
  node_secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
}).strict();
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

// --- limits: sized for the fleets we promise (10,000 peers per node), with room to spare ---------

/** Peers on one interface of one host. */
export const MAX_PEERS = 200_000;
/**
 * Allowed IPs of one peer. On the master's own `local` node, each remote node is one peer whose allowed
 * IPs are every client address of that node (IPv4 and IPv6), plus its own tunnel addresses.
 */
export const MAX_ALLOWED_IPS = 2 * MAX_PEERS + 2;
/** WireGuard interfaces of one host (the master has no lower limit of its own). */
export const MAX_INTERFACES = 1024;
/** An error a node reports in its heartbeat (the node shortens longer ones). */
export const MAX_ERROR_LENGTH = 500;

export const MasterPeerSchema = z.object({
  public_key: WgKeySchema,
  endpoint: z.string().max(300),
  allowed_ips: z.array(CidrTextSchema).max(MAX_ALLOWED_IPS),
  persistent_keepalive: z.number().int().min(0).max(65535),
});

/** How a pool's address follows health on a member (the DNS path is the master's: nothing to announce). */
export const PoolAnnounceSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("vrrp"),
    /** The floating address with its prefix on the link (e.g. 192.0.2.10/24), held by one healthy member. */
    address: CidrTextSchema,
    vrid: z.number().int().min(1).max(255),
    /** This member's VRRP priority (the master orders members; higher wins). */
    priority: z.number().int().min(1).max(254),
    advert_ms: z.number().int().min(100).max(10_000),
    /** The device carrying the address; null: the device of this host's route to it. */
    link: IfNameSchema.nullable(),
  }),
  z.object({ kind: z.literal("dns") }),
]);
export type PoolAnnounce = z.infer<typeof PoolAnnounceSchema>;

export const PoolConfigSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1).max(63),
  announce: PoolAnnounceSchema,
  /** The operator drained this member: withdraw its announcement (clients move to the others). */
  drained: z.boolean(),
  /**
   * Each peer's last endpoint seen by any member, so a member that takes the pool's address over can
   * start the handshake itself (the engine never sets client endpoints; only the takeover does).
   */
  handover: z.array(z.object({ public_key: WgKeySchema, endpoint: z.string().max(300) })).max(MAX_PEERS),
  /**
   * DNS mode: the master's order to take these clients over (their holder died or was drained; this is
   * the healthy member with the highest priority). The member starts the handshake with each, as the VRRP
   * takeover does, once per `epoch` (a new epoch whenever the set changes). Absent: nothing to take over
   * (older nodes ignore the field).
   */
  takeover: z.object({
    epoch: z.number().int().nonnegative(),
    keys: z.array(WgKeySchema).max(MAX_PEERS),
  }).optional(),
});
export type PoolConfig = z.infer<typeof PoolConfigSchema>;

export const NodeInterfaceConfigSchema = z.object({
  name: IfNameSchema,
  /** The node's own address on this interface, with the pool's prefix (e.g. 10.13.13.250/24). */
  addresses: z.array(CidrTextSchema).min(1).max(2),
  listen_port: z.number().int().min(1).max(65535),
  mtu: z.number().int().min(1280).max(9000).nullable(),
  /** The private key the master holds for this interface: the master's own (its `local` node, over loopback) or a pool's shared one (its members); else null (the node's own key). */
  private_key: WgKeySchema.nullable(),
  peers: z.array(z.object({
    public_key: WgKeySchema,
    preshared_key: WgKeySchema.nullable(),
    allowed_ips: z.array(CidrTextSchema).min(1).max(MAX_ALLOWED_IPS),
    endpoint: z.string().max(300).nullable().default(null),
    persistent_keepalive: z.number().int().min(0).max(65535).nullable().default(null),
  })).max(MAX_PEERS),
  /** The master as a peer (DNS path through the tunnel); null on the master itself and non-first interfaces. */
  master_peer: MasterPeerSchema.nullable(),
  masquerade: z.boolean(),
  /**
   * Address spaces routed through this interface as a whole (the master's own node: each failover pool's
   * CIDR on its first interface); a peer's allowed IP inside one of them gets no route of its own.
   */
  routes: z.array(CidrTextSchema).max(2 * MAX_INTERFACES).optional(),
  /**
   * Set when this interface is a failover pool's (DESIGN §8): every member runs it with the pool's shared
   * identity (`private_key`), the interface's own addresses and port, and all of the pool's peers.
   */
  pool: PoolConfigSchema.optional(),
  /**
   * A key rotation in progress (node WireGuard key rotation): the node also runs this device, with a key
   * it makes itself for rotation `id`, on this port, with the same peers and its address as a host
   * route only; each client's route follows its latest handshake (node/wg_key_rotation.ts).
   */
  next: z.object({
    id: z.number().int().positive(),
    name: IfNameSchema,
    listen_port: z.number().int().min(1).max(65535),
  }).optional(),
});
export type NodeInterfaceConfig = z.infer<typeof NodeInterfaceConfigSchema>;

/**
 * The DNS resolver a node runs (the master's `local` node: Unbound): include files rendered by the
 * master, whether to log queries (dnstap), and client addresses whose queries are not logged.
 */
export const NodeDnsConfigSchema = z.object({
  files: z.array(z.object({
    name: z.string().regex(/^wb-[a-z0-9-]{1,40}\.conf$/),
    text: z.string().max(64 * 1024 * 1024),
  })).max(8),
  log: z.boolean(),
  nolog: z.array(z.string().max(45)).max(MAX_PEERS),
});
export type NodeDnsConfig = z.infer<typeof NodeDnsConfigSchema>;

export const NodeConfigSchema = z.object({
  node_id: z.number().int().positive(),
  config_version: z.number().int().nonnegative(),
  issued_at: z.number().int(),
  interfaces: z.array(NodeInterfaceConfigSchema).max(MAX_INTERFACES),
  /** Absent or null: this node runs no resolver for the fleet (it removes what it wrote before). */
  dns: NodeDnsConfigSchema.nullable().optional(),
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

/** GET /api/sync/config answers: a new config, an explicit "unchanged", or "removed". */
export const ConfigResponseSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("config"), config: NodeConfigSchema }),
  z.object({ kind: z.literal("unchanged"), node_id: z.number().int(), config_version: z.number().int() }),
  z.object({ kind: z.literal("removed"), node_id: z.number().int() }),
]);
export type ConfigResponse = z.infer<typeof ConfigResponseSchema>;

export const MetricSampleSchema = z.object({
  seq: z.number().int().positive(),
  /** The node's own sampling time, ms since the epoch. */
  at: z.number().int(),
  peer: WgKeySchema,
  rx: z.number().int().nonnegative(),
  tx: z.number().int().nonnegative(),
  handshake: z.number().int().nonnegative(),
  endpoint: z.string().max(80).nullable(),
});
export type MetricSample = z.infer<typeof MetricSampleSchema>;

/** What a node says about its last apply and itself (shown per node on the master, exported to /metrics). */
export const NodeReportSchema = z.object({
  /** The last apply (config or periodic repair): outcome, the failing command's error, the version, how long. */
  apply: z.object({
    ok: z.boolean(),
    error: z.string().max(MAX_ERROR_LENGTH).nullable(),
    version: z.number().int().nonnegative(),
    duration_ms: z.number().nonnegative(),
  }).nullable().default(null),
  warnings: z.array(z.string().max(300)).max(20).default([]),
  queue_depth: z.number().int().nonnegative().nullable().default(null),
  /** Round trip of the node's last heartbeat. */
  sync_latency_ms: z.number().nonnegative().nullable().default(null),
});
export type NodeReport = z.infer<typeof NodeReportSchema>;

/** One reply of the node's resolver (from Unbound's dnstap), queued like metrics with its own sequence. */
export const DnsLogEntrySchema = z.object({
  seq: z.number().int().positive(),
  at: z.number().int(),
  client: z.string().max(45),
  qname: z.string().max(255),
  qtype: z.string().max(12),
  rcode: z.string().max(12),
  /** The answer records' data, comma-separated (e.g. "192.0.2.10" or "CNAME x.example.,192.0.2.1"). */
  answer: z.string().max(300),
});
export type DnsLogEntry = z.infer<typeof DnsLogEntrySchema>;

/** How the node's resolver is doing, reported while the config has a `dns` section. */
export const DnsReportSchema = z.object({
  running: z.boolean(),
  detail: z.string().max(MAX_ERROR_LENGTH),
  error: z.string().max(MAX_ERROR_LENGTH).nullable(),
});
export type DnsReport = z.infer<typeof DnsReportSchema>;

/** A member's view of one pool, in its heartbeat. */
export const PoolReportSchema = z.object({
  id: z.number().int().positive(),
  /**
   * serving: holds the pool's address (VRRP master) or, DNS path, published and healthy; backup: healthy,
   * ready to take over; withdrawn: drained by the operator; fault: its own health failed.
   */
  state: z.enum(["serving", "backup", "withdrawn", "fault"]),
  /** Why it is in `fault` (or the announcer's own error), for the pool page. */
  detail: z.string().max(MAX_ERROR_LENGTH).nullable(),
  /** Peers with a handshake on this member in the last 180 s (WireGuard's session lifetime). */
  sessions: z.number().int().nonnegative(),
});
export type PoolReport = z.infer<typeof PoolReportSchema>;

export const HeartbeatRequestSchema = z.object({
  status: z.enum(["online", "error"]),
  applied_version: z.number().int().nonnegative(),
  error: z.string().max(MAX_ERROR_LENGTH).nullable().default(null),
  /** Sent when they change; absent means "as last reported". */
  interfaces: z.array(z.object({
    name: IfNameSchema,
    public_key: WgKeySchema,
    listen_port: z.number().int().min(0).max(65535),
    peers: z.number().int().nonnegative(),
  })).max(MAX_INTERFACES).default([]),
  metrics: z.array(MetricSampleSchema).max(500).default([]),
  /** Samples dropped on the node since it started because its queue was full. */
  dropped: z.number().int().nonnegative().default(0),
  report: NodeReportSchema.optional(),
  dns: DnsReportSchema.optional(),
  dns_log: z.array(DnsLogEntrySchema).max(500).default([]),
  /** Query-log entries dropped because the node's queue was full. */
  dns_dropped: z.number().int().nonnegative().default(0),
  /**
   * The master verification keys the node accepts, sent while it holds an announced next one
   * (only a master that announces keys knows this field, so an older one is never sent it).
   */
  trusts: z.array(z.string().max(400)).max(2).optional(),
  /** The master's TLS pins (SHA-256) the node accepts, sent while it holds an announced next certificate. */
  trusts_tls: z.array(z.string().max(128)).max(2).optional(),
  /**
   * Each failover pool this node is a member of (sent only while its config has pools, so only to a
   * master that knows the field): whether it holds the pool's address, and how many clients it serves.
   */
  pools: z.array(PoolReportSchema).max(MAX_INTERFACES).refine(
    (r) => new Set(r.map((p) => p.id)).size === r.length,
    "must report each pool once",
  ).optional(),
  /**
   * While an interface's key rotates (sent only while the config names a `next` device, so only to a
   * master that knows the field): clients whose latest handshake is on the next device (moved), and
   * clients still handshaking on the old one within the last 180 s (pending).
   */
  wg_rotation: z.array(z.object({
    name: IfNameSchema,
    moved: z.number().int().nonnegative(),
    pending: z.number().int().nonnegative(),
  })).max(MAX_INTERFACES).refine(
    (r) => new Set(r.map((d) => d.name)).size === r.length,
    "must report each interface once",
  ).optional(),
}).strict();
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

/** A node's new identity: its certificate, sent in a request signed with its current identity key. */
export const IdentityRequestSchema = z.object({ cert: z.string().min(1).max(20_000) }).strict();
export const IdentityAnswerSchema = z.object({ cert_sha256: z.string() });

export const HeartbeatResponseSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("ok"),
    acked_seq: z.number().int().nonnegative(),
    config_version: z.number().int(),
    /** The highest query-log sequence the master has stored (absent: none sent). */
    dns_acked_seq: z.number().int().nonnegative().optional(),
    /** The key the master signs answers with now; a node holding it as its next one switches to it. */
    verify_key: z.string().max(400).optional(),
    /** The key the master will sign with (announced before the switch; nodes keep it beside the current). */
    next_verify_key: z.string().max(400).optional(),
    /** The pin of the TLS certificate the master presents now; a node holding it as its next one switches. */
    tls_sha256: z.string().max(128).optional(),
    /** The master's next self-signed TLS certificate (announced before its listener presents it). */
    next_tls: z.object({ cert: z.string().max(20_000), sha256: z.string().max(128) }).optional(),
    /** An admin asked this node for a new identity key (POST /api/sync/identity, signed with the current one). */
    rotate_identity: z.literal(true).optional(),
  }),
  z.object({ kind: z.literal("removed"), node_id: z.number().int() }),
]);
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;
