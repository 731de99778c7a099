// The DNS path of failover pools: after each round of health checks the master makes each DNS-mode
// pool's name list exactly its healthy members' public addresses, through an RFC 2136 UPDATE signed
// with TSIG (core/dns_update.ts) to the operator's authoritative server, over TCP (master/dns_tcp.ts).
//
// An UPDATE goes out when what a pool wants (name, zone, server, key, TTL, addresses) differs from what
// was last published successfully: once at start, then on every change. A failure is retried with
// backoff (sooner when what the pool wants changes again) and shown on the pool's page (status()). A
// pool that leaves DNS mode has its records deleted. Members known by a host name are published with
// the addresses it resolves to (ResolveHost, cached a minute). The state lives in memory: a restarted
// master publishes every pool again, which is what makes the server's records ours again.
import { canonicalIp } from "../../core/cidr.ts";
import {
  normalizeName,
  type RecordSet,
  signedUpdate,
  TSIG_ALGORITHMS,
  type TsigAlgorithm,
  type TsigKey,
  tsigSecret,
  verifyUpdateAnswer,
} from "../../core/dns_update.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import type { DnsExchange } from "../dns_tcp.ts";

/** One DNS-mode pool as the pool service sees it now (PoolService.dnsTargets). */
export type PoolDnsTarget = {
  interfaceId: number;
  /** The pool's DNS name, e.g. "vpn.example.com". */
  name: string;
  zone: string;
  /** The authoritative server: "host:port", "host" (53) or "[v6]:port". */
  server: string;
  tsig: { name: string; algorithm: string; secret: string };
  ttl: number;
  /** Public addresses of the pool's healthy, undrained members. */
  addresses: string[];
  /** Healthy members known by a host name: their addresses are resolved (ResolveHost) and published. */
  hostnames?: string[];
};
export type DnsTargets = (now: number) => PoolDnsTarget[] | Promise<PoolDnsTarget[]>;
/** A host name's A and AAAA addresses (the real one is realResolveHost, core/ports/real.ts); [] when it has none. */
export type ResolveHost = (host: string) => Promise<string[]>;

export type PoolDnsOptions = {
  /** Deadline of one exchange with the server. */
  timeoutMs: number;
  /** Retry after a failure: retryMinMs, doubling up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Attempts to delete the records of a pool that left DNS mode before giving up. */
  removeAttempts: number;
  /** How long a member's resolved host name is used before it is resolved again. */
  resolveEveryMs: number;
};
export const DEFAULT_POOL_DNS_OPTIONS: PoolDnsOptions = {
  timeoutMs: 5_000,
  retryMinMs: 2_000,
  retryMaxMs: 60_000,
  removeAttempts: 5,
  resolveEveryMs: 60_000,
};

/** What the pool page shows. */
export type PoolDnsStatus = {
  name: string;
  server: string;
  /** The addresses the server holds since our last successful update (null before the first). */
  published: string[] | null;
  publishedAt: number | null;
  /** The addresses the pool wants published now. */
  wanted: string[];
  lastAttemptAt: number | null;
  /** Why the last attempt failed; null after a success. */
  lastError: string | null;
  failures: number;
  nextAttemptAt: number | null;
};

type Want = { target: PoolDnsTarget; key: string; addresses: string[] };
type State = {
  want: Want;
  published: Want | null;
  publishedAt: number | null;
  lastAttemptAt: number | null;
  lastError: string | null;
  failures: number;
  /** The wanted key that failed, and when to try it again. */
  failedKey: string | null;
  nextAttemptAt: number | null;
  /** Set when the pool is no longer in DNS mode: its records are being deleted. */
  removing: boolean;
};

function wantOf(t: PoolDnsTarget): Want {
  const addresses = [
    ...new Set(t.addresses.map((a) => {
      try {
        return canonicalIp(a);
      } catch {
        return a; // reported by the attempt
      }
    })),
  ].sort();
  const key = JSON.stringify([
    normalizeName(t.name),
    normalizeName(t.zone),
    t.server,
    normalizeName(t.tsig.name),
    t.tsig.algorithm,
    t.tsig.secret,
    t.ttl,
    addresses,
    [...(t.hostnames ?? [])].sort(),
  ]);
  return { target: structuredClone(t), key, addresses }; // a snapshot: the caller may reuse its objects
}

