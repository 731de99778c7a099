// Blocklists: parsing the three formats operators meet (hosts files, plain domain lists, AdGuard DNS
// rules `||domain^` with `@@` exceptions) into validated domains, and fetching a list by URL with a size
// cap and a deadline. Parsing is pure; the fetch takes the `fetch` it is given.
import { AppError } from "../../core/errors.ts";

/** Lowercase ASCII names of up to 253 characters, labels of 1-63 letters, digits, `-` or `_`, 2+ labels. */
const DOMAIN =
  /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTS_SINKS = new Set(["0.0.0.0", "127.0.0.1", "::", "::1", "0:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1"]);
const HOSTS_IGNORED = new Set([
  "localhost",
  "localhost.localdomain",
  "local",
  "broadcasthost",
  "ip6-localhost",
  "ip6-loopback",
  "ip6-localnet",
  "ip6-mcastprefix",
  "ip6-allnodes",
  "ip6-allrouters",
  "ip6-allhosts",
  "0.0.0.0",
]);
/** AdGuard modifiers that keep the rule's meaning for a DNS resolver; any other makes us skip the line. */
const ADGUARD_OK_MODIFIERS = new Set(["important", "all"]);

/** True for a domain exactly as we store it (what normalizeDomain returns). */
export const isDomain = (d: string) => DOMAIN.test(d);

/** A domain as we store it (lowercase, no trailing dot), or null when it is not a valid name. */
export function normalizeDomain(input: string): string | null {
  const d = input.trim().toLowerCase().replace(/\.$/, "");
  return DOMAIN.test(d) ? d : null;
}

export type ParsedList = {
  /** Blocked domains, sorted and unique. */
  domains: string[];
  /** Domains from AdGuard `@@||domain^` exceptions, sorted and unique. */
  allow: string[];
  /** Lines that are neither a comment nor a rule we understand (line number and text, first 20). */
  invalid: { line: number; text: string }[];
  invalidCount: number;
  /** Rules we understand but do not apply (AdGuard modifiers, regexes, cosmetic rules). */
  unsupported: number;
};

function adguard(rule: string): { domain: string | null; unsupported: boolean } {
  const m = rule.match(/^\|\|([^\^$|/]+)\^?(?:\$(.*))?$/);
  if (!m) return { domain: null, unsupported: false };
  const modifiers = (m[2] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (modifiers.some((x) => !ADGUARD_OK_MODIFIERS.has(x))) return { domain: null, unsupported: true };
  return { domain: normalizeDomain(m[1]!), unsupported: false };
}

/** Parses a list in any of the three formats (mixed per line), counting what it cannot use. */
export function parseBlocklist(text: string): ParsedList {
  const domains = new Set<string>();
  const allow = new Set<string>();
  const invalid: ParsedList["invalid"] = [];
  let invalidCount = 0;
  let unsupported = 0;
  const bad = (line: number, raw: string) => {
    invalidCount++;
    if (invalid.length < 20) invalid.push({ line, text: raw.slice(0, 120) });
  };
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!") || /^\[adblock/i.test(line)) continue;
    if (line.startsWith("@@")) {
      const r = adguard(line.slice(2));
      if (r.domain) allow.add(r.domain);
      else if (r.unsupported) unsupported++;
      else bad(i + 1, raw);
      continue;
    }
    if (line.startsWith("||")) {
      const r = adguard(line);
      if (r.domain) domains.add(r.domain);
      else if (r.unsupported) unsupported++;
      else bad(i + 1, raw);
      continue;
    }
    if (line.startsWith("/") || line.includes("##") || line.includes("#@#")) {
      unsupported++; // regex and cosmetic rules
      continue;
    }
    const words = line.split(/\s+/);
    if (words.length >= 2 && HOSTS_SINKS.has(words[0]!)) {
      let ok = true;
      for (const w of words.slice(1)) {
        if (HOSTS_IGNORED.has(w.toLowerCase())) continue;
        const d = normalizeDomain(w);
        if (d) domains.add(d);
        else ok = false;
      }
      if (!ok) bad(i + 1, raw);
      continue;
    }
    const d = words.length === 1 ? normalizeDomain(words[0]!) : null;
    if (d) domains.add(d);
    else bad(i + 1, raw);
  }
  return { domains: [...domains].sort(), allow: [...allow].sort(), invalid, invalidCount, unsupported };
}

/** One sentence on what a parse skipped, or "" when it skipped nothing. */
export function skippedText(p: ParsedList): string {
  const parts: string[] = [];
  if (p.invalidCount > 0) {
    const first = p.invalid[0]!;
    parts.push(
      `skipped ${p.invalidCount} malformed line${
        p.invalidCount === 1 ? "" : "s"
      } (line ${first.line}: "${first.text}")`,
    );
  }
  if (p.unsupported > 0) {
    parts.push(`ignored ${p.unsupported} rule${p.unsupported === 1 ? "" : "s"} DNS cannot apply`);
  }
  return parts.join("; ");
}

/**
 * A list the service can store: at least one domain. A text with none is refused with the reason,
 * naming the first lines it could not read.
 */
export function requireDomains(p: ParsedList, source: string): void {
  if (p.domains.length > 0 || p.allow.length > 0) return;
  const first = p.invalid.slice(0, 3).map((x) => `line ${x.line}: "${x.text}"`).join("; ");
  throw new AppError(
    "validation",
    `The list from ${source} has no domain in hosts, plain or AdGuard (||domain^) format${
      first ? ` (${first})` : " (it is empty)"
    }`,
    { fields: [{ field: "content", message: "has no domain we can read" }] },
  );
}

export type FetchLimits = { maxBytes: number; timeoutMs: number };
export const DEFAULT_FETCH_LIMITS: FetchLimits = { maxBytes: 20 * 1024 * 1024, timeoutMs: 30_000 };

const mib = (n: number) => `${Math.round((n / 1048576) * 10) / 10} MiB`;

/** Downloads a list: http(s) only, at most maxBytes (checked while reading), within timeoutMs in all. */
export async function fetchList(
  fetchFn: typeof fetch,
  url: string,
  limits: FetchLimits = DEFAULT_FETCH_LIMITS,
): Promise<string> {
  const fail = (why: string, cause?: unknown) =>
    new AppError("validation", `Cannot fetch the list at ${url}: ${why}`, {
      fields: [{ field: "url", message: why }],
      ...(cause ? { cause } : {}),
    });
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), limits.timeoutMs);
  try {
    let res: Response;
    try {
      // Raced against the deadline too: a fetch that ignores its signal still ends on time.
      const aborted = new Promise<never>((_, reject) =>
        ctl.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true })
      );
      res = await Promise.race([fetchFn(url, { signal: ctl.signal, redirect: "follow" }), aborted]);
    } catch (err) {
      if (ctl.signal.aborted) throw fail(`no answer within ${limits.timeoutMs / 1000} s`, err);
      throw fail(err instanceof Error ? err.message : String(err), err);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw fail(`the server answered ${res.status} ${res.statusText}`.trim());
    }
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > limits.maxBytes) {
      await res.body?.cancel();
      throw fail(`it is ${mib(declared)}, larger than the ${mib(limits.maxBytes)} limit`);
    }
    const reader = res.body?.getReader();
    if (!reader) return "";
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > limits.maxBytes) {
          await reader.cancel();
          throw fail(`it is larger than the ${mib(limits.maxBytes)} limit`);
        }
        chunks.push(value);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (ctl.signal.aborted) throw fail(`not received within ${limits.timeoutMs / 1000} s`, err);
      throw fail(err instanceof Error ? err.message : String(err), err);
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    clearTimeout(timer);
  }
}
