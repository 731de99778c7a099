// The node engine against real wireguard-go, wg, ip and iptables, in network namespaces (root).
import assert from "node:assert/strict";
import { memoryLogger } from "../../src/core/logger.ts";
import { realFs } from "../../src/core/ports/real.ts";
import { createEngine, type Engine } from "../../src/node/reconcile/engine.ts";
import type { HostState } from "../../src/core/host_state.ts";
import { parseWgDump } from "../../src/node/drivers/wg.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";
import {
  buildVpnWorld,
  clientState,
  INTERNET_V4,
  INTERNET_V6,
  keyPair,
  type Member,
  presharedKey,
  serverState,
  TUNNEL_V4,
  TUNNEL_V6,
} from "../support/netns_vpn.ts";

const ignore = skipUnlessRoot("engine data plane tests");

function engineFor(host: Host, dir: string) {
  const log = memoryLogger("info");
  const engine = createEngine(
    { exec: host.exec, fs: realFs, log },
    { statePath: `${dir}/${host.short}/dataplane.json`, wgImpl: "auto" },
  );
  return { engine, log };
}

async function converge(engine: Engine, desired: HostState) {
  const r = await engine.reconcileOnce(desired);
  assert.ok(r.ok, r.error?.message ?? "");
  return r;
}

async function dump(host: Host) {
  return parseWgDump((await host.run(["wg", "show", "all", "dump"])).stdout).get("wg0")!;
}