const message = (err: unknown) => err instanceof Error ? err.message : String(err);
const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

export class PoolDnsPublisher {
  #states = new Map<number, State>();
  #running: Promise<void> | null = null;
  #again = false;
  #resolved = new Map<string, { at: number; addresses: string[] }>();
  private readonly opts: PoolDnsOptions;

  constructor(
    private readonly targets: DnsTargets,
    private readonly exchange: DnsExchange,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: Partial<PoolDnsOptions> = {},
    /** Without it, members known by a host name are not published (logged with the records). */
    private readonly resolve: ResolveHost | null = null,
  ) {
    this.opts = { ...DEFAULT_POOL_DNS_OPTIONS, ...opts };
  }

  /** Starts a publishing round unless one is running (then one more follows it). Never throws. */
  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.publishDue();
      } while (this.#again);
    })().finally(() => this.#running = null);
  }

  /** Resolves when no round is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** One round: every pool whose wanted records differ from the published ones and whose retry is due. */
  async publishDue(): Promise<number> {
    const now = this.clock.now();
    let targets: PoolDnsTarget[];
    try {
      targets = await this.targets(now);
    } catch (err) {
      this.log.error("cannot list the pools to publish in DNS", { err: message(err) });
      return 0;
    }
    const seen = new Set<number>();
    for (const t of await Promise.all(targets.map((t) => this.#withResolved(t, now)))) {
      seen.add(t.interfaceId);
      const want = wantOf(t);
      const s = this.#states.get(t.interfaceId);
      if (!s) {
        this.#states.set(t.interfaceId, {
          want,
          published: null,
          publishedAt: null,
          lastAttemptAt: null,
          lastError: null,
          failures: 0,
          failedKey: null,
          nextAttemptAt: null,
          removing: false,
        });
      } else {
        s.want = want;
        s.removing = false;
      }
    }
    for (const [id, s] of this.#states) {
      if (!seen.has(id) && !s.removing) {
        if (!s.published || s.published.addresses.length === 0) {
          this.#states.delete(id); // nothing of ours on the server
          continue;
        }
        // Left DNS mode (or was deleted): make its name list nothing, then forget it.
        const target = { ...s.published.target, addresses: [] };
        Object.assign(s, { want: wantOf(target), removing: true, failures: 0, failedKey: null });
      }
    }
    const due = [...this.#states].filter(([, s]) =>
      s.published?.key !== s.want.key &&
      (s.failedKey !== s.want.key || s.nextAttemptAt === null || now >= s.nextAttemptAt)
    );
    await Promise.all(due.map(([id, s]) => this.#publish(id, s)));
    return due.length;
  }

  /** The target with its members' host names resolved into addresses (cached for resolveEveryMs). */
  async #withResolved(t: PoolDnsTarget, now: number): Promise<PoolDnsTarget> {
    const resolve = this.resolve;
    if (!resolve || !t.hostnames?.length) return t;
    const found = await Promise.all(t.hostnames.map(async (host) => {
      const cached = this.#resolved.get(host);
      if (cached && now - cached.at < this.opts.resolveEveryMs) return cached.addresses;
      let addresses = cached?.addresses ?? [];
      try {
        addresses = (await resolve(host)).map((a) => canonicalIp(a)).sort();
        if (addresses.length === 0) this.log.warn("pool member's host name has no address", { host });
      } catch (err) {
        this.log.warn("cannot resolve a pool member's host name", {
          host,
          err: message(err),
          keeping: addresses.join(",") || "none",
        });
      }
      this.#resolved.set(host, { at: now, addresses });
      return addresses;
    }));
    return { ...t, addresses: [...t.addresses, ...found.flat()], hostnames: [] };
  }

  async #publish(id: number, s: State): Promise<void> {
    const { target: t, key, addresses } = s.want;
    const prev = s.published?.target;
    // A renamed pool: its former name is deleted in the same message (same zone, server and key).
    const renamed = prev && normalizeName(prev.name) !== normalizeName(t.name) &&
      normalizeName(prev.zone) === normalizeName(t.zone) && prev.server === t.server &&
      normalizeName(prev.tsig.name) === normalizeName(t.tsig.name);
    const set: RecordSet = {
      zone: t.zone,
      name: t.name,
      ttl: t.ttl,
      addresses,
      ...(renamed ? { alsoDelete: [prev.name] } : {}),
    };
    const started = this.clock.now();
    s.lastAttemptAt = started;
    let error: string | null = null;
    let rcode = "";
    try {
      const tsig = tsigKey(t);
      const id16 = crypto.getRandomValues(new Uint16Array(1))[0]!;
      const request = signedUpdate(set, tsig, id16, started);
      const answer = await this.exchange(t.server, request.message, this.opts.timeoutMs);
      const outcome = verifyUpdateAnswer(answer, request, set, tsig, this.clock.now());
      if (!outcome.ok) [error, rcode] = [outcome.error, outcome.rcode];
    } catch (err) {
      error = message(err);
    }
    if (s.want.key !== key) return; // wanted something else meanwhile: the next round decides
    const fields = { pool: normalizeName(t.name), server: t.server };
    if (error === null) {
      if (s.failures > 0) {
        this.log.info("pool DNS update succeeded again", { ...fields, after_failures: s.failures });
      }
      this.log.info(s.removing ? "pool DNS records removed" : "pool DNS records published", {
        ...fields,
        addresses: addresses.join(",") || "none",
        ttl: t.ttl,
        ...(t.hostnames?.length ? { not_published_host_names: t.hostnames.join(",") } : {}),
        ms: this.clock.now() - started,
      });
      if (!s.removing && addresses.length === 0) {
        this.log.warn("pool DNS name lists no address: no healthy member", fields);
      }
      if (s.removing) {
        this.#states.delete(id);
        return;
      }
      Object.assign(s, {
        published: s.want,
        publishedAt: this.clock.now(),
        lastError: null,
        failures: 0,
        failedKey: null,
        nextAttemptAt: null,
      });
      return;
    }
    const failures = s.failures + 1;
    const wait = Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.min(failures - 1, 20));
    this.log.warn(s.removing ? "pool DNS records not removed" : "pool DNS update failed", {
      ...fields,
      ...(rcode ? { rcode } : {}),
      error,
      failures,
      retry_in: seconds(wait),
    });
    if (s.removing && failures >= this.opts.removeAttempts) {
      this.log.error("giving up removing pool DNS records", { ...fields, failures });
      this.#states.delete(id);
      return;
    }
    Object.assign(s, {
      lastError: `${t.server}: ${
        error.startsWith(`${t.server}: `) ? error.slice(t.server.length + 2) : error
      }`,
      failures,
      failedKey: key,
      nextAttemptAt: this.clock.now() + wait,
    });
  }

  /** The pool page's view of a pool's DNS publishing; null for a pool not (yet) in DNS mode. */
  status(interfaceId: number): PoolDnsStatus | null {
    const s = this.#states.get(interfaceId);
    if (!s || s.removing) return null;
    return {
      name: normalizeName(s.want.target.name),
      server: s.want.target.server,
      published: s.published ? [...s.published.addresses] : null,
      publishedAt: s.publishedAt,
      wanted: [...s.want.addresses],
      lastAttemptAt: s.lastAttemptAt,
      lastError: s.lastError,
      failures: s.failures,
      nextAttemptAt: s.nextAttemptAt,
    };
  }
}

function tsigKey(t: PoolDnsTarget): TsigKey {
  const algorithm = t.tsig.algorithm.toLowerCase().replace(/\.$/, "");
  if (!TSIG_ALGORITHMS.includes(algorithm as TsigAlgorithm)) {
    throw new RangeError(`TSIG algorithm "${t.tsig.algorithm}" is not one of ${TSIG_ALGORITHMS.join(", ")}`);
  }
  return { name: t.tsig.name, algorithm: algorithm as TsigAlgorithm, secret: tsigSecret(t.tsig.secret) };
}
