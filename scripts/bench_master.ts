// deno-lint-ignore-file no-console
// scripts/bench-master: seeds 100,000 peers into a real SQLite file and prints, measured side by side in
// one run, the time of the peers page (a search and one page) and of rendering one host's desired state
// for 10,000 peers, each also as a ratio to a plain SELECT of the same rows.
// Goals (issue 4): peers page < 100 ms, desired state for 10,000 peers < 100 ms.
import { createApp } from "../src/master/app.tsx";
import { openDb } from "../src/master/db/db.ts";
import { initSecrets } from "../src/master/service/secrets.ts";
import { createServices } from "../src/master/service/services.ts";
import { hostStateFromNodeConfig } from "../src/core/node_config.ts";
import { createLogger } from "../src/core/logger.ts";
import { realClock } from "../src/core/ports/real.ts";
import { seal } from "../src/core/seal.ts";
import { generateKeyPair, generatePresharedKey } from "../src/core/wg_keys.ts";
import { formatIp, hostAddress } from "../src/core/cidr.ts";

const TOTAL = 100_000;
const LOCAL = 10_000;
const dir = await Deno.makeTempDir({ prefix: "wb-bench-" });
const log = createLogger({ sink: () => {}, level: "error" });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(fn: () => unknown, runs = 7): Promise<{ first: number; median: number }> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return { first: samples[0]!, median: median(samples.slice(1)) };
}

