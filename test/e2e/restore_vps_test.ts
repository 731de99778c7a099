// Disaster recovery as an operator lives it (issue 14), on booted Debian "VPSes" (DESIGN §7): the master's
// VPS dies; a new VPS with another address gets `install.sh master --restore BACKUP`; the master's DNS
// name is moved to it. Every node re-attaches by itself (no new token), the client's pings through a node
// never stop, and peers and traffic history are intact.
//
//   lab bridge 192.0.2.0/24: the lab (file server, "internet" 203.0.113.100) .1, old master .10,
//   frankfurt .11, new master .20, client .50 (no route but the tunnel). master.lab.test is in each
//   VPS's /etc/hosts: "moving the name" edits those lines, as a DNS change would.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseClientConf } from "../../src/core/client_conf.ts";
import { startDeno } from "../support/cluster.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { prepareRelease } from "../support/release.ts";
import { ensureRootfs, Lab, type Vps } from "../support/vps.ts";
import { waitFor } from "../support/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LAB_IP = "192.0.2.1";
const INTERNET_IP = "203.0.113.100";
const CLIENT_IP = "192.0.2.50";
const WWW = `http://${LAB_IP}:8080`;
const NAME = "master.lab.test";
const PASSWORD = "a long enough password for the restore test";
const PASSPHRASE = "the backup passphrase of the restore test";

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [restore_vps_test] ${line}`);
};

/** The stand-in release's signing key (install.sh checks SHA256SUMS.minisig with it). */
let releasePubkey = "";

function curlPipe(vps: Vps, args: string) {
  return vps.systemdRun([
    "bash",
    "-o",
    "pipefail",
    "-c",
    `curl -fsSL ${WWW}/install.sh | WIREBUDDY_RELEASE_PUBKEY=${releasePubkey} sh -s -- ${args} --release-url ${WWW}/release`,
  ]);
}

function masterCli(vps: Vps, args: string[], stdin?: string) {
  return vps.exec([
    "systemd-run",
    "-P",
    "-q",
    "--property=DynamicUser=yes",
    "--property=User=wirebuddy",
    "--property=StateDirectory=wirebuddy",
    "--property=EnvironmentFile=/etc/wirebuddy/master.env",
    "--setenv=WIREBUDDY_DATA_DIR=/var/lib/wirebuddy",
    "/usr/local/bin/wirebuddy-master",
    ...args,
  ], stdin !== undefined ? { stdin } : {});
}

/** The JSON API of the master on `vps`, from inside it. */
async function api(vps: Vps, token: string, method: string, path: string, json?: unknown) {
  const argv = ["curl", "-sk", "-X", method, "-H", `Authorization: Bearer ${token}`, "-w", "\n%{http_code}"];
  if (json !== undefined) argv.push("-H", "Content-Type: application/json", "--data-binary", "@-");
  argv.push(`https://127.0.0.1:8443/api${path}`);
  const r = await vps.exec(argv, json !== undefined ? { stdin: JSON.stringify(json) } : {});
  const nl = r.stdout.lastIndexOf("\n");
  const text = r.stdout.slice(0, nl);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* a config file */ }
  // deno-lint-ignore no-explicit-any
  return { status: Number(r.stdout.slice(nl + 1)), body: body as any };
}

/** Points master.lab.test at `ip` in the VPS's /etc/hosts (what moving the DNS name does for it). */
async function pointName(vps: Vps, ip: string): Promise<void> {
  const hosts = (await vps.run(["cat", "/etc/hosts"])).stdout.split("\n").filter((l) => !l.includes(NAME));
  await vps.run(["sh", "-c", "cat > /etc/hosts"], {
    stdin: [...hosts.filter(Boolean), `${ip} ${NAME}`, ""].join("\n"),
  });
}

