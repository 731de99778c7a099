// install.sh as an operator meets it, on fresh Debian bookworm "VPSes" with a real systemd (DESIGN §7):
// booted containers on a lab bridge, install.sh and a release directory served over HTTP inside the lab,
// a master installed with the curl pipe, two nodes installed with tokens from the master's API, a client
// pinging an "internet" address through a node, a node rebooted, the installer run again (a no-op
// upgrade) and `uninstall` (the data stays). The units' hardening is the real one.
//
// The release binaries are stand-ins: `deno compile` cannot fetch its runtime here, so each binary is a
// small sh script that runs the program's `deno bundle` with a Deno from npm and exactly the permission
// flags of scripts/lib/permissions.txt. Everything else about the install (checksums, units, users,
// directories, sysctls, journald) is real.
//
//   lab bridge 192.0.2.0/24: the lab (file server, "internet" 203.0.113.100) .1, master .10,
//   nodes .11 and .12 (default route via .1), client .50 (no route but the tunnel)
import assert from "node:assert/strict";
import { parseClientConf } from "../../src/core/client_conf.ts";
import { startDeno } from "../support/cluster.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";
import { ensureRootfs, Lab, type Vps } from "../support/vps.ts";
import { releaseKey, signRelease } from "../support/release.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LAB_IP = "192.0.2.1";
const INTERNET_IP = "203.0.113.100";
const CLIENT_IP = "192.0.2.50";
const WWW = `http://${LAB_IP}:8080`;
const PASSWORD = "a long enough password for the installer test";

const log = (line: string) => {
  // deno-lint-ignore no-console
  console.log(`  [install_test] ${line}`);
};

