// Input schemas for interfaces and peers (JSON API; the UI maps its form fields onto them).
import { z } from "zod";
import { isValidCidr, isValidIp, parseCidr } from "../../core/cidr.ts";
import { isHostname } from "../../core/client_conf.ts";
import { IfNameSchema, WgKeySchema } from "../../core/host_state.ts";
import { PEER_SORTS } from "../db/wg_repo.ts";

export { PEER_SORTS };

/** A list (array or comma/space-separated text); one problem naming every bad entry, e.g. `"10.0.0.999/8"`. */
const listOf = (valid: (s: string) => boolean, one: string, what: string, like: string) =>
  z.union([z.string().max(4000), z.array(z.string().max(100)).max(200)], {
    error: `must be a list of ${what}`,
  })
    .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((s) => s.trim()).filter(Boolean))
    .pipe(
      z.array(z.string()).max(200, "has too many entries").superRefine((items, ctx) => {
        const bad = items.filter((s) => !valid(s));
        if (bad.length === 0) return;
        const names = bad.slice(0, 5).map((b) => `"${b.slice(0, 60)}"`).join(", ") +
          (bad.length > 5 ? ", …" : "");
        ctx.addIssue({
          code: "custom",
          message: `${names} ${bad.length === 1 ? `is not ${one}` : `are not ${what}`} (like ${like})`,
        });
      }),
    );

export const IpListSchema = listOf(isValidIp, "an IP address", "IP addresses", "1.1.1.1");
export const CidrListSchema = listOf(
  isValidCidr,
  "an address/prefix",
  "address/prefix entries",
  "10.0.0.0/8",
);

const pool = (version: 4 | 6, minPrefix: number, maxPrefix: number) =>
  z.string().trim().max(50).refine(
    (v) => {
      if (!isValidCidr(v)) return false;
      const c = parseCidr(v);
      return c.version === version && c.prefix >= minPrefix && c.prefix <= maxPrefix;
    },
    `must be an IPv${version} network like ${
      version === 4 ? "10.13.13.0/24" : "fd42:13::/64"
    } (prefix /${minPrefix}-/${maxPrefix})`,
  );

/** A host name or an IP address, as clients and nodes dial it (the same rule a client config is held to). */
export const HostSchema = z.string().trim().min(1, "is required").max(253).refine(
  (v) => isHostname(v) || isValidIp(v),
  "must be a host name or an IP address",
);

const port = z.number({ error: "must be a port number" }).int("must be a whole number").min(
  1,
  "must be 1-65535",
)
  .max(65535, "must be 1-65535");

/** An interface's fields with no defaults: a patch names what changes, an absent field stays as it is. */
const interfaceFields = z.object({
  name: IfNameSchema,
  ipv4_pool: pool(4, 8, 30),
  ipv6_pool: pool(6, 48, 126).nullish(),
  listen_port: port,
  mtu: z.number({ error: "must be a number" }).int().min(1280, "must be 1280-9000").max(
    9000,
    "must be 1280-9000",
  ).nullish(),
  dns: IpListSchema,
  keepalive: z.number({ error: "must be a number of seconds" }).int().min(0).max(65535, "must be 0-65535")
    .nullish(),
  endpoint_host: HostSchema.nullish(),
});

export const InterfaceInputSchema = interfaceFields.extend({
  listen_port: port.default(51820),
  dns: IpListSchema.default([]),
}).strict();
export type InterfaceInput = z.infer<typeof InterfaceInputSchema>;
export const InterfacePatchSchema = interfaceFields.partial().strict();

export const PeerNameSchema = z.string().trim().min(1, "is required").max(64, "must be at most 64 characters")
  .regex(
    /^[\p{L}\p{N} ._@()+-]+$/u,
    "may contain letters, digits, spaces and . _ @ ( ) + - only",
  );

const expiry = z.union([z.iso.datetime({ offset: true, error: "must be an ISO date-time" }), z.null()])
  .optional();

export const PeerInputSchema = z.object({
  interface_id: z.number({ error: "must be an interface id" }).int().positive(),
  name: PeerNameSchema,
  public_key: WgKeySchema.nullish(),
  preshared_key: z.boolean({ error: "must be true or false" }).default(true),
  routing: z.enum(["full", "split", "custom"], { error: "must be full, split or custom" }).default("full"),
  allowed_ips: CidrListSchema.default([]),
  ipv4: z.string().trim().refine(isValidIp, "must be an IPv4 address").nullish(),
  node_id: z.number({ error: "must be a node id or null" }).int().positive().nullish(),
  expires_at: expiry,
  enabled: z.boolean({ error: "must be true or false" }).default(true),
}).strict();
export type PeerInput = z.infer<typeof PeerInputSchema>;

export const PeerPatchSchema = z.object({
  name: PeerNameSchema,
  public_key: WgKeySchema,
  regenerate_keys: z.boolean(),
  preshared_key: z.boolean({ error: "must be true or false" }),
  routing: z.enum(["full", "split", "custom"], { error: "must be full, split or custom" }),
  allowed_ips: CidrListSchema,
  node_id: z.number({ error: "must be a node id or null" }).int().positive().nullable(),
  expires_at: expiry,
  enabled: z.boolean({ error: "must be true or false" }),
}).partial().strict();
export type PeerPatch = z.infer<typeof PeerPatchSchema>;

export const PeerQuerySchema = z.object({
  q: z.string().max(100, "must be at most 100 characters").default(""),
  interface_id: z.coerce.number().int().positive().optional(),
  node: z.union([z.literal("local"), z.coerce.number().int().positive()]).optional(),
  page: z.coerce.number({ error: "must be a page number" }).int().min(1).max(1_000_000).default(1),
  per_page: z.coerce.number({ error: "must be a number" }).int().min(1).max(500, "must be at most 500")
    .default(50),
  sort: z.enum(["id", ...PEER_SORTS, ...PEER_SORTS.map((s) => `-${s}` as const)], {
    error: `must be id, ${PEER_SORTS.join(", ")}, or one of them with a leading -`,
  }).default("id"),
});