async function clientUp(client: Host, confText: string): Promise<void> {
  const conf = parseClientConf(confText);
  await client.run(["wireguard-go", "wg0"]);
  for (const a of conf.interface.addresses) await client.run(["ip", "address", "add", a, "dev", "wg0"]);
  await client.run(["ip", "link", "set", "wg0", "up"]);
  const wgConf = confText.split("\n").filter((l) => !/^(Address|DNS|MTU)\s*=/.test(l)).join("\n");
  await client.run(["wg", "setconf", "wg0", "/dev/stdin"], { stdin: wgConf });
  await client.run(["ip", "route", "replace", "default", "dev", "wg0"]);
}

/** Traffic samples the master at `merged` holds for a peer (read from outside, read-only). */
function samples(merged: string, publicKey: string): number {
  const db = new DatabaseSync(`${merged}/var/lib/private/wirebuddy/wirebuddy.db`, { readOnly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM peer_metrics WHERE public_key = ?").get(publicKey) as {
      n: number;
    }).n;
  } finally {
    db.close();
  }
}

Deno.test({
  name:
    "restore onto a new VPS: back up, destroy the master, install.sh master --restore elsewhere, move the name: nodes re-attach without a new token, pings never stop, peers and traffic intact",
  ignore: skipUnlessRoot("the restore test (containers in a lab namespace)"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const started = Date.now();
    const tarball = await ensureRootfs(log);
    await withWorld(async (world) => {
      const labHost = await world.host("lab");
      await world.bridge(labHost, "br0");
      await labHost.run(["ip", "address", "add", `${LAB_IP}/24`, "dev", "br0"]);
      // A bridge takes the lowest MAC of its ports unless given one: a VPS plugged in or removed would
      // change the gateway's MAC under the nodes' ARP caches (seconds of loss that are the lab's, not ours).
      await labHost.run(["ip", "link", "set", "br0", "address", "02:00:c0:00:02:01"]);
      await labHost.run(["ip", "address", "add", `${INTERNET_IP}/32`, "dev", "lo"]);
      const client = await world.host("cli", { wireguard: true });
      await world.plug(client, "eth0", labHost, "br0", [`${CLIENT_IP}/24`]);
      const www = await Deno.makeTempDir({ prefix: "wb-www-" });
      let lab: Lab | null = null;
      let server: ReturnType<typeof startDeno> | null = null;
      const stopPing = new AbortController();
      const journals = async () => {
        const parts: string[] = [];
        for (const v of lab?.vpses ?? []) {
          if (!v.leader) continue;
          for (const unit of ["wirebuddy-master", "wirebuddy-node"]) {
            parts.push(`---- ${v.name} ${unit}\n${(await v.journal(unit).catch(() => "")).slice(-3000)}`);
          }
        }
        return parts.join("\n");
      };
      try {
        lab = await Lab.create(
          labHost,
          "br0",
          tarball,
          async (lower) => void (releasePubkey = (await prepareRelease(lower, www)).publicKey),
        );
        server = startDeno(labHost, [`${ROOT}test/support/vps.ts`, "serve", www, LAB_IP, "8080"]);
        await waitFor("the lab file server", () => server!.output().includes("listening"));
        const [old, fra] = await Promise.all([
          lab.boot(`old${world.id}`, "192.0.2.10", LAB_IP),
          lab.boot(`fra${world.id}`, "192.0.2.11", LAB_IP),
        ]) as [Vps, Vps];
        for (const v of [old, fra]) await pointName(v, old.ip);

        // --- the old master, a node, a client through it ----------------------------------------------
        const inst = await curlPipe(old, `master --public-url https://${NAME}:8443`);
        assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}\n${await journals()}`);
        assert.equal((await masterCli(old, ["admin", "create", "--username", "admin"], PASSWORD)).code, 0);
        const tok = await masterCli(old, ["admin", "token", "--username", "admin", "--name", "restore-test"]);
        assert.equal(tok.code, 0, tok.stderr);
        const token = tok.stdout.match(/wbt_[\w-]+/)![0];
        const iface = await api(old, token, "POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));
        const node = await api(old, token, "POST", "/nodes", { name: "fra", fqdn: fra.ip, wg_port: 51820 });
        assert.equal(node.status, 201, JSON.stringify(node.body));
        // Short intervals so the test runs in seconds (every interval is configurable).
        await fra.run(["install", "-d", "-m", "0700", "/etc/wirebuddy"]);
        await fra.run(["sh", "-c", "umask 077; cat > /etc/wirebuddy/node.env"], {
          stdin: "WIREBUDDY_HEARTBEAT_INTERVAL=3s\nWIREBUDDY_METRICS_INTERVAL=2s\nWIREBUDDY_BACKOFF_MAX=5s\n",
        });
        const ni = await curlPipe(fra, `node --token ${node.body.enrollment_token}`);
        assert.equal(ni.code, 0, `${ni.stdout}\n${ni.stderr}\n${await journals()}`);
        const status = async (vps: Vps) =>
          Object.fromEntries(
            ((await api(vps, token, "GET", "/nodes")).body.nodes as { name: string; status: string }[] ?? [])
              .map((n) => [n.name, n.status]),
          );
        await waitFor("frankfurt online", async () => (await status(old)).fra === "online", {
          timeoutMs: 90_000,
          intervalMs: 500,
        });
        const peer = (await api(old, token, "POST", "/peers", {
          interface_id: iface.body.id,
          name: "laptop",
          node_id: node.body.id,
        })).body;
        // The config names frankfurt's WireGuard key, which its heartbeat reports after the first apply
        // (409 until then).
        const conf = await waitFor("the laptop's config (frankfurt's key reported)", async () => {
          const r = await api(old, token, "GET", `/peers/${peer.id}/config`);
          return r.status === 409 ? null : r;
        }, { timeoutMs: 60_000, intervalMs: 300 });
        assert.equal(conf.status, 200, JSON.stringify(conf.body));
        await waitFor(
          "frankfurt to serve the peer",
          async () => (await fra.exec(["wg", "show", "wg0", "peers"])).stdout.includes(peer.public_key),
          { timeoutMs: 60_000, intervalMs: 300 },
        );
        await clientUp(client, conf.body);
        await waitFor("the client's pings through frankfurt", () => client.ping(INTERNET_IP), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });
        await waitFor(
          "traffic samples of the laptop on the old master",
          () => samples(old.merged, peer.public_key) > 0,
          {
            timeoutMs: 60_000,
            intervalMs: 500,
          },
        );
        const enrollment = (await fra.run(["cat", "/var/lib/wirebuddy-node/enrollment.json"])).stdout;
        log(`old master, frankfurt and the client up (${Date.now() - started} ms)`);

        // --- from here on the client pings every 0.2 s; every answer is timestamped ------------------
        const pinging = client.exec.run(["ping", "-4", "-n", "-D", "-i", "0.2", "-W", "1", INTERNET_IP], {
          signal: stopPing.signal,
        });

        const marks: [string, number][] = [["ping starts", Date.now()]];
        const backup = await masterCli(old, ["backup", "--out", "-"], PASSPHRASE);
        assert.equal(backup.code, 0, backup.stderr);
        assert.match(backup.stdout, /^WIREBUDDY-BACKUP 1\n/);
        const before = samples(old.merged, peer.public_key);
        marks.push(["old master destroyed", Date.now()]);
        await old.destroy();
        lab.vpses.splice(lab.vpses.indexOf(old), 1);
        log(
          `backup taken (${backup.stdout.length} bytes), old master destroyed (${Date.now() - started} ms)`,
        );

        marks.push(["new VPS boots", Date.now()]);
        const fresh = await lab.boot(`new${world.id}`, "192.0.2.20", LAB_IP);
        marks.push(["install.sh master --restore", Date.now()]);
        await pointName(fresh, fresh.ip);
        await fresh.run(["sh", "-c", "umask 077; cat > /root/master.wbbackup"], { stdin: backup.stdout });
        await fresh.run(["sh", "-c", "umask 077; cat > /root/passphrase"], { stdin: PASSPHRASE + "\n" });
        const restore = await curlPipe(
          fresh,
          `master --public-url https://${NAME}:8443 --restore /root/master.wbbackup --passphrase-file /root/passphrase`,
        );
        assert.equal(restore.code, 0, `${restore.stdout}\n${restore.stderr}\n${await journals()}`);
        assert.match(restore.stdout, /wirebuddy-master restore -/);
        await pointName(fra, fresh.ip); // the name moves
        const moved = Date.now();
        marks.push(["name moved", moved]);
        // The restored database says "online" from the backup: only a new traffic sample proves that
        // frankfurt's heartbeats reach the new master.
        await waitFor(
          "a heartbeat with traffic from frankfurt at the restored master",
          () => samples(fresh.merged, peer.public_key) > before,
          { timeoutMs: 180_000, intervalMs: 250 },
        );
        log(
          `frankfurt re-attached ${Date.now() - moved} ms after the name moved (${Date.now() - started} ms)`,
        );
        assert.match(
          await fresh.journal("wirebuddy-master"),
          /node enrolled node=local/,
          "the new local node",
        );
        await waitFor("every node online at the restored master", async () => {
          const s = await status(fresh).catch(() => ({} as Record<string, string>));
          return s.fra === "online" && Object.values(s).every((v) => v === "online");
        }, { timeoutMs: 60_000, intervalMs: 500 });
        stopPing.abort();
        const out = (await pinging).stdout;

        // The longest time without an answer, from the timestamps of the answers.
        const times = [...out.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=\d+/gm)].map((m) => Number(m[1]) * 1000);
        assert.ok(times.length > 50, out.slice(-2000));
        let gap = 0;
        const silences: string[] = [];
        for (let i = 1; i < times.length; i++) {
          const d = times[i]! - times[i - 1]!;
          gap = Math.max(gap, d);
          if (d > 1_000) {
            const after = marks.filter(([, at]) => at <= times[i - 1]!).pop();
            silences.push(
              `no answer for ${Math.round(d)} ms, from ${
                Math.round(times[i - 1]! - (after?.[1] ?? 0))
              } ms after "${after?.[0]}"`,
            );
            log(silences.at(-1)!);
          }
        }
        const seqs = [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
        const lost = Math.max(...seqs) - seqs.length;
        log(`pings: ${seqs.length} answered, ${lost} lost, longest gap ${Math.round(gap)} ms`);
        assert.ok(
          gap < 1_500,
          `the client's pings stopped for ${Math.round(gap)} ms (${silences.join("; ")}; marks: ${
            marks.map(([m, at]) => `${m} +${at - marks[0]![1]} ms`).join(", ")
          })`,
        );

        // No new token: frankfurt kept its enrollment; peers and traffic history came back.
        assert.equal((await fra.run(["cat", "/var/lib/wirebuddy-node/enrollment.json"])).stdout, enrollment);
        assert.equal((await fra.journal("wirebuddy-node")).split("enrollment successful").length - 1, 1);
        const peers = (await api(fresh, token, "GET", "/peers")).body;
        assert.ok(JSON.stringify(peers).includes(peer.public_key), "the laptop peer is back");
        assert.ok(samples(fresh.merged, peer.public_key) >= before, "the traffic history is back");
        assert.equal((await api(fresh, token, "GET", `/peers/${peer.id}/config`)).body, conf.body);
        log(`done in ${Date.now() - started} ms`);
      } catch (err) {
        log(`failure; journals:\n${await journals()}`);
        throw err;
      } finally {
        stopPing.abort();
        await server?.stop("SIGTERM");
        try {
          await lab?.destroy();
        } finally {
          await Deno.remove(www, { recursive: true }).catch(() => {});
        }
      }
    });
  },
});