Deno.test({
  name: "engine: two clients reach the server and the internet through NAT; a no-op tick runs nothing; " +
    "a third peer leaves the others' handshake and endpoint alone",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-engine-" });
    try {
      await withWorld(async (world) => {
        const vpn = await buildVpnWorld(world, 3);
        const serverKeys = await keyPair();
        const members: Member[] = [];
        for (let i = 0; i < 3; i++) {
          members.push({
            keys: await keyPair(),
            index: 11 + i,
            ...(i === 0 ? { psk: await presharedKey() } : {}),
          });
        }
        const server = engineFor(vpn.server, dir);
        const clients = vpn.clients.map((c) => engineFor(c, dir));

        await converge(server.engine, serverState(serverKeys, members.slice(0, 2)));
        for (let i = 0; i < 3; i++) await converge(clients[i]!.engine, clientState(members[i]!, serverKeys));
        assert.ok(
          server.log.lines.some((l) => l.includes("[#] wireguard-go wg0")),
          "the engine falls back to wireguard-go on this kernel",
        );
        assert.ok(
          server.log.lines.some((l) => /impl=userspace/.test(l)),
          "the engine logs which impl it used",
        );
        for (const line of [...server.log.lines, ...clients.flatMap((c) => c.log.lines)]) {
          for (
            const secret of [
              serverKeys.privateKey,
              ...members.map((m) => m.keys.privateKey),
              members[0]!.psk!,
            ]
          ) {
            assert.ok(!line.includes(secret), `a key leaked into the log: ${line}`);
          }
        }

        for (const [i, client] of vpn.clients.slice(0, 2).entries()) {
          await waitFor(
            `client ${i + 1} to ping the server's tunnel address`,
            () => client.ping(TUNNEL_V4(1)),
          );
          await waitFor(`client ${i + 1} to ping the server over IPv6`, () => client.ping(TUNNEL_V6(1)));
          await waitFor(`client ${i + 1} to ping the internet through NAT`, () => client.ping(INTERNET_V4));
          await waitFor(`client ${i + 1} to ping the internet through NAT66`, () => client.ping(INTERNET_V6));
        }
        // The internet host has no route to the tunnel: it only ever saw the server's address.
        assert.doesNotMatch((await vpn.internet.run(["ip", "route", "show"])).stdout, /10\.77\./);
        // The third client is not a peer yet: it cannot get through.
        assert.equal(await vpn.clients[2]!.ping(TUNNEL_V4(1)), false);

        for (const e of [server, ...clients]) {
          const r = await converge(
            e.engine,
            e === server
              ? serverState(serverKeys, members.slice(0, 2))
              : clientState(members[clients.indexOf(e)]!, serverKeys),
          );
          assert.equal(r.commands, 0, "a tick with nothing to do runs no mutating command");
          assert.equal(r.planned, 0);
        }

        const before = await dump(vpn.server);
        for (const m of members.slice(0, 2)) {
          const p = before.peers.get(m.keys.publicKey)!;
          assert.ok(p.latestHandshake > 0 && p.endpoint, "the first two peers are connected");
        }
        const linesBefore = server.log.lines.length;
        const r = await converge(server.engine, serverState(serverKeys, members));
        assert.equal(r.commands, 1, "adding one peer is one command");
        const commands = server.log.lines.slice(linesBefore).filter((l) => l.includes("[#] "));
        assert.deepEqual(commands.map((l) => l.replace(/^<\d>/, "")), [
          `[#] wg set wg0 peer ${members[2]!.keys.publicKey} allowed-ips 10.77.0.13/32,fd77::13/128`,
        ]);
        const after = await dump(vpn.server);
        for (const m of members.slice(0, 2)) {
          const b = before.peers.get(m.keys.publicKey)!;
          const a = after.peers.get(m.keys.publicKey)!;
          assert.equal(a.latestHandshake, b.latestHandshake, "latest handshake unchanged");
          assert.equal(a.endpoint, b.endpoint, "learned endpoint unchanged");
        }
        await waitFor("the third client to reach the server", () => vpn.clients[2]!.ping(TUNNEL_V4(1)));
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Rules and chain policies of iptables-save outside our own chains: what foreign rules look like. */
async function foreignRules(host: Host, tool: "iptables-save" | "ip6tables-save"): Promise<string[]> {
  const out = (await host.run([tool])).stdout;
  let table = "";
  const lines: string[] = [];
  for (const l of out.split("\n")) {
    if (l.startsWith("*")) table = l;
    else if (l.startsWith("-A") && !l.includes("WIREBUDDY")) lines.push(`${table} ${l}`);
    // Chain policies other than ACCEPT (a fresh table shows its chains with ACCEPT).
    else if (l.startsWith(":") && !l.includes("WIREBUDDY") && !/ ACCEPT /.test(l)) {
      lines.push(`${table} ${l}`);
    }
  }
  return lines.map((l) => l.replace(/\[\d+:\d+\]/, ""));
}

Deno.test({
  name: "engine: foreign iptables rules and a foreign interface survive a full apply and a full removal",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wbt-engine-" });
    try {
      await withWorld(async (world) => {
        const vpn = await buildVpnWorld(world, 0);
        const srv = vpn.server;
        // What an admin, Docker or ufw would have put there.
        await srv.run(["iptables", "-P", "FORWARD", "DROP"]);
        await srv.run(["iptables", "-A", "FORWARD", "-s", "192.0.2.66/32", "-j", "DROP"]);
        await srv.run(["iptables", "-N", "DOCKER-USER"]);
        await srv.run(["iptables", "-A", "FORWARD", "-j", "DOCKER-USER"]);
        await srv.run([
          "iptables",
          "-t",
          "nat",
          "-A",
          "POSTROUTING",
          "-s",
          "192.0.2.0/24",
          "-o",
          "eth1",
          "-j",
          "MASQUERADE",
        ]);
        await srv.run(["ip6tables", "-A", "FORWARD", "-s", "2001:db8:66::/48", "-j", "DROP"]);
        await srv.run(["ip", "link", "add", "docker0", "type", "bridge"]);
        await srv.run(["wireguard-go", "wgadmin"]);
        const foreign4 = await foreignRules(srv, "iptables-save");
        const foreign6 = await foreignRules(srv, "ip6tables-save");

        const keys = await keyPair();
        const desired = serverState(keys, [{ keys: await keyPair(), index: 11 }]);
        const { engine } = engineFor(srv, dir);
        await converge(engine, desired);
        const save = (await srv.run(["iptables-save"])).stdout;
        assert.match(
          save,
          /-A FORWARD -j WIREBUDDY-FWD\n-A FORWARD -s 192.0.2.66\/32 -j DROP/,
          "our jump is first",
        );
        assert.match(save, /-A WIREBUDDY-FWD -i wg0 -j ACCEPT\n-A WIREBUDDY-FWD -o wg0 -j ACCEPT/);
        assert.match(save, /-A WIREBUDDY-NAT -s 10.77.0.0\/24 -o eth1 -j MASQUERADE/);
        assert.match(
          (await srv.run(["ip6tables-save"])).stdout,
          /-A WIREBUDDY-NAT -s fd77::\/64 -o eth1 -j MASQUERADE/,
        );
        assert.deepEqual(await foreignRules(srv, "iptables-save"), foreign4);
        assert.deepEqual(await foreignRules(srv, "ip6tables-save"), foreign6);
        assert.equal((await converge(engine, desired)).commands, 0);

        const removed = await converge(engine, { interfaces: [], forwarding: { ipv4: true, ipv6: true } });
        assert.ok(removed.commands > 0);
        assert.deepEqual(await foreignRules(srv, "iptables-save"), foreign4);
        assert.deepEqual(await foreignRules(srv, "ip6tables-save"), foreign6);
        assert.doesNotMatch((await srv.run(["iptables-save"])).stdout, /WIREBUDDY/);
        assert.doesNotMatch((await srv.run(["ip6tables-save"])).stdout, /WIREBUDDY/);
        const links = (await srv.run(["ip", "-o", "link", "show"])).stdout;
        assert.match(links, /docker0/);
        assert.match(links, /wgadmin/);
        assert.doesNotMatch(links, /\bwg0\b/);
        assert.match((await srv.run(["wg", "show", "interfaces"])).stdout, /wgadmin/);
        const state = JSON.parse((await realFs.readText(`${dir}/srv/dataplane.json`))!);
        assert.deepEqual(state.interfaces, {});
        assert.equal(
          (await converge(engine, { interfaces: [], forwarding: { ipv4: true, ipv6: true } })).commands,
          0,
        );
        // And the foreign WireGuard interface is left alone even when we want one of the same kind.
        await converge(engine, desired);
        assert.equal((await dump(srv)).peers.size, 1);
        assert.equal(
          parseWgDump((await srv.run(["wg", "show", "all", "dump"])).stdout).get("wgadmin")?.peers.size,
          0,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
