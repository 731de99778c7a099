// A VRRP failover pool with real keepalived 2.2 in network namespaces: two members "a" (priority 200)
// and "b" (100) run the node's PoolAnnouncer with the real ports (keepalived as its child, the notify
// fifo, the track files), each with the pool's WireGuard device on wireguard-go; a stock wg client
// talks to the floating address. The address sits on a; a dies (keepalived killed by pid, its LAN
// port cut) → the address moves to b, b starts the client's handshake itself (the takeover) and the
// client's pings resume through b. a comes back and takes the address again (no nopreempt); drained,
// it withdraws (track file 1) and b holds it again, with the client handshaking with b.
import assert from "node:assert/strict";
import { memoryLogger } from "../../src/core/logger.ts";
import { realClock, realFifoLines, realFs, realSpawn } from "../../src/core/ports/real.ts";
import type { NodeConfig, NodeInterfaceConfig } from "../../src/core/sync.ts";
import { PoolAnnouncer } from "../../src/node/pools/announcer.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { keyPair } from "../support/netns_vpn.ts";
import { waitFor } from "../support/wait.ts";

const VIP = "198.51.100.50";
const PORT = 51900;

async function hasAddress(host: Host, address: string): Promise<boolean> {
  const r = await host.exec.run(["ip", "-j", "-4", "address", "show", "dev", "eth0"]);
  return r.stdout.includes(`"${address}"`);
}

