// deno-lint-ignore-file no-console
// scripts/abuse: replays the resource attacks of issue 16 against a running master on loopback and prints
// what each did to it: the master's peak RSS (VmHWM, reset per case where the kernel allows) and its open
// connections (ESTABLISHED sockets on its port, sampled). Goals: peak RSS < 300 MB; every held connection
// closed within its timeout (WIREBUDDY_HANDSHAKE_TIMEOUT, _HEADER_TIMEOUT, _IDLE_TIMEOUT).
//
//   scripts/abuse URL [--cert FILE] [--pid PID] [--hold SECONDS] [--body-mib N] [--only CASE,...]
//
// The master is found by its listening port in /proc unless --pid is given. Cases: logins, bodies, conns.
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    cert: { type: "string" },
    pid: { type: "string" },
    hold: { type: "string", default: "75" },
    "body-mib": { type: "string", default: "200" },
    only: { type: "string", default: "logins,bodies,conns" },
  },
  allowPositionals: true,
});
const url = new URL(positionals[0] ?? "https://127.0.0.1:8443");
const host = url.hostname.replace(/^\[|\]$/g, "");
if (!["127.0.0.1", "::1", "localhost"].includes(host) && !host.startsWith("127.")) {
  console.error(`scripts/abuse only runs against a master on loopback, not ${url.host}`);
  Deno.exit(64);
}
const tls = url.protocol === "https:";
const port = Number(url.port || (tls ? 443 : 80));
const base = url.origin;
const certPath = values.cert ?? "data/tls/cert.pem";
const cert = tls ? await Deno.readTextFile(certPath) : "";
const cases = new Set(values.only!.split(","));
const enc = (text: string) => new TextEncoder().encode(text);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the master process: pid, memory, connections ------------------------------------------------

/** Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6. */
async function listeningInodes(): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[1]!.split(":")[1]!, 16) === port && f[3] === "0A") inodes.add(f[9]!);
    }
  }
  return inodes;
}

async function findPid(): Promise<number> {
  if (values.pid) return Number(values.pid);
  const inodes = await listeningInodes();
  for await (const proc of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(proc.name)) continue;
    try {
      for await (const fd of Deno.readDir(`/proc/${proc.name}/fd`)) {
        const link = await Deno.readLink(`/proc/${proc.name}/fd/${fd.name}`).catch(() => "");
        const m = link.match(/^socket:\[(\d+)\]$/);
        if (m && inodes.has(m[1]!)) return Number(proc.name);
      }
    } catch {
      // not ours to read, or gone
    }
  }
  throw new Error(`no process listens on port ${port} (pass --pid)`);
}

const pid = await findPid();
const kib = async (field: "VmHWM" | "VmRSS") => {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))![1]);
};
const mb = (k: number) => `${(k / 1024).toFixed(0)} MB`;
let overallPeak = await kib("VmHWM");

/** ESTABLISHED connections whose local port is the master's (deduplicated: the table moves while read). */
async function openConnections(): Promise<number> {
  const seen = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === "01" && parseInt(f[1]!.split(":")[1]!, 16) === port) {
        seen.add(`${f[1]} ${f[2]}`);
      }
    }
  }
  return seen.size;
}

/** Runs `fn` while sampling RSS and connections; prints the case's peak. */
async function measure<T>(name: string, fn: () => Promise<T>): Promise<T> {
  // Writing 5 to clear_refs resets VmHWM (needs to be the master's user or root); else VmHWM is the peak
  // since the master started.
  const reset = await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5").then(() => true, () => false);
  const startRss = await kib("VmRSS");
  let peakRss = startRss;
  let peakConns = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, await kib("VmRSS"));
      peakConns = Math.max(peakConns, await openConnections());
      await sleep(100);
    }
  })();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    sampling = false;
    await sampler;
    const hwm = await kib("VmHWM");
    overallPeak = Math.max(overallPeak, hwm, peakRss);
    console.log(
      `  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s; master RSS ${mb(startRss)} -> peak ${
        mb(Math.max(hwm, peakRss))
      } (${
        reset ? "VmHWM reset for this case" : "VmHWM since start"
      }); open connections peak ${peakConns}, now ${await openConnections()}`,
    );
  }
}