function permissionsOf(program: string): string[] {
  const line = Deno.readTextFileSync(`${ROOT}scripts/lib/permissions.txt`).split("\n")
    .find((l) => l.startsWith(`${program} `))!;
  return line.split(/\s+/).slice(1).filter(Boolean);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function must(argv: string[]): Promise<void> {
  const r = await new Deno.Command(argv[0]!, { args: argv.slice(1), cwd: ROOT, stdin: "null" }).output();
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * The stand-in release: Deno and the bundles go into the image (/opt/wirebuddy-standin), the release
 * directory gets a small script per binary, the two units and SHA256SUMS over all of them.
 */
async function prepareRelease(lower: string, www: string): Promise<void> {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const opt = `${lower}/opt/wirebuddy-standin`;
  await Deno.mkdir(opt, { recursive: true });
  await Deno.copyFile(Deno.execPath(), `${opt}/deno`);
  await Deno.chmod(`${opt}/deno`, 0o755);
  await Deno.mkdir(`${www}/release`, { recursive: true });
  const names: string[] = [];
  for (const program of ["master", "node"]) {
    await must([
      Deno.execPath(),
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--output",
      `${opt}/wirebuddy-${program}.js`,
      `src/${program}/main.ts`,
    ]);
    const bin = `wirebuddy-${program}-linux-${arch}`;
    await Deno.writeTextFile(
      `${www}/release/${bin}`,
      `#!/bin/sh
# Stand-in for the deno compile binary of wirebuddy-${program} (which cannot be built here): its
# deno bundle, run with exactly the permissions of scripts/lib/permissions.txt.
DENO_NO_UPDATE_CHECK=1 DENO_DIR=\${DENO_DIR:-/tmp/wirebuddy-deno} exec /opt/wirebuddy-standin/deno run --quiet --no-prompt ${
        permissionsOf(program).join(" ")
      } /opt/wirebuddy-standin/wirebuddy-${program}.js "$@"
`,
    );
    await Deno.copyFile(
      `${ROOT}systemd/wirebuddy-${program}.service`,
      `${www}/release/wirebuddy-${program}.service`,
    );
    names.push(bin, `wirebuddy-${program}.service`);
  }
  await Deno.copyFile(
    `${ROOT}systemd/wirebuddy-wireguard-go.service`,
    `${www}/release/wirebuddy-wireguard-go.service`,
  );
  names.push("wirebuddy-wireguard-go.service");
  const sums = await Promise.all(names.map(async (n) => `${await sha256(`${www}/release/${n}`)}  ${n}`));
  await Deno.writeTextFile(`${www}/release/SHA256SUMS`, sums.join("\n") + "\n");
  // Signed as CI signs a release (install.sh refuses an unsigned one), with a key made for this run.
  const keys = await Deno.makeTempDir({ prefix: "wb-release-key-" });
  const key = await releaseKey(keys);
  await signRelease(`${www}/release`, key.secretFile);
  await Deno.remove(keys, { recursive: true });
  releasePubkey = key.publicKey;
  await Deno.copyFile(`${ROOT}install.sh`, `${www}/install.sh`);
}

/** The stand-in release's signing key, for install.sh (WIREBUDDY_RELEASE_PUBKEY). */
let releasePubkey = "";

/** The operator's one-liner, run by the container's own systemd. */
function curlPipe(vps: Vps, args: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return vps.systemdRun([
    "bash",
    "-o",
    "pipefail",
    "-c",
    `curl -fsSL ${WWW}/install.sh | WIREBUDDY_RELEASE_PUBKEY=${releasePubkey} sh -s -- ${args} --release-url ${WWW}/release`,
  ]);
}

/** A master CLI command as the master's own (dynamic) user, as README tells operators. */
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

async function capEff(vps: Vps, unit: string): Promise<{ uid: string; capEff: string }> {
  const pid = (await vps.run(["systemctl", "show", "-p", "MainPID", "--value", unit])).stdout.trim();
  // The stand-in is sh exec'ing deno: MainPID is the Deno process itself.
  const status = (await vps.run(["cat", `/proc/${pid}/status`])).stdout;
  return {
    uid: status.match(/^Uid:\s+(\d+)/m)![1]!,
    capEff: status.match(/^CapEff:\s+(\w+)/m)![1]!,
  };
}

/**
 * A VPS image without procps, where the installer can still "install" it: sysctl is moved away and a
 * stand-in apt-get (first on the PATH) records what it is asked and puts sysctl back for `procps`.
 * The containers have no mirror to reach; everything else about the install stays real.
 */
async function withoutProcps(vps: Vps): Promise<void> {
  await vps.run(["mv", "/usr/sbin/sysctl", "/usr/sbin/sysctl.hidden"]);
  await vps.run([
    "sh",
    "-c",
    `cat >/usr/local/sbin/apt-get <<'EOF'
#!/bin/sh
echo "apt-get $*" >>/var/log/apt-standin.log
case " $* " in *" install "*" procps "*) mv /usr/sbin/sysctl.hidden /usr/sbin/sysctl ;; esac
exit 0
EOF
chmod 0755 /usr/local/sbin/apt-get`,
  ]);
}

/** The one wireguard-go of a VPS: its pid and the unit (cgroup) it runs in. */
async function wireguardGo(vps: Vps): Promise<{ pid: string; unit: string }> {
  const pid = (await vps.run(["pgrep", "-x", "wireguard-go"])).stdout.trim();
  assert.match(pid, /^\d+$/, `one wireguard-go: ${pid}`);
  const cgroup = (await vps.run(["cat", `/proc/${pid}/cgroup`])).stdout;
  return { pid, unit: cgroup.match(/([\w@.-]+\.service)/)?.[1] ?? cgroup.trim() };
}

/** Pings `address` from `client` every 0.2 s for `seconds` while `during` runs; sent and answered. */
async function pingThrough(
  client: Host,
  address: string,
  seconds: number,
  during: () => Promise<void>,
): Promise<{ sent: number; received: number }> {
  const pinging = client.exec.run([
    "ping",
    "-4",
    "-n",
    "-i",
    "0.2",
    "-W",
    "1",
    "-c",
    String(seconds * 5),
    address,
  ]);
  await during();
  const out = (await pinging).stdout;
  const m = out.match(/(\d+) packets transmitted, (\d+) received/);
  assert.ok(m, out);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

/** Brings up a downloaded client config the way wg-quick would (minus DNS). */
async function clientUp(client: Host, confText: string): Promise<void> {
  const conf = parseClientConf(confText);
  await client.run(["wireguard-go", "wg0"]);
  for (const a of conf.interface.addresses) await client.run(["ip", "address", "add", a, "dev", "wg0"]);
  await client.run(["ip", "link", "set", "wg0", "up"]);
  const wgConf = confText.split("\n").filter((l) => !/^(Address|DNS|MTU)\s*=/.test(l)).join("\n");
  await client.run(["wg", "setconf", "wg0", "/dev/stdin"], { stdin: wgConf });
  await client.run(["ip", "route", "replace", "default", "dev", "wg0"]);
}

Deno.test({
  name:
    "install.sh on booted Debian VPSes: master and two nodes via curl | sh, a client through a node, reboot, rerun is a no-op, uninstall keeps data",
  ignore: skipUnlessRoot("the install test (containers in a lab namespace)"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const started = Date.now();
    const tarball = await ensureRootfs(log);
    await withWorld(async (world) => {
      const labHost = await world.host("lab");
      await world.bridge(labHost, "br0");
      await labHost.run(["ip", "address", "add", `${LAB_IP}/24`, "dev", "br0"]);
      await labHost.run(["ip", "address", "add", `${INTERNET_IP}/32`, "dev", "lo"]);
      const client = await world.host("cli", { wireguard: true });
      await world.plug(client, "eth0", labHost, "br0", [`${CLIENT_IP}/24`]);

      const www = await Deno.makeTempDir({ prefix: "wb-www-" });
      let lab: Lab | null = null;
      let server: Awaited<ReturnType<typeof startDeno>> | null = null;
      const vpsLogs = async () => {
        const parts: string[] = [];
        for (const v of lab?.vpses ?? []) {
          if (!v.leader) continue;
          for (const unit of ["wirebuddy-master", "wirebuddy-node", "wirebuddy-wireguard-go"]) {
            parts.push(`---- ${v.name} ${unit}\n${(await v.journal(unit).catch(() => "")).slice(-2500)}`);
          }
        }
        return parts.join("\n");
      };
      try {
        lab = await Lab.create(labHost, "br0", tarball, (lower) => prepareRelease(lower, www));
        server = await startDeno(labHost, [`${ROOT}test/support/vps.ts`, "serve", www, LAB_IP, "8080"]);
        await waitFor("the lab file server", () => server!.output().includes("listening"));
        const [master, fra, tyo] = await Promise.all([
          lab.boot(`mst${world.id}`, "192.0.2.10", LAB_IP),
          lab.boot(`fra${world.id}`, "192.0.2.11", LAB_IP),
          lab.boot(`tyo${world.id}`, "192.0.2.12", LAB_IP),
        ]) as [Vps, Vps, Vps];
        log(`lab up: 3 containers booted (${Date.now() - started} ms since start)`);

        // --- the master, with its local node ------------------------------------------------------
        const inst = await curlPipe(master, "master --public-url https://192.0.2.10:8443");
        assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}\n${await vpsLogs()}`);
        assert.match(
          inst.stdout,
          /verified wirebuddy-master-linux-\w+ wirebuddy-master\.service against SHA256SUMS/,
        );
        assert.match(
          inst.stdout,
          /first admin: open this one-time setup link: https:\/\/192\.0\.2\.10:8443\/setup\?token=/,
        );
        assert.match(inst.stdout, /systemctl status wirebuddy-master/);
        for (const unit of ["wirebuddy-master", "wirebuddy-node"]) {
          assert.equal((await master.exec(["systemctl", "is-active", unit])).stdout.trim(), "active", unit);
        }
        const mj = await master.journal("wirebuddy-master");
        assert.match(mj, /WireBuddy master listening/);
        assert.match(mj, /No admin account yet\. Open this one-time setup link/);
        const lj = await master.journal("wirebuddy-node");
        assert.match(lj, /NODE_DAEMON enrollment successful, node_id=1/);
        assert.match(lj, /NODE_DAEMON heartbeat sent/);
        // The hardening is real: no capabilities and not root for the master; only NET_ADMIN+NET_RAW
        // (bits 12 and 13) for the node, as its own user.
        const mc = await capEff(master, "wirebuddy-master");
        assert.notEqual(mc.uid, "0");
        assert.equal(BigInt(`0x${mc.capEff}`), 0n);
        const nc = await capEff(master, "wirebuddy-node");
        assert.notEqual(nc.uid, "0");
        assert.equal(BigInt(`0x${nc.capEff}`), (1n << 12n) | (1n << 13n));
        assert.equal(
          (await master.run(["stat", "-c", "%a %U", "/etc/wirebuddy/master.env"])).stdout.trim(),
          "600 root",
        );
        assert.equal((await master.run(["stat", "-c", "%a", "/etc/wirebuddy"])).stdout.trim(), "700");

        // The first admin and an API token through the CLI, run as the master's user.
        const create = await masterCli(master, ["admin", "create", "--username", "admin"], PASSWORD);
        assert.equal(create.code, 0, create.stderr);
        const tok = await masterCli(master, [
          "admin",
          "token",
          "--username",
          "admin",
          "--name",
          "install-test",
        ]);
        assert.equal(tok.code, 0, tok.stderr);
        const apiToken = tok.stdout.match(/wbt_[\w-]+/)![0];
        const api = async (
          method: string,
          path: string,
          json?: unknown,
          // deno-lint-ignore no-explicit-any
        ): Promise<{ status: number; body: any }> => {
          const argv = [
            "curl",
            "-sk",
            "-X",
            method,
            "-H",
            `Authorization: Bearer ${apiToken}`,
            "-w",
            "\n%{http_code}",
          ];
          if (json !== undefined) argv.push("-H", "Content-Type: application/json", "--data-binary", "@-");
          argv.push(`https://127.0.0.1:8443/api${path}`);
          const r = await master.exec(argv, json !== undefined ? { stdin: JSON.stringify(json) } : {});
          const nl = r.stdout.lastIndexOf("\n");
          const text = r.stdout.slice(0, nl);
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch { /* a config file */ }
          return { status: Number(r.stdout.slice(nl + 1)), body };
        };
        const iface = await api("POST", "/interfaces", {
          name: "wg0",
          ipv4_pool: "10.13.13.0/24",
          listen_port: 51820,
        });
        assert.equal(iface.status, 201, JSON.stringify(iface.body));

        // --- two nodes, with tokens from the API ----------------------------------------------------
        // Tokyo's image lacks procps (sysctl): the installer must ask for it.
        await withoutProcps(tyo);
        const made: Record<string, number> = {};
        await Promise.all([fra, tyo].map(async (vps) => {
          const r = await api("POST", "/nodes", { name: vps.name, fqdn: vps.ip, wg_port: 51820 });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          made[vps.name] = r.body.id;
          const out = await curlPipe(vps, `node --token ${r.body.enrollment_token}`);
          assert.equal(out.code, 0, `${vps.name}: ${out.stdout}\n${out.stderr}\n${await vpsLogs()}`);
          assert.match(out.stdout, /node enrolled and reporting/);
        }));
        const online = async (names: string[]) => {
          const list = (await api("GET", "/nodes")).body.nodes as {
            id: number;
            name: string;
            status: string;
            interfaces: { public_key: string | null }[];
          }[];
          return names.every((n) => {
            const node = list.find((x) => x.name === n);
            return node?.status === "online" && node.interfaces[0]?.public_key;
          });
        };
        await waitFor("both nodes online with their keys", () => online([fra.name, tyo.name]), {
          timeoutMs: 60_000,
          intervalMs: 500,
        });
        for (const vps of [fra, tyo]) {
          assert.equal(
            (await vps.exec(["systemctl", "is-active", "wirebuddy-node"])).stdout.trim(),
            "active",
          );
          const j = await vps.journal("wirebuddy-node");
          assert.match(j, new RegExp(`NODE_DAEMON enrollment successful, node_id=${made[vps.name]}`));
          assert.match(j, /NODE_DAEMON heartbeat sent \(status=online\)/);
          assert.equal(
            (await vps.run(["stat", "-c", "%a %U", "/etc/wirebuddy/node.env"])).stdout.trim(),
            "600 root",
          );
          assert.equal(
            (await vps.run(["stat", "-c", "%a %U", "/var/lib/wirebuddy-node"])).stdout.trim(),
            "700 wirebuddy-node",
          );
        }
        // install.sh installed procps where sysctl was missing: no node warns that it cannot check
        // forwarding (issue 17, item 8).
        assert.match((await tyo.run(["cat", "/var/log/apt-standin.log"])).stdout, /install .*\bprocps\b/);
        for (const vps of [master, fra, tyo]) {
          assert.doesNotMatch(await vps.journal("wirebuddy-node"), /forwarding is not checked/, vps.name);
        }
        // No kernel WireGuard here: wireguard-go runs in its own unit, as the node's user with only
        // CAP_NET_ADMIN (bit 12), not in the node's unit (issue 17, item 9).
        for (const vps of [master, fra, tyo]) {
          assert.equal(
            (await vps.exec(["systemctl", "is-active", "wirebuddy-wireguard-go"])).stdout.trim(),
            "active",
            vps.name,
          );
          assert.equal((await wireguardGo(vps)).unit, "wirebuddy-wireguard-go.service", vps.name);
        }
        const sc = await capEff(fra, "wirebuddy-wireguard-go");
        assert.notEqual(sc.uid, "0");
        assert.equal(BigInt(`0x${sc.capEff}`), 1n << 12n);
        log(`master and two nodes installed and online (${Date.now() - started} ms)`);

        // --- a client through frankfurt -------------------------------------------------------------
        assert.equal(await client.ping(INTERNET_IP), false, "the client has no way out but the tunnel");
        const peer = (await api("POST", "/peers", {
          interface_id: iface.body.id,
          name: "laptop",
          node_id: made[fra.name],
        }))
          .body;
        const conf = await api("GET", `/peers/${peer.id}/config`);
        assert.equal(conf.status, 200, String(conf.body));
        assert.match(conf.body, new RegExp(`Endpoint = ${fra.ip}:51820`));
        await waitFor(
          "frankfurt to serve the peer",
          async () => (await fra.exec(["wg", "show", "wg0", "peers"])).stdout.includes(peer.public_key),
          { timeoutMs: 60_000, intervalMs: 300 },
        );
        await clientUp(client, conf.body);
        await waitFor("the client to ping the internet through frankfurt", () => client.ping(INTERNET_IP), {
          timeoutMs: 30_000,
          intervalMs: 200,
        });

        // --- frankfurt reboots: back online, traffic flowing ----------------------------------------
        const nodeIdBefore = (await fra.run(["cat", "/var/lib/wirebuddy-node/enrollment.json"])).stdout;
        await fra.reboot();
        assert.equal(
          await client.ping(INTERNET_IP),
          false,
          "no traffic right after the reboot, before the node",
        );
        await waitFor(
          "frankfurt's node to report after the reboot",
          async () => /heartbeat sent/.test(await fra.journal("wirebuddy-node", { boot: true })),
          { timeoutMs: 60_000, intervalMs: 300 },
        );
        await waitFor("frankfurt online", () => online([fra.name]), { timeoutMs: 30_000, intervalMs: 500 });
        await waitFor("traffic through frankfurt after its reboot", () => client.ping(INTERNET_IP), {
          timeoutMs: 60_000,
          intervalMs: 250,
        });
        log(`reboot survived (${Date.now() - started} ms)`);

        // --- the node daemon killed: the userspace data plane does not notice (issue 17, item 9) ------
        const before = await wireguardGo(fra);
        const daemonPid = (await fra.run(["systemctl", "show", "-p", "MainPID", "--value", "wirebuddy-node"]))
          .stdout.trim();
        const starts = () =>
          fra.journal("wirebuddy-node").then((j) => j.split("starting sync loop").length - 1);
        const startsBefore = await starts();
        const t0 = Date.now();
        const ping = await pingThrough(client, INTERNET_IP, 15, async () => {
          await fra.run(["systemctl", "kill", "-s", "KILL", "wirebuddy-node"]);
          await waitFor("frankfurt's node daemon restarted", async () => (await starts()) > startsBefore, {
            timeoutMs: 30_000,
            intervalMs: 250,
          });
        });
        const after = await wireguardGo(fra);
        log(
          `node daemon killed and back in ${
            Date.now() - t0
          } ms: ${ping.received}/${ping.sent} pings answered, ` +
            `wireguard-go pid ${before.pid} -> ${after.pid}`,
        );
        assert.notEqual(
          (await fra.run(["systemctl", "show", "-p", "MainPID", "--value", "wirebuddy-node"])).stdout.trim(),
          daemonPid,
        );
        assert.equal(after.pid, before.pid, "wireguard-go was not touched");
        assert.ok(ping.sent - ping.received <= 2, `lost ${ping.sent - ping.received} of ${ping.sent} pings`);
        assert.doesNotMatch(await fra.journal("wirebuddy-node"), /left-over process/);

        // --- running the installer again is a no-op upgrade -----------------------------------------
        const pidBefore =
          (await fra.run(["systemctl", "show", "-p", "MainPID", "--value", "wirebuddy-node"])).stdout;
        const again = await curlPipe(fra, "node");
        assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
        assert.match(again.stdout, /wirebuddy-node is active and unchanged/);
        assert.equal(
          (await fra.run(["systemctl", "show", "-p", "MainPID", "--value", "wirebuddy-node"])).stdout,
          pidBefore,
          "not restarted",
        );
        assert.equal(
          (await fra.run(["cat", "/var/lib/wirebuddy-node/enrollment.json"])).stdout,
          nodeIdBefore,
        );
        const masterAgain = await curlPipe(master, "master");
        assert.equal(masterAgain.code, 0, `${masterAgain.stdout}\n${masterAgain.stderr}`);
        assert.match(masterAgain.stdout, /keeping \/etc\/wirebuddy\/master\.env/);
        assert.match(masterAgain.stdout, /wirebuddy-master is active and unchanged/);
        assert.match(masterAgain.stdout, /the local node is enrolled already/);
        assert.ok(await online([fra.name, tyo.name]), "both nodes still online");
        assert.ok(await client.ping(INTERNET_IP), "traffic still flows");

        // Restarting the node daemon leaves wireguard-go's interface (and the client's traffic) up, and
        // no process behind in the node's unit for systemd to warn about.
        await fra.run(["systemctl", "restart", "wirebuddy-node"]);
        assert.ok(await client.ping(INTERNET_IP), "traffic flows right after a restart of the node daemon");
        assert.doesNotMatch(await fra.journal("wirebuddy-node"), /left-over process/);

        // --- uninstall keeps the data -----------------------------------------------------------------
        const un = await tyo.systemdRun([
          "bash",
          "-o",
          "pipefail",
          "-c",
          `curl -fsSL ${WWW}/install.sh | sh -s -- uninstall`,
        ]);
        assert.equal(un.code, 0, `${un.stdout}\n${un.stderr}`);
        assert.notEqual(
          (await tyo.exec(["systemctl", "is-active", "wirebuddy-node"])).stdout.trim(),
          "active",
        );
        for (
          const gone of [
            "/etc/systemd/system/wirebuddy-node.service",
            "/etc/systemd/system/wirebuddy-wireguard-go.service",
            "/usr/local/bin/wirebuddy-node",
          ]
        ) {
          assert.notEqual((await tyo.exec(["test", "-e", gone])).code, 0, `${gone} removed`);
        }
        assert.notEqual(
          (await tyo.exec(["ip", "link", "show", "wg0"])).code,
          0,
          "tokyo's wireguard-go ended",
        );
        for (const kept of ["/var/lib/wirebuddy-node/enrollment.json", "/etc/wirebuddy/node.env"]) {
          assert.equal((await tyo.exec(["test", "-e", kept])).code, 0, `${kept} kept`);
        }
        log(
          `done in ${Date.now() - started} ms (frankfurt's reboot: poweroff took ${fra.lastPoweroffMs} ms)`,
        );
      } catch (err) {
        log(`failure; journals:\n${await vpsLogs()}`);
        throw err;
      } finally {
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