async function latestHandshake(host: Host, dev: string, key: string): Promise<number> {
  const r = await host.exec.run(["wg", "show", dev, "latest-handshakes"]);
  const line = r.stdout.split("\n").find((l) => l.startsWith(key));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

Deno.test({
  name:
    "pool VRRP: keepalived moves the floating address when the holder dies, the new holder handshakes the client, drain withdraws",
  ignore: skipUnlessRoot("the VRRP pool test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-pool-vrrp-" });
    const stop = new AbortController();
    const loops: Promise<void>[] = [];
    const announcers: PoolAnnouncer[] = [];
    const logs: ReturnType<typeof memoryLogger>[] = [];
    try {
      await withWorld(async (world) => {
        const lan = await world.host("lan");
        await world.bridge(lan, "br0");
        const pool = await keyPair();
        const client = await keyPair();
        const members: { host: Host; port: string; announcer: PoolAnnouncer; dir: string }[] = [];
        const iface = (priority: number, drained: boolean): NodeInterfaceConfig => ({
          name: "wgpool",
          addresses: ["10.77.0.1/24"],
          listen_port: PORT,
          mtu: null,
          private_key: pool.privateKey,
          peers: [{
            public_key: client.publicKey,
            preshared_key: null,
            allowed_ips: ["10.77.0.2/32"],
            endpoint: null,
            persistent_keepalive: null,
          }],
          master_peer: null,
          masquerade: false,
          pool: {
            id: 4,
            name: "edge",
            announce: { kind: "vrrp", address: `${VIP}/24`, vrid: 44, priority, advert_ms: 200, link: null },
            drained,
            handover: [{ public_key: client.publicKey, endpoint: "198.51.100.10:41000" }],
          },
        });
        const config = (priority: number, drained = false): NodeConfig => ({
          node_id: 1,
          config_version: 1,
          issued_at: 0,
          interfaces: [iface(priority, drained)],
        });
        for (const [i, name] of ["a", "b"].entries()) {
          const host = await world.host(`m${name}`, { wireguard: true });
          const port = await world.plug(host, "eth0", lan, "br0", [`198.51.100.${2 + i}/24`]);
          await host.run(["wireguard-go", "wgpool"]);
          await host.run(["wg", "set", "wgpool", "private-key", "/dev/stdin", "listen-port", String(PORT)], {
            stdin: pool.privateKey + "\n",
          });
          await host.run(["wg", "set", "wgpool", "peer", client.publicKey, "allowed-ips", "10.77.0.2/32"]);
          await host.run(["ip", "address", "add", "10.77.0.1/24", "dev", "wgpool"]);
          await host.run(["ip", "link", "set", "wgpool", "up"]);
          const mdir = `${dir}/${name}`;
          const log = memoryLogger();
          logs.push(log);
          const announcer = new PoolAnnouncer({
            exec: host.exec,
            fs: realFs,
            clock: realClock,
            log,
            paths: { dir: mdir, program: "keepalived" },
            routerId: `wirebuddy-${name}`,
            spawn: (argv) => realSpawn([...host.enterArgv, ...argv]),
            signal: (pid, sig) => Deno.kill(pid, sig),
            fifoLines: realFifoLines,
          });
          announcers.push(announcer);
          loops.push(announcer.run(stop.signal));
          members.push({ host, port, announcer, dir: mdir });
        }
        const [a, b] = members as [typeof members[0], typeof members[0]];
        // The client: a stock wg device whose peer is the pool at the floating address, from port 41000.
        const cli = await world.host("cli", { wireguard: true });
        await world.plug(cli, "eth0", lan, "br0", ["198.51.100.10/24"]);
        await cli.run(["wireguard-go", "wg0"]);
        await cli.run(["wg", "set", "wg0", "private-key", "/dev/stdin", "listen-port", "41000"], {
          stdin: client.privateKey + "\n",
        });
        await cli.run([
          "wg",
          "set",
          "wg0",
          "peer",
          pool.publicKey,
          "endpoint",
          `${VIP}:${PORT}`,
          "allowed-ips",
          "10.77.0.0/24",
        ]);
        await cli.run(["ip", "address", "add", "10.77.0.2/24", "dev", "wg0"]);
        await cli.run(["ip", "link", "set", "wg0", "up"]);

        const dump = () => logs.map((l, i) => `---- ${"ab"[i]}\n${l.lines.slice(-40).join("\n")}`).join("\n");
        const reconcileBoth = async (pa: NodeConfig, pb: NodeConfig) => {
          for (const [m, c] of [[a, pa], [b, pb]] as const) {
            const r = await m.announcer.reconcile(c, true);
            assert.equal(r.error, null, dump());
          }
        };
        await reconcileBoth(config(200), config(100));
        await waitFor(
          "a to hold the floating address",
          async () =>
            (await hasAddress(a.host, VIP)) && a.announcer.vrrpState(4) === "MASTER" &&
            b.announcer.vrrpState(4) === "BACKUP",
          { timeoutMs: 15_000 },
        );
        assert.equal(await hasAddress(b.host, VIP), false);
        assert.deepEqual(a.announcer.reports()!.map((r) => r.state), ["serving"]);
        assert.deepEqual(b.announcer.reports()!.map((r) => r.state), ["backup"]);
        // A second tick with nothing changed signals nothing (keepalived is not reloaded).
        assert.equal((await a.announcer.reconcile(config(200), true)).commands, 0);

        await waitFor("the client's ping through a", () => cli.ping("10.77.0.1"), { timeoutMs: 15_000 });
        assert.ok((await latestHandshake(a.host, "wgpool", client.publicKey)) > 0);
        assert.equal(await latestHandshake(b.host, "wgpool", client.publicKey), 0);

        // a dies: its keepalived killed by pid (both processes), its LAN port cut.
        const started = Date.now();
        const killed: number[] = [];
        for (const f of ["keepalived.pid", "vrrp.pid"]) {
          const pid = Number((await Deno.readTextFile(`${a.dir}/${f}`)).trim());
          killed.push(pid);
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await lan.run(["ip", "link", "set", a.port, "nomaster"]);
        await waitFor("b to hold the floating address", async () => await hasAddress(b.host, VIP), {
          timeoutMs: 10_000,
        });
        // The takeover: b starts the handshake itself, the client answers and its pings resume via b.
        await waitFor(
          "b's handshake with the client",
          async () => (await latestHandshake(b.host, "wgpool", client.publicKey)) > 0,
          { timeoutMs: 5_000 },
        );
        await waitFor("the client's ping through b", () => cli.ping("10.77.0.1"), { timeoutMs: 10_000 });
        const outage = Date.now() - started;
        assert.ok(outage < 5_000, `pings resumed ${outage} ms after a died (goal < 5 s)\n${dump()}`);
        assert.match(
          logs[1]!.lines.join("\n"),
          /\[#\] wg addconf wgpool \/dev\/stdin < 1 peers/,
        );
        assert.deepEqual(b.announcer.reports()!.map((r) => r.state), ["serving"]);
        await waitFor("b's takeover keepalive back off", async () => {
          const r = await b.host.exec.run(["wg", "show", "wgpool", "persistent-keepalive"]);
          return r.stdout.includes("off");
        });

        // a comes back: its node starts keepalived again at the next tick; priority 200 takes it back.
        await waitFor("a's killed keepalived to be reaped", async () => {
          for (const pid of killed) {
            const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
            if (stat !== "") return false;
          }
          return true;
        });
        await lan.run(["ip", "link", "set", a.port, "master", "br0"]);
        await a.host.exec.run(["ip", "address", "del", `${VIP}/24`, "dev", "eth0"]); // left by the SIGKILL
        assert.equal((await a.announcer.reconcile(config(200), true)).commands, 1, dump());
        await waitFor(
          "a to hold the address again",
          async () => (await hasAddress(a.host, VIP)) && !(await hasAddress(b.host, VIP)),
          { timeoutMs: 15_000 },
        );

        // Drained: a's track file says 1, keepalived withdraws it (FAULT), b takes over and handshakes.
        const before = await latestHandshake(b.host, "wgpool", client.publicKey);
        await a.announcer.reconcile(config(200, true), true);
        assert.equal(await Deno.readTextFile(`${a.dir}/track_4`), "1\n");
        await waitFor(
          "b to hold the address after the drain",
          async () => (await hasAddress(b.host, VIP)) && !(await hasAddress(a.host, VIP)),
          { timeoutMs: 10_000 },
        );
        assert.deepEqual(a.announcer.reports()!.map((r) => r.state), ["withdrawn"]);
        await waitFor(
          "b's new handshake with the client",
          async () => (await latestHandshake(b.host, "wgpool", client.publicKey)) > before,
          { timeoutMs: 8_000 },
        );
        await waitFor("the client's ping through b after the drain", () => cli.ping("10.77.0.1"), {
          timeoutMs: 5_000,
        });

        // The last pool gone: keepalived stopped, our files removed.
        for (const m of members) await m.announcer.reconcile({ ...config(1), interfaces: [] }, true);
        await waitFor("keepalived gone on both", async () => {
          for (const m of members) if (await realFs.exists(`${m.dir}/keepalived.conf`)) return false;
          return !(await hasAddress(a.host, VIP)) && !(await hasAddress(b.host, VIP));
        });
      });
    } finally {
      stop.abort();
      await Promise.all(loops);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