try {
  const db = openDb(`${dir}/bench.db`, Date.now());
  const keys = await initSecrets(db, "bench-secret-0123456789-abcdefghijklmnop");
  const s = await createServices(db, realClock, keys, log, {
    sessionTtlMs: 3_600_000,
    publicHost: "vpn.example.com",
    publicUrl: new URL("https://vpn.example.com:8443"),
  });
  const system = { kind: "system" as const, name: "bench" };
  const wg0 = await s.interfaces.create(system, null, {
    name: "wg0",
    ipv4_pool: "10.0.0.0/16",
    listen_port: 51820,
  });
  const wg1 = await s.interfaces.create(system, null, {
    name: "wg1",
    ipv4_pool: "10.2.0.0/15",
    listen_port: 51821,
  });
  db.run(
    "INSERT INTO nodes (name, fqdn, wg_port, created_at, updated_at) VALUES ('tokyo', 'jp.example.com', 51820, 1, 1)",
  );

  console.log(`seeding ${TOTAL} peers (${LOCAL} on the master's wg0, the rest on node tokyo) ...`);
  const t0 = performance.now();
  const pub = (await generateKeyPair()).publicKey;
  const rows: [number, number | null, string, string, string, string][] = [];
  for (let i = 0; i < TOTAL; i++) {
    const local = i < LOCAL;
    const ifaceAddr = local ? "10.0.0.0/16" : "10.2.0.0/15";
    const n = local ? i + 2 : i - LOCAL + 2;
    // Distinct synthetic public keys (valid base64 of 32 bytes) are enough for rendering.
    const key = btoa(
      String.fromCharCode(
        ...new Uint8Array(32).map((_, j) => j < 4 ? (i >> (8 * j)) & 255 : pub.charCodeAt(j)),
      ),
    );
    const psk = await seal(keys.sealKey, generatePresharedKey(), `peer:${key}:psk`);
    rows.push([
      local ? wg0.id : wg1.id,
      local ? null : 1,
      `device-${i}`,
      key,
      psk,
      `${formatIp(hostAddress(ifaceAddr, n))}/32`,
    ]);
  }
  db.tx(() => {
    for (const [iface, node, name, key, psk, ip] of rows) {
      db.run(
        `INSERT INTO peers (interface_id, node_id, name, public_key, psk_sealed, ipv4, routing, created_at, updated_at)
         VALUES (:iface, :node, :name, :key, :psk, :ip, 'full', 1, 1)`,
        { iface, node, name, key, psk, ip },
      );
    }
  });
  db.raw.exec("ANALYZE");
  console.log(`seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const app = createApp(s, { publicUrl: new URL("https://vpn.example.com:8443"), trustProxy: false });
  await s.accounts.create(system, null, { username: "bench", password: "bench password 123", role: "admin" });
  const signIn = await s.login.login({ ip: "127.0.0.1", userAgent: "bench" }, {
    username: "bench",
    password: "bench password 123",
  });
  if (signIn.kind !== "session") throw new Error("bench user has a second factor");
  const cookie = `__Host-wb_session=${signIn.session.token}`;
  const get = async (path: string) => {
    const res = await app.request(`https://vpn.example.com:8443${path}`, { headers: { cookie } }, {
      remoteAddr: "127.0.0.1",
    });
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    return await res.text();
  };
  const plainSearch = () =>
    db.raw.prepare("SELECT * FROM peers WHERE name LIKE '%device-777%' ORDER BY id LIMIT 50").all();
  const plainPage = () => db.raw.prepare("SELECT * FROM peers ORDER BY id LIMIT 50 OFFSET 50000").all();
  const plainHost = () =>
    db.raw.prepare(
      "SELECT id, public_key, psk_sealed, ipv4, ipv6 FROM peers WHERE interface_id = ? AND node_id IS NULL AND enabled = 1",
    )
      .all(wg0.id);

  // The peers page, once it lists peers (before the UI lands it is a placeholder: then the API is measured).
  const probe = await app.request("https://vpn.example.com:8443/ui/peers?q=device-777", {
    headers: { cookie },
  }, {
    remoteAddr: "127.0.0.1",
  });
  const uiPath = probe.status === 200 && (await probe.text()).includes("device-7770") ? "/ui/peers" : null;
  const results: [string, { first: number; median: number }, { first: number; median: number }, number][] =
    [];
  const pagePath = uiPath ?? "/api/peers";
  const apiCookie = uiPath ? null : await s.tokens.create(
    { kind: "user", userId: 1, username: "bench", role: "admin", sessionHash: "" },
    null,
    {
      name: "bench",
      scope: "read",
    },
  );
  const fetchPage = (query: string) =>
    apiCookie
      ? Promise.resolve(
        app.request(`https://vpn.example.com:8443/api/peers${query}`, {
          headers: { authorization: `Bearer ${apiCookie.token}` },
        }, { remoteAddr: "127.0.0.1" }),
      ).then((r) => r.text())
      : get(`${pagePath}${query}`);
  results.push([
    "peers page: search 'device-777'",
    await time(() => fetchPage("?q=device-777")),
    await time(plainSearch),
    100,
  ]);
  results.push([
    "peers page: page 1001 of 2000",
    await time(() => fetchPage("?page=1001&per_page=50")),
    await time(plainPage),
    100,
  ]);
  const localId = s.nodes.list().find((n) => n.isLocal)!.id;
  const hostState = async () => hostStateFromNodeConfig(await s.sync.config(localId), {});
  const host = await time(hostState);
  const state = await hostState();
  results.push([
    `desired state: ${state.interfaces[0]!.peers.length} peers`,
    host,
    await time(plainHost),
    100,
  ]);

  console.log(`\npeers page measured on ${pagePath} (rendered response, session auth included)`);
  console.log(
    "what                                   ours ms (first / median)   plain SELECT ms   ratio   goal",
  );
  for (const [what, ours, plain, goal] of results) {
    const ratio = ours.median / Math.max(plain.median, 0.001);
    console.log(
      `${what.padEnd(38)} ${ours.first.toFixed(1).padStart(8)} / ${ours.median.toFixed(1).padStart(6)}   ${
        plain.median.toFixed(2).padStart(12)
      }   ${ratio.toFixed(1).padStart(5)}x  ${ours.median < goal ? "< " : ">= "}${goal} ms ${
        ours.median < goal ? "ok" : "MISSED"
      }`,
    );
  }
  db.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
