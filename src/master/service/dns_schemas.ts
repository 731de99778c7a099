// Input schemas of the DNS API and forms (the OpenAPI document is generated from them).
import { z } from "zod";
import { isValidIp } from "../../core/cidr.ts";
import { normalizeDomain } from "./dns_blocklists.ts";
import { parseUpstream } from "./dns_render.ts";

export const DomainSchema = z.string().max(253).transform((s, ctx) => {
  const d = normalizeDomain(s);
  if (!d) {
    ctx.addIssue({
      code: "custom",
      message: `"${s.slice(0, 80)}" is not a domain name (like ads.example.com)`,
    });
    return z.NEVER;
  }
  return d;
});

const UpstreamsSchema = z.array(z.string().max(300)).max(8).superRefine((list, ctx) => {
  for (const u of list) {
    if (!parseUpstream(u)) {
      ctx.addIssue({
        code: "custom",
        message: `"${u.slice(0, 80)}" is not an upstream: use IP, IP@port or IP@853#tls-name`,
      });
    }
  }
  const tls = list.filter((u) => parseUpstream(u)?.tlsName).length;
  if (tls > 0 && tls < list.length) {
    ctx.addIssue({
      code: "custom",
      message: "use DNS-over-TLS (IP@853#name) for every upstream or for none",
    });
  }
});

export const DnsSettingsSchema = z.object({
  enabled: z.boolean(),
  /** The zone peers are named under, e.g. wg.internal (phone.wg.internal). */
  zone: DomainSchema,
  upstreams: UpstreamsSchema,
  dnssec: z.boolean(),
  /** Domains DNSSEC validation skips (internal zones without signatures). */
  insecure_domains: z.array(DomainSchema).max(50),
  block_mode: z.enum(["refuse", "nxdomain", "null"]),
  log_queries: z.boolean(),
  log_retention_days: z.number().int().min(1).max(365),
  refresh_hours: z.number().int().min(1).max(168),
}).partial().strict();

export const DnsListInputSchema = z.object({
  // No control characters: SQLite cut the name at a NUL, and the rest can garble a terminal or log.
  name: z.string().trim().min(1).max(64).regex(/^\P{Cc}*$/u, "must not contain control characters"),
  url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000).optional(),
  /** The list's text (hosts, plain domains or AdGuard rules), for a list from a file. */
  content: z.string().max(20 * 1024 * 1024).optional(),
  enabled: z.boolean().default(true),
}).strict().refine((l) => (l.url === undefined) !== (l.content === undefined), {
  message: "give either url or content",
  path: ["url"],
});

export const DnsListPatchSchema = z.object({ enabled: z.boolean() }).strict();

export const DnsRuleInputSchema = z.object({
  kind: z.enum(["block", "allow"]),
  domain: DomainSchema,
}).strict();

export const DnsRecordInputSchema = z.object({
  name: DomainSchema,
  type: z.enum(["A", "AAAA", "CNAME"]),
  value: z.string().trim().max(253),
}).strict().superRefine((r, ctx) => {
  const v = r.value;
  const ok = r.type === "CNAME"
    ? normalizeDomain(v) !== null
    : isValidIp(v) && (r.type === "AAAA") === v.includes(":");
  if (!ok) {
    const want = r.type === "A" ? "an IPv4 address" : r.type === "AAAA" ? "an IPv6 address" : "a domain name";
    ctx.addIssue({
      code: "custom",
      path: ["value"],
      message: `a ${r.type} record needs ${want}, not "${v.slice(0, 80)}"`,
    });
  }
});

export const DnsPeerPrefsSchema = z.object({
  blocking: z.boolean(),
  /** Which lists block for this peer; null: every enabled list. */
  lists: z.array(z.number().int().positive()).max(100).nullable(),
  log: z.boolean(),
}).partial().strict();

export const DnsPauseSchema = z.object({ minutes: z.number().int().min(1).max(24 * 60).default(60) })
  .strict();
