// The wireguard-go supervisor with real processes (issue 17, item 9): `wirebuddy-node
// userspace-supervisor` in a network namespace with its own /run/wireguard, the real engine asking it
// for wg0 through a request file, real wireguard-go. It keeps one wireguard-go per request (as its own
// child, not the engine's), starts it again when it is killed, and stops it when the request goes.
import assert from "node:assert/strict";
import type { HostState } from "../../src/core/host_state.ts";
import { startDeno } from "../support/cluster.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { keyPair } from "../support/netns_vpn.ts";
import { startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const CLI = new URL("../support/engine_cli.ts", import.meta.url).pathname;
const DIR = "/run/wireguard/.wirebuddy";

/** The wireguard-go processes in `host`'s mount namespace: pid and parent pid. */
async function wireguardGos(host: Host): Promise<{ pid: number; ppid: number }[]> {
  const own = await Deno.readLink(`/proc/${host.holder!.pid}/ns/mnt`);
  const out: { pid: number; ppid: number }[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if ((await Deno.readLink(`/proc/${e.name}/ns/mnt`)) !== own) continue;
      const status = await Deno.readTextFile(`/proc/${e.name}/status`);
      if (status.match(/^Name:\s+(\S+)/m)?.[1] !== "wireguard-go") continue;
      out.push({ pid: Number(e.name), ppid: Number(status.match(/^PPid:\s+(\d+)/m)![1]) });
    } catch { /* gone */ }
  }
  return out;
}

async function engineOnce(host: Host, dir: string, desired: HostState): Promise<string> {
  await Deno.writeTextFile(`${dir}/desired.json`, JSON.stringify(desired));
  const p = startDeno(host, [
    CLI,
    "--state",
    `${dir}/state.json`,
    "--desired",
    `${dir}/desired.json`,
    "--impl",
    "userspace",
    "--wireguard-go-dir",
    DIR,
  ]);
  const status = await p.status;
  assert.equal(status.code, 0, p.output());
  return p.output();
}

Deno.test({
  name:
    "supervisor: the engine's request brings up wg0 under the supervisor; killed, it comes back; withdrawn, it goes",
  ignore: skipUnlessRoot("the wireguard-go supervisor test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-supervisor-" });
    try {
      await withWorld(async (world) => {
        const host = await world.host("nd", { wireguard: true });
        const supervisor = await startProgram("node", ["userspace-supervisor"], {
          WIREBUDDY_WIREGUARD_GO_DIR: DIR,
          WIREBUDDY_LOG_LEVEL: "debug",
        }, { wrap: host.enterArgv });
        try {
          await waitFor("the supervisor", () => supervisor.output().includes("supervising wireguard-go"), {
            timeoutMs: 20_000,
          });
          const keys = await keyPair();
          const desired: HostState = {
            interfaces: [{
              name: "wg0",
              privateKey: keys.privateKey,
              addresses: ["10.70.0.1/24"],
              listenPort: 51820,
              peers: [{ publicKey: (await keyPair()).publicKey, allowedIps: ["10.70.0.2/32"] }],
              routes: [],
              forward: true,
              masquerade: false,
            }],
            forwarding: { ipv4: false, ipv6: false },
          };
          const log = await engineOnce(host, dir, desired);
          assert.match(log, /\[#\] request wireguard-go wg0 from wirebuddy-wireguard-go\.service/);
          assert.doesNotMatch(log, /\[#\] wireguard-go wg0/, "the engine started no wireguard-go itself");
          const [first] = await wireguardGos(host);
          assert.ok(first, "wireguard-go runs");
          assert.equal(first.ppid, supervisor.pid, "as the supervisor's child");
          assert.equal((await host.exec.run(["wg", "show", "wg0", "listen-port"])).stdout.trim(), "51820");

          // Killed: the supervisor starts it again; the engine's next tick configures it again.
          Deno.kill(first.pid, "SIGKILL");
          const second = await waitFor("wireguard-go started again", async () => {
            const now = await wireguardGos(host);
            return now.length === 1 && now[0]!.pid !== first.pid ? now[0] : null;
          }, { timeoutMs: 15_000, intervalMs: 100 });
          assert.equal(second.ppid, supervisor.pid);
          await waitFor("its UAPI", async () => (await host.exec.run(["wg", "show", "wg0"])).code === 0);
          await engineOnce(host, dir, desired);
          assert.equal((await host.exec.run(["wg", "show", "wg0", "listen-port"])).stdout.trim(), "51820");
          assert.match(supervisor.output(), /wireguard-go for wg0 exited .*starting it again/);

          // Withdrawn: the interface goes, and stays gone.
          await engineOnce(host, dir, { interfaces: [], forwarding: desired.forwarding });
          await waitFor("wireguard-go stopped", async () => (await wireguardGos(host)).length === 0, {
            timeoutMs: 15_000,
          });
          assert.notEqual((await host.exec.run(["ip", "link", "show", "wg0"])).code, 0);
        } finally {
          await supervisor.stop("SIGTERM");
        }
        assert.match(supervisor.output(), /stopping: ending every wireguard-go it started/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
