// Builds every service from the database, the clock, the keys and the logger. No singletons.
import type { Logger } from "../../core/logger.ts";
import type { ScryptCost } from "../../core/password.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { Db } from "../db/db.ts";
import { AccountService, type ThrottlePolicy } from "./accounts.ts";
import { ApiTokenService } from "./api_tokens.ts";
import { AuditService } from "./audit.ts";
import type { MasterKeys } from "./secrets.ts";
import { WireGuardService } from "./wireguard.ts";
import { DEFAULT_NODE_OPTIONS, type NodeOptions, NodeService } from "./nodes.ts";

export type Services = {
  db: Db;
  clock: Clock;
  keys: MasterKeys;
  log: Logger;
  audit: AuditService;
  accounts: AccountService;
  tokens: ApiTokenService;
  wg: WireGuardService;
  nodes: NodeService;
};

export type ServiceOptions = {
  sessionTtlMs: number;
  /** The host name clients reach the master's own interfaces at (from WIREBUDDY_PUBLIC_URL). */
  publicHost: string;
  publicUrl: URL;
  nodes?: Partial<Omit<NodeOptions, "publicUrl" | "publicHost">>;
  scryptCost?: ScryptCost;
  throttle?: ThrottlePolicy;
};

export function createServices(
  db: Db,
  clock: Clock,
  keys: MasterKeys,
  log: Logger,
  opts: ServiceOptions,
): Services {
  const audit = new AuditService(db, clock);
  const accounts = new AccountService(db, clock, audit, log, {
    sessionTtlMs: opts.sessionTtlMs,
    ...(opts.scryptCost ? { cost: opts.scryptCost } : {}),
    ...(opts.throttle ? { throttle: opts.throttle } : {}),
  });
  const tokens = new ApiTokenService(db, clock, audit);
  const wg = new WireGuardService(db, clock, audit, keys.sealKey, { publicHost: opts.publicHost });
  const nodes = new NodeService(
    db,
    clock,
    audit,
    log,
    keys,
    (sealed, context) => wg.openSecret(sealed, context),
    {
      ...DEFAULT_NODE_OPTIONS,
      ...opts.nodes,
      publicUrl: opts.publicUrl,
      publicHost: opts.publicHost,
    },
  );
  wg.onHostsChanged((hosts) => nodes.hostsChanged(hosts));
  wg.onInterfaceCreated(() => nodes.interfacesChanged());
  return { db, clock, keys, log, audit, accounts, tokens, wg, nodes };
}