const tally = (xs: (number | string)[]) => {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(String(x), (counts.get(String(x)) ?? 0) + 1);
  return [...counts].sort().map(([k, v]) => `${k}×${v}`).join(" ");
};

// --- connections ---------------------------------------------------------------------------------

async function connectRaw(): Promise<Deno.Conn> {
  return await Deno.connect({ hostname: host, port });
}
async function connectTls(): Promise<Deno.Conn> {
  if (!tls) return await connectRaw();
  const c = await Deno.connectTls({ hostname: host, port, caCerts: [cert] });
  await c.handshake();
  return c;
}
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** Milliseconds until the peer closes `conn` (reading and discarding), or Infinity at the deadline. */
async function closedAfter(conn: Deno.Conn, started: number, deadline: number): Promise<number> {
  const buf = new Uint8Array(16 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<number>((r) => (timer = setTimeout(() => r(Infinity), deadline - Date.now())));
  const closed = (async () => {
    try {
      while ((await conn.read(buf)) !== null) { /* discard */ }
    } catch {
      // reset or refused: closed as well
    }
    return Date.now() - started;
  })();
  const ms = await Promise.race([closed, late]);
  clearTimeout(timer);
  try {
    conn.close();
  } catch {
    // closed
  }
  await closed;
  return ms;
}

// --- the cases -----------------------------------------------------------------------------------

const form = (
  client: Deno.HttpClient,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) =>
  fetch(`${base}/login`, {
    method: "POST",
    client,
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base, ...headers },
    body: new URLSearchParams(fields),
  }).then(async (r) => {
    await r.body?.cancel();
    return r.status;
  }, () => "error");

async function logins(): Promise<void> {
  console.log("parallel logins (scrypt, 64 MiB each)");
  // 40 parallel logins, each case with its own client, closed after it: its pooled connections would
  // count against the address's cap in the next cases.
  const parallel = (name: string, fields: (i: number) => Record<string, string>, xff = false) =>
    measure(name, async () => {
      const client = Deno.createHttpClient(tls ? { caCerts: [cert] } : {});
      try {
        const s = await Promise.all(
          Array.from(
            { length: 40 },
            (_, i) => form(client, fields(i), xff ? { "x-forwarded-for": `203.0.113.${i + 1}` } : {}),
          ),
        );
        console.log(`    answers: ${tally(s)}`);
      } finally {
        client.close();
      }
    });
  await parallel("40 parallel guesses for one user", (i) => ({ username: "admin", password: `guess ${i}` }));
  await parallel(
    "40 parallel logins of unknown users, one address",
    (i) => ({ username: `nobody${i}`, password: "guess 123456" }),
  );
  await parallel(
    "40 parallel logins, 40 X-Forwarded-For addresses (distinct only behind WIREBUDDY_TRUST_PROXY)",
    (i) => ({ username: `ghost${i}`, password: "guess 123456" }),
    true,
  );
}

