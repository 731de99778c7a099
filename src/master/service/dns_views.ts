// What the DNS service hands out: settings, a peer's DNS choices and the resolver's status.
import type { DnsSettingsRow } from "../db/dns_repo.ts";
import { split } from "./dns_desired.ts";
import type { BlockMode } from "./dns_render.ts";

export type DnsSettings = {
  enabled: boolean;
  zone: string;
  upstreams: string[];
  dnssec: boolean;
  insecureDomains: string[];
  blockMode: BlockMode;
  logQueries: boolean;
  logRetentionDays: number;
  refreshHours: number;
  pausedUntil: number | null;
};

export type DnsPeerView = {
  id: number;
  name: string;
  dnsName: string | null;
  addresses: string[];
  node: string;
  blocking: boolean;
  lists: number[] | null;
  log: boolean;
};

export type DnsStatus = {
  enabled: boolean;
  /** null: the local node has not reported on Unbound yet. */
  running: boolean | null;
  /** One sentence for the operator: runs, or why not and what to do. */
  detail: string;
  error: string | null;
  reportedAt: number | null;
  listen: string[];
};

export const settingsView = (r: DnsSettingsRow, now: number): DnsSettings => ({
  enabled: r.enabled === 1,
  zone: r.zone,
  upstreams: split(r.upstreams),
  dnssec: r.dnssec === 1,
  insecureDomains: split(r.insecure_domains),
  blockMode: r.block_mode as BlockMode,
  logQueries: r.log_queries === 1,
  logRetentionDays: r.log_retention_days,
  refreshHours: r.refresh_hours,
  pausedUntil: r.paused_until > now ? r.paused_until : null,
});
