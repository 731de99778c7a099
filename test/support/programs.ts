// Runs the real programs (src/master/main.ts, src/node/main.ts) as child processes with exactly the
// permissions of scripts/lib/permissions.txt, collects their output, waits for conditions with deadlines,
// and stops them by PID.
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export async function permissionsOf(program: "master" | "node"): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/scripts/lib/permissions.txt`);
  const line = text.split("\n").find((l) => l.startsWith(`${program} `));
  if (!line) throw new Error(`no permissions for ${program}`);
  return line.slice(program.length + 1).trim().split(/\s+/);
}

export type Running = {
  pid: number;
  output: () => string;
  status: Promise<Deno.CommandStatus>;
  stop: (signal?: Deno.Signal) => Promise<Deno.CommandStatus>;
};

/** Starts `program` with args and env; stdout and stderr are collected into output(). */
export async function startProgram(
  program: "master" | "node",
  args: string[],
  env: Record<string, string>,
  options: { stdin?: string; wrap?: string[] } = {},
): Promise<Running> {
  const denoArgs = [
    "run",
    "--quiet",
    ...(await permissionsOf(program)),
    `${ROOT}/src/${program}/main.ts`,
    ...args,
  ];
  const argv = [...(options.wrap ?? []), Deno.execPath(), ...denoArgs];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      NO_COLOR: "1",
      ...env,
    },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps;
    return s;
  });
  return {
    pid: child.pid,
    output: () => out,
    status,
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await status;
    },
  };
}

/** Runs a program to completion. */
export async function runProgram(
  program: "master" | "node",
  args: string[],
  env: Record<string, string>,
  stdin?: string,
) {
  const p = await startProgram(program, args, env, stdin === undefined ? {} : { stdin });
  const status = await p.status;
  return { code: status.code, output: p.output() };
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** fetch that accepts the master's self-signed certificate (pinned by its PEM). */
export function tlsClient(certPem: string): Deno.HttpClient {
  return Deno.createHttpClient({ caCerts: [certPem] });
}

/** `promise`, or a rejection naming `what` when it has not settled within `ms` (the timer is always cleared). */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