/** POSTs `total` bytes (declared or chunked) until the master answers; returns the status and bytes sent. */
async function hugePost(path: string, type: string, chunked: boolean, total: number) {
  let conn: Deno.Conn;
  try {
    conn = await connectTls();
  } catch {
    return { status: "refused", sent: 0 };
  }
  let answered = false;
  let sent = 0;
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    try {
      const n = await conn.read(buf);
      return n
        ? new TextDecoder().decode(buf.subarray(0, n)).match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? "?"
        : "closed";
    } catch {
      return "reset";
    } finally {
      answered = true;
    }
  })();
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const framed = chunked ? new Uint8Array([...enc("10000\r\n"), ...chunk, ...enc("\r\n")]) : chunk;
  const writing = (async () => {
    await writeAll(
      conn,
      enc(
        `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nOrigin: ${base}\r\nContent-Type: ${type}\r\n` +
          (chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${total}\r\n`) + "\r\n",
      ),
    );
    while (!answered && sent < total) {
      await writeAll(conn, framed);
      sent += chunk.length;
    }
    if (chunked && !answered) await writeAll(conn, enc("0\r\n\r\n"));
  })().catch(() => {});
  const status = await reading;
  conn.close();
  await writing;
  return { status, sent };
}

async function bodies(): Promise<void> {
  const mib = Number(values["body-mib"]);
  console.log(`oversized bodies: 5 parallel × ${mib} MiB per route, declared length and chunked`);
  const routes: [string, string][] = [
    ["/login", "application/x-www-form-urlencoded"],
    ["/setup", "application/x-www-form-urlencoded"],
    ["/api/sync/enroll", "application/json"],
    ["/api/sync/heartbeat", "application/json"],
    ["/api/users", "application/json"],
  ];
  for (const [path, type] of routes) {
    for (const chunked of [false, true]) {
      await measure(`${path} ${chunked ? "chunked" : "Content-Length"}`, async () => {
        const r = await Promise.all(
          Array.from({ length: 5 }, () => hugePost(path, type, chunked, mib << 20)),
        );
        const sent = Math.max(...r.map((x) => x.sent)) / (1 << 20);
        console.log(
          `    answers: ${tally(r.map((x) => x.status))}; at most ${sent.toFixed(1)} MiB sent before it`,
        );
      });
    }
  }
}

async function conns(): Promise<void> {
  const holdMs = Number(values.hold) * 1000;
  console.log(
    `held connections from one address, all at once; waiting up to ${values.hold} s for the master to close them`,
  );
  await measure("1000 idle TLS + 300 never-TLS + 200 slowloris + 20 idle keep-alive", async () => {
    const started = Date.now();
    const deadline = started + holdMs;
    const attempt = async (open: () => Promise<Deno.Conn>, then?: (c: Deno.Conn) => Promise<void>) => {
      let c: Deno.Conn;
      try {
        c = await open();
        await then?.(c);
      } catch {
        return 0; // refused during the handshake or the first write
      }
      return await closedAfter(c, started, deadline);
    };
    const drips = new Set<Deno.Conn>();
    const drip = setInterval(() => {
      for (const c of drips) c.write(enc("X-Slow: 1\r\n")).catch(() => drips.delete(c));
    }, 1000);
    const classes = await Promise.all([
      Promise.all(Array.from({ length: 1000 }, () => attempt(connectTls))),
      Promise.all(Array.from({ length: 300 }, () => attempt(connectRaw))),
      Promise.all(Array.from({ length: 200 }, () =>
        attempt(connectTls, async (c) => {
          await writeAll(c, enc(`GET /login HTTP/1.1\r\nHost: ${url.host}\r\n`));
          drips.add(c);
        }))),
      Promise.all(Array.from({ length: 20 }, () =>
        attempt(connectTls, async (c) => {
          await writeAll(c, enc(`GET /api/health HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`));
        }))),
    ]);
    clearInterval(drip);
    const names = ["idle TLS", "never-TLS", "slowloris", "idle keep-alive"];
    classes.forEach((times, i) => {
      const refused = times.filter((t) => t < 500).length;
      const held = times.filter((t) => t >= 500);
      const open = held.filter((t) => t === Infinity).length;
      const longest = held.filter((t) => t !== Infinity);
      console.log(
        `    ${names[i]}: ${times.length} opened, ${refused} closed at once (cap), ${held.length} held: ${
          open > 0 ? `${open} STILL OPEN after ${values.hold} s` : "all closed"
        }${longest.length ? `, the last after ${(Math.max(...longest) / 1000).toFixed(1)} s` : ""}`,
      );
    });
  });
}

console.log(
  `master pid ${pid} at ${base}: RSS ${mb(await kib("VmRSS"))}, peak so far ${mb(await kib("VmHWM"))}`,
);
if (cases.has("logins")) await logins();
if (cases.has("bodies")) await bodies();
if (cases.has("conns")) await conns();
console.log(
  `master peak RSS over all cases ${mb(overallPeak)}: goal < 300 MB ${
    overallPeak < 300 * 1024 ? "ok" : "MISSED"
  }; open connections now ${await openConnections()}`,
);
