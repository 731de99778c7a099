// Issue 16 against the real wirebuddy-master program on loopback: parallel logins (memory and the login
// lock), oversized bodies, held connections (never-TLS, idle, slowloris, keep-alive), the per-address
// cap, and a read-only database at start.
import assert from "node:assert/strict";
import { isRoot } from "../support/netns.ts";
import {
  freePort,
  type Running,
  runProgram,
  startProgram,
  tlsClient,
  withDeadline,
} from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const SECRET = "integration-secret-0123456789-abcdefghijkl";
const ADMIN_PW = "a good long admin password";
const enc = (text: string) => new TextEncoder().encode(text);

type Master = {
  port: number;
  base: string;
  cert: string | null;
  client: Deno.HttpClient;
  proc: Running;
};

async function withMaster(extraEnv: Record<string, string>, fn: (m: Master) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "wb-abuse-" });
  const port = freePort();
  const env: Record<string, string> = {
    WIREBUDDY_DATA_DIR: dir,
    WIREBUDDY_SECRET_KEY: SECRET,
    WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
    ...extraEnv,
  };
  try {
    const created = await runProgram("master", ["admin", "create", "--username", "root"], env, ADMIN_PW);
    assert.equal(created.code, 0, created.output);
    const proc = await startProgram("master", ["serve"], env);
    try {
      await waitFor(
        "the master to listen",
        () => proc.output().includes("WireBuddy master listening"),
        { timeoutMs: 20_000 },
      );
      const tls = env.WIREBUDDY_TLS !== "off";
      const cert = tls ? await Deno.readTextFile(`${dir}/tls/cert.pem`) : null;
      const client = cert ? tlsClient(cert) : Deno.createHttpClient({});
      try {
        await fn({ port, base: `${tls ? "https" : "http"}://127.0.0.1:${port}`, cert, client, proc });
      } finally {
        client.close();
      }
    } finally {
      await proc.stop("SIGTERM");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The peak resident memory of a process so far (VmHWM), in MiB. */
async function peakMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) / 1024;
}

