// An in-memory master for HTTP tests through app.request(): real services and SQLite (":memory:"),
// a fake clock, cheap scrypt, and helpers to log in and make API tokens.
import { createApp } from "../../src/master/app.tsx";
import { openDb } from "../../src/master/db/db.ts";
import { initSecrets } from "../../src/master/service/secrets.ts";
import { createServices, type ServiceOptions, type Services } from "../../src/master/service/services.ts";
import { metaRepo } from "../../src/master/db/audit_repo.ts";
import type { HostState } from "../../src/core/host_state.ts";
import { hostStateFromNodeConfig } from "../../src/core/node_config.ts";
import { memoryLogger } from "../../src/core/logger.ts";
import { FakeClock } from "./fakes.ts";

export const ORIGIN = "https://wb.test:8443";
export const TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop";
export const PASSWORD = "correct horse battery";

export type TestMaster = Awaited<ReturnType<typeof testMaster>>;

export async function testMaster(
  opts: {
    sessionTtlMs?: number;
    settings?: { label: string; value: string; env: string }[];
    /** Fleet health: options, and the probe and fetch the services reach the world with. */
    services?: Pick<ServiceOptions, "fleet" | "ports" | "nodes" | "signIn" | "dns" | "tls" | "makeTlsCert">;
  } = {},
) {
  const clock = new FakeClock();
  const log = memoryLogger();
  const db = openDb(":memory:", clock.now());
  const keys = await initSecrets(db, TEST_SECRET);
  const services: Services = await createServices(db, clock, keys, log, {
    sessionTtlMs: opts.sessionTtlMs ?? 12 * 3_600_000,
    scryptCost: { N: 1024, r: 8, p: 1 },
    publicHost: "vpn.example.com",
    publicUrl: new URL(ORIGIN),
    tls: null,
    ...opts.services,
  });
  const app = createApp(services, {
    publicUrl: new URL(ORIGIN),
    trustProxy: false,
    ...(opts.settings ? { settings: opts.settings } : {}),
  });

  /** A request as a browser on our own origin (Origin header on unsafe methods) from `ip`. */
  const request = (
    path: string,
    init: RequestInit & { ip?: string; cookie?: string; origin?: string | null } = {},
  ) => {
    const headers = new Headers(init.headers);
    const method = (init.method ?? "GET").toUpperCase();
    if (init.origin !== null && !["GET", "HEAD"].includes(method) && !headers.has("origin")) {
      headers.set("origin", init.origin ?? ORIGIN);
    }
    if (init.cookie) headers.set("cookie", init.cookie);
    return app.request(`${ORIGIN}${path}`, { ...init, headers }, { remoteAddr: init.ip ?? "198.51.100.7" });
  };

  const form = (path: string, fields: Record<string, string>, init: Parameters<typeof request>[1] = {}) =>
    request(path, {
      ...init,
      method: "POST",
      body: new URLSearchParams(fields),
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(init.headers as Record<string, string> ?? {}),
      },
    });

  const api = (path: string, init: { method?: string; token?: string; json?: unknown; ip?: string } = {}) =>
    app.request(`${ORIGIN}/api${path}`, {
      method: init.method ?? "GET",
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.json !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    }, { remoteAddr: init.ip ?? "198.51.100.8" });

  const system = { kind: "system" as const, name: "test" };

  async function addUser(username: string, role: "admin" | "viewer", password = PASSWORD) {
    return await services.accounts.create(system, null, { username, password, role });
  }

  /** Logs in through POST /login and returns the session cookie ("name=value"). */
  async function login(username: string, password = PASSWORD, ip?: string): Promise<string> {
    const res = await form("/login", { username, password }, ip ? { ip } : {});
    if (res.status !== 303) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    const cookie = res.headers.get("set-cookie") ?? "";
    return cookie.split(";")[0]!;
  }

  /** A new API token of the admin `owner` (created if missing) with the given scope. */
  async function token(scope: "read" | "write", owner = "api-admin") {
    const user = services.accounts.list().find((u) => u.username === owner) ?? await addUser(owner, "admin");
    const actor = {
      kind: "user" as const,
      userId: user.id,
      username: user.username,
      role: user.role,
      sessionHash: "",
    };
    const created = await services.tokens.create(actor, null, {
      name: `${scope}-${crypto.randomUUID().slice(0, 6)}`,
      scope,
    });
    return created.token;
  }

  /** The desired data plane of the master's own host (its `local` node), as the engine takes it. */
  async function hostState(): Promise<HostState> {
    const local = services.nodes.list().find((n) => n.isLocal);
    if (!local) throw new Error("the local node does not exist yet");
    return hostStateFromNodeConfig(await services.sync.config(local.id), {});
  }

  /** The key nodes verify the master's signed answers with (SPKI, base64). */
  const verifyKey = () => metaRepo.get(db, "sync_verify_key");

  return {
    app,
    services,
    db,
    clock,
    log,
    request,
    form,
    api,
    addUser,
    login,
    token,
    hostState,
    verifyKey,
    keys,
    close: () => db.close(),
  };
}
