// Runs scripts/dev as a developer would (bash, from the repository), optionally inside a test namespace,
// with its output collected; stop() sends SIGTERM to the script, whose trap stops the master and the
// node it started, and waits for it (SIGKILL to the script's own process group after a deadline).
import type { Running } from "./programs.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export function startDev(env: Record<string, string>, args: string[] = [], wrap: string[] = []): Running {
  const argv = [...wrap, "setsid", "bash", `${ROOT}/scripts/dev`, ...args];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      NO_COLOR: "1",
      ...env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
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
      // The script runs in its own session (setsid): its process group is the script and what it started.
      const group = () => {
        try {
          Deno.kill(-child.pid, signal);
        } catch {
          // already gone
        }
      };
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          signal = "SIGKILL";
          group();
          resolve();
        }, 15_000);
      });
      await Promise.race([status, late]);
      clearTimeout(timer);
      return await status;
    },
  };
}
