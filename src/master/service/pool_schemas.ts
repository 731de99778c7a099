// Input schemas for failover pools (JSON API; the UI maps its form fields onto them).
import { z } from "zod";
import { isValidCidr, isValidIp, networkOf, parseCidr } from "../../core/cidr.ts";
import { isHostname } from "../../core/client_conf.ts";
import { IfNameSchema } from "../../core/host_state.ts";
import { InterfaceInputSchema } from "./wg_schemas.ts";

export const TSIG_ALGORITHMS = ["hmac-sha256", "hmac-sha512"] as const;

/** A DNS name (letters, digits, hyphens, dots; a trailing dot is dropped), lower-cased. */
const DnsNameSchema = z.string().trim().toLowerCase().max(253).transform((v) => v.replace(/\.$/, ""))
  .refine((v) => isHostname(v), "must be a DNS name like vpn.example.com");

/** `host:port` of the authoritative server (`[v6]:port`; the port defaults to 53). */
export const DnsServerSchema = z.string().trim().max(300).transform((v, ctx) => {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(v) ?? /^([^:\[\]]+)(?::(\d{1,5}))?$/.exec(v) ??
    (isValidIp(v) ? [v, v, undefined] : null);
  const host = m?.[1];
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!host || !(isValidIp(host) || isHostname(host)) || port < 1 || port > 65535) {
    ctx.addIssue({ code: "custom", message: "must be host:port like 192.0.2.53:53 or ns1.example.com:53" });
    return z.NEVER;
  }
  return { host, port };
});
export type DnsServer = { host: string; port: number };

export const formatServer = (s: DnsServer) => `${s.host.includes(":") ? `[${s.host}]` : s.host}:${s.port}`;

/** A base64 TSIG secret of at least 16 bytes. */
const TsigSecretSchema = z.string().trim().max(200).refine((v) => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v) || v.length % 4 !== 0) return false;
  return atob(v).length >= 16;
}, "must be a base64 secret of at least 16 bytes (e.g. from `tsig-keygen` or `keymgr -t`)");

/** The floating address with its prefix on the link (`192.0.2.10/24`): a host address, not the network. */
const VrrpAddressSchema = z.string().trim().max(50).refine((v) => {
  if (!isValidCidr(v)) return false;
  const c = parseCidr(v);
  return c.prefix >= (c.version === 4 ? 31 : 127) || networkOf(c).address !== c.address;
}, "must be an address with its prefix on the link, like 192.0.2.10/24");

export const VrrpInputSchema = z.object({
  kind: z.literal("vrrp"),
  address: VrrpAddressSchema,
  vrid: z.number({ error: "must be a number 1-255" }).int().min(1, "must be 1-255").max(255, "must be 1-255"),
  advert_ms: z.number({ error: "must be milliseconds" }).int().min(100, "must be 100-10000 ms").max(
    10_000,
    "must be 100-10000 ms",
  ).default(1000),
  link: IfNameSchema.nullish().transform((v) => v ?? null),
}).strict();

export const DnsAnnounceInputSchema = z.object({
  kind: z.literal("dns"),
  name: DnsNameSchema,
  zone: DnsNameSchema,
  server: DnsServerSchema,
  tsig: z.object({
    name: DnsNameSchema,
    algorithm: z.enum(TSIG_ALGORITHMS, { error: "must be hmac-sha256 or hmac-sha512" }).default(
      "hmac-sha256",
    ),
    /** Absent on an edit: the stored secret stays. */
    secret: TsigSecretSchema.optional(),
  }).strict(),
  ttl: z.number({ error: "must be seconds" }).int().min(1, "must be 1-3600 s").max(3600, "must be 1-3600 s")
    .default(30),
}).strict().refine((d) => d.name === d.zone || d.name.endsWith(`.${d.zone}`), {
  message: "must be inside the zone",
  path: ["name"],
});

export const AnnounceInputSchema = z.discriminatedUnion("kind", [VrrpInputSchema, DnsAnnounceInputSchema], {
  error: 'must be {"kind":"vrrp",…} or {"kind":"dns",…}',
});
export type AnnounceInput = z.infer<typeof AnnounceInputSchema>;

/** A new pool: an interface's fields (its own CIDR, port, DNS) and how its address follows health. */
export const PoolInputSchema = InterfaceInputSchema.extend({ announce: AnnounceInputSchema }).strict();
export type PoolInput = z.infer<typeof PoolInputSchema>;

/** A change of how the address follows health and/or the pool's port (clients must download their configs again). */
export const PoolPatchSchema = z.object({
  announce: AnnounceInputSchema,
  listen_port: z.number({ error: "must be a port number" }).int("must be a whole number").min(
    1,
    "must be 1-65535",
  )
    .max(65535, "must be 1-65535"),
}).partial().strict().refine((p) => p.announce !== undefined || p.listen_port !== undefined, {
  message: "must name announce and/or listen_port (an empty change would still bump every member's config)",
});

const priority = z.number({ error: "must be a number 1-254" }).int().min(1, "must be 1-254").max(
  254,
  "must be 1-254",
);

export const MemberInputSchema = z.object({
  node_id: z.number({ error: "must be a node id" }).int().positive(),
  priority: priority.optional(),
}).strict();

export const MemberPatchSchema = z.object({ priority }).strict();