function loginForm(m: Master, username: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${m.base}/login`, {
    method: "POST",
    client: m.client,
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: m.base, ...headers },
    body: new URLSearchParams({ username, password }),
  }).then(async (res) => {
    await res.body?.cancel();
    return res.status;
  });
}

Deno.test("40 parallel logins from 40 addresses: the master stays under 300 MB (hashing is bounded)", async () => {
  // Behind a trusted proxy on loopback, X-Forwarded-For gives each login its own address, so the login
  // lock does not stop them: only the bound on hashing does.
  await withMaster({ WIREBUDDY_TLS: "off", WIREBUDDY_TRUST_PROXY: "true" }, async (m) => {
    const base = await peakMiB(m.proc.pid);
    const statuses = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => loginForm(m, `ghost${i}`, "wrong password", { "x-forwarded-for": `203.0.113.${i + 1}` }),
      ),
    );
    const peak = await peakMiB(m.proc.pid);
    assert.ok(statuses.every((s) => s === 401 || s === 503), statuses.join(","));
    assert.ok(statuses.includes(503), `the queue overflowed into 503s: ${statuses.join(",")}`);
    assert.ok(peak < 300, `peak RSS ${peak.toFixed(0)} MiB (before: ${base.toFixed(0)} MiB)`);
  });
});

Deno.test("40 parallel guesses for one user over real connections: exactly 5 are evaluated", async () => {
  await withMaster({}, async (m) => {
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => loginForm(m, "root", `wrong guess ${i}`)),
    );
    assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(","));
    assert.equal(statuses.filter((s) => s === 429).length, 35, statuses.join(","));
    // The lock holds for the right password too.
    assert.equal(await loginForm(m, "root", ADMIN_PW), 429);
  });
});

/** POSTs a 200 MiB body over a raw TLS connection until the master answers; returns its status line. */
async function hugePost(m: Master, path: string, type: string, chunked: boolean): Promise<number> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: m.port, caCerts: [m.cert!] });
  const total = 200 << 20;
  await conn.write(enc(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${m.port}\r\nOrigin: ${m.base}\r\nContent-Type: ${type}\r\n` +
      (chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${total}\r\n`) + "\r\n",
  ));
  let answered = false;
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    answered = true;
    return n ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  })();
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const framed = chunked ? new Uint8Array([...enc("10000\r\n"), ...chunk, ...enc("\r\n")]) : chunk;
  const writing = (async () => {
    for (let sent = 0; !answered && sent < total; sent += chunk.length) {
      // conn.write() may write only part of the buffer.
      for (let off = 0; off < framed.length;) off += await conn.write(framed.subarray(off));
    }
  })();
  try {
    const head = await withDeadline(reading.catch(() => ""), 60_000, `the answer to ${path}`);
    return Number(head.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
  } finally {
    conn.close();
    await writing.catch(() => {});
  }
}

Deno.test("200 MiB bodies to every unauthenticated route get 413 without growing the master", async () => {
  await withMaster({}, async (m) => {
    const base = await peakMiB(m.proc.pid);
    const form = "application/x-www-form-urlencoded";
    const json = "application/json";
    for (
      const [path, type] of [
        ["/login", form],
        ["/setup", form],
        ["/api/sync/enroll", json],
        ["/api/sync/heartbeat", json],
        ["/api/users", json],
      ] as const
    ) {
      for (const chunked of [false, true]) {
        assert.equal(await hugePost(m, path, type, chunked), 413, `${path} chunked=${chunked}`);
      }
    }
    const peak = await peakMiB(m.proc.pid);
    assert.ok(peak - base < 100, `peak RSS grew from ${base.toFixed(0)} to ${peak.toFixed(0)} MiB`);
  });
});

/** Milliseconds until the master closes `conn` (reading and discarding), or Infinity after `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number, started: number): Promise<number> {
  const buf = new Uint8Array(16 * 1024);
  const closed = (async () => {
    try {
      while ((await conn.read(buf)) !== null) { /* discard */ }
    } catch {
      // reset: closed as well
    }
    return Date.now() - started;
  })();
  try {
    return await withDeadline(closed, ms, "the close");
  } catch {
    return Infinity;
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
    await closed;
  }
}

Deno.test("never-TLS, idle, slowloris and idle keep-alive connections are closed within their timeouts", async () => {
  const limits = {
    WIREBUDDY_HANDSHAKE_TIMEOUT: "1s",
    WIREBUDDY_HEADER_TIMEOUT: "1500ms",
    WIREBUDDY_IDLE_TIMEOUT: "2s",
  };
  await withMaster(limits, async (m) => {
    const tls = async () => {
      const c = await Deno.connectTls({ hostname: "127.0.0.1", port: m.port, caCerts: [m.cert!] });
      await c.handshake();
      return c;
    };
    const started = Date.now();
    const never = await Promise.all(
      Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port: m.port })),
    );
    const idle = await Promise.all(Array.from({ length: 20 }, tls));
    const slow = await Promise.all(Array.from({ length: 20 }, tls));
    for (const c of slow) await c.write(enc("GET /login HTTP/1.1\r\nHost: x\r\n"));
    const drip = setInterval(() => {
      for (const c of slow) c.write(enc("X-Slow: 1\r\n")).catch(() => {});
    }, 200);
    const kept = await tls();
    await kept.write(enc(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${m.port}\r\n\r\n`));
    try {
      const [n, i, s, k] = await Promise.all([
        Promise.all(never.map((c) => closedWithin(c, 8_000, started))),
        Promise.all(idle.map((c) => closedWithin(c, 8_000, started))),
        Promise.all(slow.map((c) => closedWithin(c, 8_000, started))),
        closedWithin(kept, 8_000, started),
      ]);
      const slack = 1_500;
      assert.ok(Math.max(...n) < 1_000 + slack, `never-TLS closed after ${Math.max(...n)} ms`);
      assert.ok(Math.max(...i) < 1_500 + slack, `idle TLS closed after ${Math.max(...i)} ms`);
      assert.ok(Math.max(...s) < 1_500 + slack, `slowloris closed after ${Math.max(...s)} ms`);
      assert.ok(k >= 2_000 && k < 2_000 + slack, `idle keep-alive closed after ${k} ms`);
    } finally {
      clearInterval(drip);
    }
    // The master still serves.
    const res = await fetch(`${m.base}/api/health`, { client: m.client });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

Deno.test("one address may hold at most WIREBUDDY_MAX_CONNECTIONS_PER_ADDRESS connections", async () => {
  await withMaster({ WIREBUDDY_MAX_CONNECTIONS_PER_ADDRESS: "10" }, async (m) => {
    const held = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = await Deno.connectTls({ hostname: "127.0.0.1", port: m.port, caCerts: [m.cert!] });
        await c.handshake();
        return c;
      }),
    );
    try {
      const refused = await Promise.all(Array.from({ length: 5 }, async () => {
        const c = await Deno.connectTls({ hostname: "127.0.0.1", port: m.port, caCerts: [m.cert!] });
        try {
          await c.handshake();
          return await closedWithin(c, 3_000, Date.now());
        } catch {
          c.close();
          return 0;
        }
      }));
      assert.ok(refused.every((ms) => ms < 1_000), `the extra connections were closed: ${refused.join(",")}`);
      // The held ones still work.
      await held[0]!.write(enc(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${m.port}\r\n\r\n`));
      const buf = new Uint8Array(512);
      const n = await held[0]!.read(buf);
      assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
    } finally {
      for (const c of held) c.close();
    }
    // Once they are closed, the address may connect again.
    await waitFor("a new connection to be served", async () => {
      const res = await fetch(`${m.base}/api/health`, { client: m.client });
      await res.body?.cancel();
      return res.status === 200;
    }, { timeoutMs: 5_000 });
  });
});

Deno.test({
  name: "a read-only database stops the master with exit 78 and a message naming it",
  ignore: !isRoot(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "wb-ro-" });
    try {
      const env = {
        WIREBUDDY_DATA_DIR: dir,
        WIREBUDDY_SECRET_KEY: SECRET,
        WIREBUDDY_LISTEN: `127.0.0.1:${freePort()}`,
      };
      const created = await runProgram("master", ["admin", "create", "--username", "root"], env, ADMIN_PW);
      assert.equal(created.code, 0, created.output);
      const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      // The database file mounted read-only in a private mount namespace (root may write any file, so
      // a read-only bind mount stands in for a file the service user cannot write); its directory stays
      // writable, as it does for a database restored with the wrong owner.
      const proc = await startProgram("master", ["serve"], env, {
        wrap: [
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount --bind -o ro "$0" "$0" && exec "$@"',
          `${dir}/wirebuddy.db`,
        ],
      });
      let exited: Deno.CommandStatus | null = null;
      proc.status.then((s) => (exited = s));
      await waitFor(
        "the master to exit (or to listen)",
        () => exited !== null || proc.output().includes("WireBuddy master listening"),
        { timeoutMs: 20_000 },
      );
      const status = exited ?? await proc.stop();
      assert.ok(exited !== null, `the master started on a read-only database:\n${proc.output()}`);
      assert.equal(status.code, 78, proc.output());
      assert.match(proc.output(), new RegExp(`The database ${dir}/wirebuddy\\.db is read-only`));
      assert.doesNotMatch(proc.output(), /listening/);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
        before,
        "no file was added (no read-only -wal or -shm left behind)",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
