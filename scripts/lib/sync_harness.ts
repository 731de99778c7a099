// A master and one node in one process for sync measurements: the real master services and HTTP app
// served by Deno.serve over TLS on loopback, and the real node agent with a recording engine (the
// data plane is measured separately by scripts/bench-apply). Used by bench-propagation and sync-bytes.
import { createApp } from "../../src/master/app.tsx";
import { openDb } from "../../src/master/db/db.ts";
import { initSecrets } from "../../src/master/service/secrets.ts";
import { createServices, type Services } from "../../src/master/service/services.ts";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import { realClock } from "../../src/core/ports/real.ts";
import { selfSignedCert } from "../../src/core/x509.ts";
import type { HostState } from "../../src/core/host_state.ts";
import { Secret } from "../../src/core/secret.ts";
import { runAgent } from "../../src/node/agent.ts";
import { MetricsQueue } from "../../src/node/metrics/queue.ts";
import { NodeState } from "../../src/node/state.ts";
import type { Engine, ReconcileResult } from "../../src/node/reconcile/engine.ts";
import type { FetchFactory, HttpFetch } from "../../src/node/sync_client.ts";
import { realFs } from "../../src/core/ports/real.ts";

export class RecordingEngine implements Engine {
  readonly applied: { at: number; state: HostState }[] = [];
  #waiters: (() => void)[] = [];
  reconcileOnce(desired: HostState): Promise<ReconcileResult> {
    this.applied.push({ at: performance.now(), state: desired });
    for (const w of this.#waiters.splice(0)) w();
    return Promise.resolve({ ok: true, planned: 0, commands: 0, warnings: [] });
  }
  async until(check: (s: HostState) => boolean, timeoutMs = 10_000): Promise<number> {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      const hit = this.applied.find((a) => check(a.state));
      if (hit) return hit.at;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
    throw new Error("timed out waiting for the node to apply a change");
  }
}

export type Harness = {
  services: Services;
  token: string;
  iface: { id: number };
  node: { id: number };
  engine: RecordingEngine;
  api: (
    method: string,
    path: string,
    json?: unknown,
  ) => Promise<{ status: number; body: Record<string, unknown> }>;
  stop: () => Promise<void>;
};

export type HarnessOptions = {
  heartbeatMs: number;
  configWaitMs: number;
  metricsMs: number;
  count?: (req: number, res: number) => void;
};

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "wb-sync-" });
  const quiet: Logger = createLogger({ sink: () => {}, level: "error" });
  const db = openDb(`${dir}/master.db`, Date.now());
  const keys = await initSecrets(db, "bench-secret-0123456789-abcdefghijklmnop");
  const publicUrl = new URL("https://127.0.0.1:0");
  const cert = await selfSignedCert("127.0.0.1", { ip: ["127.0.0.1"] }, new Date());
  const ac = new AbortController();
  let port = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    signal: ac.signal,
    onListen: (a) => {
      port = a.port;
    },
  }, (req, info) => app.fetch(req, { remoteAddr: (info.remoteAddr as Deno.NetAddr).hostname }));
  while (port === 0) await new Promise((r) => setTimeout(r, 5));
  publicUrl.port = String(port);
  const services = await createServices(db, realClock, keys, quiet, {
    sessionTtlMs: 3_600_000,
    publicHost: "127.0.0.1",
    publicUrl,
    tls: { cert: cert.certPem, fingerprint: cert.fingerprint },
  });
  const app = createApp(services, { publicUrl, trustProxy: false });

  const system = { kind: "system" as const, name: "bench" };
  const admin = await services.accounts.create(system, null, {
    username: "bench",
    password: "bench password 123",
    role: "admin",
  });
  const actor = {
    kind: "user" as const,
    userId: admin.id,
    username: "bench",
    role: "admin" as const,
    sessionHash: "",
  };
  const { token } = await services.tokens.create(actor, null, { name: "bench", scope: "write" });
  const api = async (method: string, path: string, json?: unknown) => {
    const res = await app.request(`https://127.0.0.1:${port}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json ? { "content-type": "application/json" } : {}) },
      ...(json ? { body: JSON.stringify(json) } : {}),
    }, { remoteAddr: "127.0.0.1" });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  };
  const iface =
    (await api("POST", "/interfaces", { name: "wg0", ipv4_pool: "10.13.13.0/24", listen_port: 51820 }))
      .body as { id: number };
  const made = (await api("POST", "/nodes", { name: "n1", fqdn: "n1.example.com" })).body as {
    id: number;
    enrollment_token: string;
  };

  const client = Deno.createHttpClient({ caCerts: [cert.certPem] });
  const fetchFor: FetchFactory = () => {
    const f: HttpFetch = async (url, init) => {
      const res = await fetch(url, { ...init, client });
      if (opts.count) {
        const body = typeof init.body === "string" ? init.body : "";
        const reqHeaders = Object.entries(init.headers as Record<string, string>).map(([k, v]) =>
          `${k}: ${v}\r\n`
        ).join("");
        const u = new URL(url);
        const reqBytes =
          `${init.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n${reqHeaders}` +
          (body ? `content-length: ${body.length}\r\n` : "") + "\r\n" + body;
        const text = await res.clone().text();
        let resHeaders = "";
        res.headers.forEach((v, k) => (resHeaders += `${k}: ${v}\r\n`));
        const resBytes = `HTTP/1.1 ${res.status} OK\r\n${resHeaders}\r\n${text}`;
        opts.count(new TextEncoder().encode(reqBytes).length, new TextEncoder().encode(resBytes).length);
      }
      return res;
    };
    return f;
  };
  const engine = new RecordingEngine();
  const queue = new MetricsQueue(`${dir}/queue.db`, 10_000);
  const stopAgent = new AbortController();
  const exec = { run: () => Promise.resolve({ code: 0, stdout: "", stderr: "" }) };
  const agent = runAgent({
    exec,
    clock: realClock,
    log: quiet,
    fetchFor,
    engine,
    state: new NodeState(realFs, `${dir}/node`),
    queue,
    hostname: "bench",
    version: "bench",
  }, {
    token: new Secret(made.enrollment_token),
    dataDir: `${dir}/node`,
    masterUrl: null,
    wgImpl: "userspace",
    heartbeatMs: opts.heartbeatMs,
    metricsMs: opts.metricsMs,
    reconcileMs: 3_600_000,
    driftMs: 60_000,
    configWaitMs: opts.configWaitMs,
    requestTimeoutMs: 10_000,
    wireguardGoDir: null,
    backoffMinMs: 100,
    backoffMaxMs: 1000,
    queueMax: 10_000,
    logLevel: "error",
  }, stopAgent.signal);
  await engine.until((s) => s.interfaces.length > 0);
  return {
    services,
    token,
    iface,
    node: made,
    engine,
    api,
    stop: async () => {
      stopAgent.abort();
      await agent;
      queue.close();
      client.close();
      ac.abort();
      await server.finished;
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
