// Debian's Knot DNS as the operator's authoritative server for the RFC 2136 tests: `knotd -c <conf>` as
// the test's own process on a loopback port, with its storage, run directory, control socket and zone
// file in the test's directory (no systemd service, nothing in /etc or /var), updates allowed by one
// TSIG key. Queries go through kdig (knot-dnsutils), a client that is not ours. Stopped by its PID.
import type { Running } from "./programs.ts";
import { waitFor } from "./wait.ts";

export type KnotKey = { name: string; algorithm: "hmac-sha256" | "hmac-sha512"; secret: string };

export type Knot = Running & {
  server: string;
  /** The name's records of `type` as the server answers them over TCP: "<ttl> <address>", sorted. */
  query(name: string, type: "A" | "AAAA"): Promise<string[]>;
  /** The zone's SOA serial (moves with every applied update). */
  serial(): Promise<number>;
};

function spawn(argv: string[]): Running {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const c of s) out += d.decode(c, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => (await pumps, s));
  return {
    pid: child.pid,
    output: () => out,
    status,
    stop: async (sig: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(sig); // by this child's PID
      } catch { /* gone */ }
      return await status;
    },
  };
}

/**
 * `owner`: the one name (relative to the zone) whose A and AAAA records the key may update, as in README.
 * `at`: where it listens (default 127.0.0.1) and, for a namespace, the argv prefix that runs knotd and
 * kdig inside it (Host.enterArgv).
 */
export async function startKnot(
  dir: string,
  zone: string,
  key: KnotKey,
  port: number,
  owner: string,
  at: { address?: string; wrap?: string[] } = {},
): Promise<Knot> {
  const address = at.address ?? "127.0.0.1";
  const wrap = at.wrap ?? [];
  await Deno.mkdir(`${dir}/storage`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/storage/${zone}.zone`,
    [
      `$ORIGIN ${zone}.`,
      "$TTL 3600",
      "@ SOA ns1 hostmaster 1 3600 900 604800 60",
      "@ NS ns1",
      "ns1 A 127.0.0.1",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${dir}/knot.conf`,
    [
      "server:",
      `    rundir: "${dir}"`,
      `    listen: ${address}@${port}`,
      "    background-workers: 1",
      "    udp-workers: 1",
      "    tcp-workers: 1",
      "control:",
      `    listen: "${dir}/knot.sock"`,
      "database:",
      `    storage: "${dir}/storage"`,
      "log:",
      "  - target: stderr",
      "    any: info",
      "key:",
      `  - id: ${key.name}`,
      `    algorithm: ${key.algorithm}`,
      `    secret: ${key.secret}`,
      "acl:",
      "  - id: wirebuddy_update",
      `    key: ${key.name}`,
      "    action: update",
      "    update-type: [A, AAAA]",
      "    update-owner: name",
      "    update-owner-match: equal",
      `    update-owner-name: ${owner}`,
      "zone:",
      `  - domain: ${zone}`,
      `    file: "${dir}/storage/${zone}.zone"`,
      "    acl: wirebuddy_update",
      "",
    ].join("\n"),
  );
  const knotd = spawn([...wrap, "knotd", "-c", `${dir}/knot.conf`]);
  const server = `${address}:${port}`;
  const dig = async (name: string, type: string) => {
    const kdig = [...wrap, "kdig"];
    const out = await new Deno.Command(kdig[0]!, {
      args: [
        ...kdig.slice(1),
        `@${address}`,
        "-p",
        String(port),
        "+tcp",
        "+noall",
        "+answer",
        "+time=2",
        "+retry=0",
        name,
        type,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`kdig ${name} ${type}: ${new TextDecoder().decode(out.stderr)}`);
    return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim().split(/\s+/)).filter((f) =>
      f[3] === type
    );
  };
  const knot: Knot = {
    ...knotd,
    server,
    query: async (name, type) => (await dig(name, type)).map((f) => `${f[1]} ${f[4]}`).sort(),
    serial: async () => Number((await dig(zone, "SOA"))[0]?.[6]),
  };
  try {
    await waitFor(`knotd to serve ${zone}`, async () => {
      const exited = await Promise.race([knotd.status.then(() => true), Promise.resolve(false)]);
      if (exited) throw new Error(`knotd exited: ${knotd.output()}`);
      return (await knot.serial()) === 1;
    }, { timeoutMs: 15_000, intervalMs: 100 });
  } catch (err) {
    await knotd.stop();
    throw err;
  }
  return knot;
}
