// A fake Linux host for the engine's unit tests: it keeps links, addresses, routes, WireGuard devices,
// both firewalls and the forwarding sysctls, answers the engine's reads in the real tools' formats,
// changes its state for the engine's writes like the kernel would, and rejects every other command
// (and any argv that carries a key). render() prints the whole host as plain text for table tests.
import type { Exec, ExecOptions, ExecResult } from "../../../src/core/ports/types.ts";
import { ipVersionOf, observedCidr, observedNetwork } from "../../../src/core/cidr.ts";

type Peer = {
  psk: string | null;
  endpoint: string | null;
  allowed: string[];
  keepalive: number;
  handshake: number;
  /** Bytes received from and sent to the peer (`wg show ... dump`'s transfer; 0 unless a test sets them). */
  rx?: number;
  tx?: number;
};
type Wg = { privateKey: string | null; port: number; peers: Map<string, Peer> };
type Link = { name: string; kind: string | null; up: boolean; mtu: number; addresses: string[]; wg?: Wg };
type Table = { chains: Map<string, string>; rules: { chain: string; spec: string }[] };
type Tables = Map<string, Table>;

const ok = (stdout = ""): ExecResult => ({ code: 0, stdout, stderr: "" });
const fail = (stderr: string, code = 2): ExecResult => ({ code, stdout: "", stderr });
const BUILTIN: Record<string, string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
};

export class FakeHost implements Exec {
  links = new Map<string, Link>();
  /** Extra routes (not the kernel's prefix routes of addresses). */
  routes: { dst: string; dev: string }[] = [];
  /** Routes in other tables than main, and the tables that exist (made by a first route, as in Linux). */
  tableRoutes: { dst: string; dev: string; table: number }[] = [];
  tables = new Set<string>();
  /** Policy rules beyond local, main and default: `fwmark VALUE/MASK lookup TABLE priority N`. */
  rules: { 4: string[]; 6: string[] } = { 4: [], 6: [] };
  defaults: { 4: string | null; 6: string | null } = { 4: "eth0", 6: "eth0" };
  firewall: { 4: Tables; 6: Tables } = { 4: new Map(), 6: new Map() };
  sysctl = new Map([["net.ipv4.ip_forward", "0"], ["net.ipv6.conf.all.forwarding", "0"]]);
  kernelWireguard = false;
  /** Every mutating command, as a line. */
  readonly commands: string[] = [];
  /** Strings that must never appear in argv (keys). */
  readonly secrets = new Set<string>();
  /** Make the next command matching this fail with this stderr. */
  failNext: { match: RegExp; stderr: string } | null = null;

  constructor() {
    this.links.set("lo", {
      name: "lo",
      kind: null,
      up: true,
      mtu: 65536,
      addresses: ["127.0.0.1/8", "::1/128"],
    });
    this.links.set("eth0", {
      name: "eth0",
      kind: "veth",
      up: true,
      mtu: 1500,
      addresses: ["198.51.100.1/24"],
    });
  }

  run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    // Linux refuses to start a program with one argument longer than 128 KiB (MAX_ARG_STRLEN).
    if (argv.some((a) => new TextEncoder().encode(a).length > 128 * 1024)) {
      return Promise.reject(new Error("Argument list too long (os error 7)"));
    }
    for (const a of argv) {
      for (const s of this.secrets) {
        if (a.includes(s)) throw new Error(`a key was passed in argv: ${argv[0]}`);
      }
    }
    const line = argv.join(" ");
    if (this.failNext?.match.test(line)) {
      const stderr = this.failNext.stderr;
      this.failNext = null;
      this.commands.push(line);
      return Promise.resolve(fail(stderr));
    }
    const read = this.#read(line);
    if (read) return Promise.resolve(read);
    this.commands.push(line);
    const result = this.#write([...argv], options.stdin);
    if (!result) throw new Error(`unexpected command: ${line}`);
    return Promise.resolve(result);
  }

  /** A supervisor started wireguard-go for `name`: the interface is there, as `wireguard-go` makes it. */
  userspaceUp(name: string): void {
    this.#addLink(name, "tun");
  }

  /** A client connected: it has a handshake and the endpoint it came from. */
  connect(iface: string, publicKey: string, endpoint: string, handshake = 1_700_000_000): void {
    const peer = this.links.get(iface)!.wg!.peers.get(publicKey)!;
    peer.endpoint = endpoint;
    peer.handshake = handshake;
  }

  peer(iface: string, publicKey: string): Peer | undefined {
    return this.links.get(iface)?.wg?.peers.get(publicKey);
  }

  /** Foreign rule, as `iptables -t TABLE -A CHAIN SPEC` would add it. */
  foreignRule(family: 4 | 6, table: string, chain: string, spec: string): void {
    this.#table(this.firewall[family], table).rules.push({ chain, spec });
  }

  #table(tables: Tables, name: string): Table {
    let t = tables.get(name);
    if (!t) {
      t = { chains: new Map((BUILTIN[name] ?? []).map((c) => [c, "ACCEPT"])), rules: [] };
      tables.set(name, t);
    }
    return t;
  }

  #kernelRoutes(family: 4 | 6): { dst: string; dev: string }[] {
    const out: { dst: string; dev: string }[] = [];
    for (const l of this.links.values()) {
      if (!l.up || l.name === "lo") continue;
      for (const a of l.addresses) {
        if (ipVersionOf(a) === family) out.push({ dst: observedNetwork(a), dev: l.name });
      }
    }
    return out;
  }

  #read(line: string): ExecResult | null {
    const table = line.match(/^ip (-6 )?-j route show table (\d+)$/);
    if (table) {
      const family = table[1] ? 6 : 4;
      if (!this.tables.has(`${family}:${table[2]}`)) {
        return {
          code: 2,
          stdout: "[",
          stderr: `Error: ipv${family}: FIB table does not exist.\nDump terminated\n`,
        };
      }
      return ok(JSON.stringify(
        this.tableRoutes.filter((r) => r.table === Number(table[2]) && ipVersionOf(r.dst) === family)
          .map((r) => ({ dst: r.dst.replace(family === 4 ? /\/32$/ : /\/128$/, ""), dev: r.dev })),
      ));
    }
    const one = line.match(/^wg show (\S+) dump$/);
    if (one && one[1] !== "all") {
      // One device's dump answers only while its UAPI does (a userspace interface is up).
      const wg = this.links.get(one[1]!)?.wg;
      if (!wg) return fail(`Unable to access interface: No such device`, 1);
      return ok(`${wg.privateKey ?? "(none)"}\t(none)\t${wg.port}\toff\n`);
    }
    switch (line) {
      case "ip -j -d address show":
        return ok(JSON.stringify([...this.links.values()].map((l, i) => ({
          ifindex: i + 1,
          ifname: l.name,
          flags: l.up ? ["UP", "LOWER_UP"] : [],
          mtu: l.mtu,
          ...(l.kind ? { linkinfo: { info_kind: l.kind } } : {}),
          addr_info: l.addresses.map((a) => {
            const [local, len] = a.split("/");
            return {
              family: a.includes(":") ? "inet6" : "inet",
              local,
              prefixlen: Number(len),
              scope: "global",
            };
          }),
        }))));
      case "ip -j route show table main":
      case "ip -6 -j route show table main": {
        const family = line.includes("-6") ? 6 : 4;
        const def = this.defaults[family];
        const routes = [
          ...(def ? [{ dst: "default", dev: def }] : []),
          ...this.#kernelRoutes(family),
          ...this.routes.filter((r) => ipVersionOf(r.dst) === family),
        ].map((r) => ({ dst: r.dst.replace(family === 4 ? /\/32$/ : /\/128$/, ""), dev: r.dev }));
        return ok(JSON.stringify(routes));
      }
      case "wg show all dump": {
        const lines: string[] = [];
        for (const l of this.links.values()) {
          if (!l.wg) continue;
          lines.push(
            [l.name, l.wg.privateKey ?? "(none)", l.wg.privateKey ? "pub" : "(none)", l.wg.port, "off"].join(
              "\t",
            ),
          );
          for (const [k, p] of l.wg.peers) {
            lines.push([
              l.name,
              k,
              p.psk ?? "(none)",
              p.endpoint ?? "(none)",
              p.allowed.length ? p.allowed.join(",") : "(none)",
              p.handshake,
              p.rx ?? 0,
              p.tx ?? 0,
              p.keepalive || "off",
            ].join("\t"));
          }
        }
        return ok(lines.map((l) => l + "\n").join(""));
      }
      case "ip -j rule show":
      case "ip -6 -j rule show": {
        const family = line.includes("-6") ? 6 : 4;
        const ours = this.rules[family].map((r) => {
          const m = r.match(/^fwmark (\S+)\/(\S+) lookup (\d+) priority (\d+)$/)!;
          return { priority: Number(m[4]), src: "all", fwmark: m[1], fwmask: m[2], table: m[3] };
        });
        return ok(JSON.stringify([
          { priority: 0, src: "all", table: "local" },
          ...ours.sort((a, b) => a.priority - b.priority),
          { priority: 32766, src: "all", table: "main" },
          ...(family === 4 ? [{ priority: 32767, src: "all", table: "default" }] : []),
        ]));
      }
      case "wg show interfaces":
        return ok([...this.links.values()].filter((l) => l.wg).map((l) => l.name).join(" ") + "\n");
      case "iptables-save":
      case "ip6tables-save":
        return ok(this.save(line.startsWith("ip6") ? 6 : 4));
      case "sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding":
        return ok([...this.sysctl].map(([k, v]) => `${k} = ${v}\n`).join(""));
    }
    return null;
  }

  save(family: 4 | 6): string {
    const out: string[] = ["# Generated by fake"];
    for (const [name, t] of this.firewall[family]) {
      out.push(`*${name}`);
      for (const [c, policy] of t.chains) out.push(`:${c} ${policy} [0:0]`);
      for (const r of t.rules) out.push(`-A ${r.chain}${r.spec ? " " + r.spec : ""}`);
      out.push("COMMIT");
    }
    return out.join("\n") + "\n";
  }

  #write(argv: string[], stdin?: string): ExecResult | null {
    const [cmd, ...rest] = argv;
    const a = rest.join(" ");
    let m: RegExpMatchArray | null;
    if (cmd === "ip") {
      if ((m = a.match(/^link add dev (\S+) type wireguard$/))) {
        if (!this.kernelWireguard) return fail("Error: Unknown device type.");
        return this.#addLink(m[1]!, "wireguard");
      }
      if ((m = a.match(/^link delete dev (\S+)$/))) {
        if (!this.links.delete(m[1]!)) return fail(`Cannot find device "${m[1]}"`, 1);
        this.routes = this.routes.filter((r) => r.dev !== m![1]);
        this.tableRoutes = this.tableRoutes.filter((r) => r.dev !== m![1]);
        return ok();
      }
      if ((m = a.match(/^link set dev (\S+) (up|mtu (\d+))$/))) {
        const l = this.links.get(m[1]!);
        if (!l) return fail(`Cannot find device "${m[1]}"`, 1);
        if (m[2] === "up") l.up = true;
        else l.mtu = Number(m[3]);
        return ok();
      }
      if ((m = a.match(/^address (add|del) (\S+) dev (\S+)$/))) {
        const l = this.links.get(m[3]!);
        if (!l) return fail(`Cannot find device "${m[3]}"`, 1);
        const cidr = observedCidr(m[2]!);
        if (m[1] === "add") {
          if (l.addresses.includes(cidr)) return fail("RTNETLINK answers: File exists");
          l.addresses.push(cidr);
        } else {
          if (!l.addresses.includes(cidr)) return fail("RTNETLINK answers: Cannot assign requested address");
          l.addresses = l.addresses.filter((x) => x !== cidr);
          const fam = ipVersionOf(cidr);
          // The kernel drops a device's IPv4 routes with its last IPv4 address.
          if (fam === 4 && !l.addresses.some((x) => ipVersionOf(x) === 4)) {
            this.routes = this.routes.filter((r) => !(r.dev === l.name && ipVersionOf(r.dst) === 4));
            this.tableRoutes = this.tableRoutes.filter((r) =>
              !(r.dev === l.name && ipVersionOf(r.dst) === 4)
            );
          }
        }
        return ok();
      }
      if ((m = a.match(/^-([46]) route (replace|del) (\S+) dev (\S+) table (\d+)$/))) {
        const [, fam, op, dst, dev, t] = m;
        if (ipVersionOf(dst!) !== Number(fam)) return fail("Error: inet prefix is expected");
        const l = this.links.get(dev!);
        if (!l) return fail(`Cannot find device "${dev}"`, 1);
        const table = Number(t);
        const i = this.tableRoutes.findIndex((r) => r.dst === dst && r.table === table);
        if (op === "replace") {
          if (!l.up) return fail("Error: Nexthop device is not up.");
          if (i >= 0) this.tableRoutes.splice(i, 1);
          this.tableRoutes.push({ dst: dst!, dev: dev!, table });
          this.tables.add(`${fam}:${table}`);
        } else {
          if (i < 0 || this.tableRoutes[i]!.dev !== dev) return fail("RTNETLINK answers: No such process");
          this.tableRoutes.splice(i, 1);
        }
        return ok();
      }
      if ((m = a.match(/^-([46]) rule (add|del) (fwmark \S+ lookup \d+ priority \d+)$/))) {
        const family = Number(m[1]) as 4 | 6;
        const i = this.rules[family].indexOf(m[3]!);
        if (m[2] === "add") {
          if (i >= 0) return fail("RTNETLINK answers: File exists");
          this.rules[family].push(m[3]!);
        } else {
          if (i < 0) return fail("RTNETLINK answers: No such file or directory");
          this.rules[family].splice(i, 1);
        }
        return ok();
      }
      if ((m = a.match(/^-([46]) route (replace|del) (\S+) dev (\S+)$/))) {
        const [, fam, op, dst, dev] = m;
        if (ipVersionOf(dst!) !== Number(fam)) return fail("Error: inet prefix is expected");
        const l = this.links.get(dev!);
        if (!l) return fail(`Cannot find device "${dev}"`, 1);
        const i = this.routes.findIndex((r) => r.dst === dst);
        if (op === "replace") {
          if (!l.up) return fail("Error: Nexthop device is not up.");
          if (i >= 0) this.routes.splice(i, 1);
          this.routes.push({ dst: dst!, dev: dev! });
        } else {
          if (i < 0 || this.routes[i]!.dev !== dev) return fail("RTNETLINK answers: No such process");
          this.routes.splice(i, 1);
        }
        return ok();
      }
      return null;
    }
    if (cmd === "wireguard-go" && rest.length === 1) return this.#addLink(rest[0]!, "tun");
    if (cmd === "wg") return this.#wg(rest, stdin);
    if ((cmd === "iptables-restore" || cmd === "ip6tables-restore") && a === "--noflush") {
      return this.#restore(cmd === "iptables-restore" ? 4 : 6, stdin ?? "");
    }
    if (
      cmd === "sysctl" && rest[0] === "-w" && (m = rest[1]!.match(/^([\w.]+)=1$/)) && this.sysctl.has(m[1]!)
    ) {
      this.sysctl.set(m[1]!, "1");
      return ok(`${m[1]} = 1\n`);
    }
    return null;
  }

  #addLink(name: string, kind: string): ExecResult {
    if (this.links.has(name)) return fail("RTNETLINK answers: File exists");
    this.links.set(name, {
      name,
      kind,
      up: false,
      mtu: 1420,
      addresses: [],
      wg: { privateKey: null, port: 0, peers: new Map() },
    });
    return ok();
  }

  #wg(args: string[], stdin?: string): ExecResult | null {
    const [verb, name, ...rest] = args;
    const dev = this.links.get(name ?? "")?.wg;
    if (!dev) return fail("Unable to modify interface: No such device", 1);
    const takeIps = (key: string, ips: string[]) => {
      for (const [k, p] of dev.peers) if (k !== key) p.allowed = p.allowed.filter((x) => !ips.includes(x));
    };
    if (verb === "addconf" && rest.join(" ") === "/dev/stdin") {
      let peer: { key: string; p: Peer; fresh?: boolean } | null = null;
      for (const raw of (stdin ?? "").split("\n")) {
        const line = raw.trim();
        if (line === "" || line === "[Interface]") continue;
        if (line === "[Peer]") {
          peer = null;
          continue;
        }
        const [k = "", v = ""] = line.split(/\s*=\s*(.*)/);
        if (k === "PrivateKey") dev.privateKey = v;
        else if (k === "ListenPort") dev.port = Number(v);
        else if (k === "PublicKey") {
          const p = dev.peers.get(v) ??
            { psk: null, endpoint: null, allowed: [], keepalive: 0, handshake: 0 };
          dev.peers.set(v, p);
          peer = { key: v, p };
        } else if (!peer) return fail(`Line unrecognized: ${k}`, 1);
        else if (k === "PresharedKey") peer.p.psk = v;
        else if (k === "Endpoint") peer.p.endpoint = v;
        else if (k === "PersistentKeepalive") peer.p.keepalive = Number(v);
        else if (k === "AllowedIPs") {
          // Like wg: an AllowedIPs line replaces the peer's list (several lines add up).
          const ips = v.split(",").map((x) => observedNetwork(x.trim()));
          takeIps(peer.key, ips);
          peer.p.allowed = peer.fresh ? [...new Set([...peer.p.allowed, ...ips])] : ips;
          peer.fresh = true;
        } else return fail(`Line unrecognized: ${k}`, 1);
      }
      return ok();
    }
    if (verb !== "set") return null;
    let i = 0;
    let peer: { key: string; p: Peer } | null = null;
    while (i < rest.length) {
      const word = rest[i++]!;
      const value = () => rest[i++] ?? "";
      const readKey = () => {
        const path = value();
        if (path === "/dev/null") return null;
        if (path !== "/dev/stdin") throw new Error(`wg read a key from ${path}`);
        return (stdin ?? "").trim();
      };
      if (word === "listen-port" && !peer) dev.port = Number(value());
      else if (word === "private-key" && !peer) dev.privateKey = readKey();
      else if (word === "peer") {
        const key = value();
        const p = dev.peers.get(key) ??
          { psk: null, endpoint: null, allowed: [], keepalive: 0, handshake: 0 };
        dev.peers.set(key, p);
        peer = { key, p };
      } else if (!peer) return null;
      else if (word === "remove") dev.peers.delete(peer.key);
      else if (word === "preshared-key") peer.p.psk = readKey();
      else if (word === "endpoint") peer.p.endpoint = value();
      else if (word === "persistent-keepalive") {
        const v = value();
        peer.p.keepalive = v === "off" ? 0 : Number(v);
      } else if (word === "allowed-ips") {
        const v = value();
        const ips = v === "" ? [] : v.split(",").map((x) => observedNetwork(x));
        takeIps(peer.key, ips);
        peer.p.allowed = ips;
      } else return null;
    }
    return ok();
  }

  /** iptables-restore --noflush: all or nothing. */
  #restore(family: 4 | 6, script: string): ExecResult {
    const next: Tables = structuredClone(this.firewall[family]);
    let table: Table | null = null;
    for (const raw of script.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      let m: RegExpMatchArray | null;
      if (line.startsWith("*")) table = this.#table(next, line.slice(1));
      else if (line === "COMMIT") table = null;
      else if (!table) return fail(`iptables-restore: line outside a table: ${line}`, 1);
      else if ((m = line.match(/^:(\S+) (\S+) \[0:0\]$/))) {
        table.chains.set(m[1]!, m[2]!);
        table.rules = table.rules.filter((r) => r.chain !== m![1]); // declaring a chain flushes it
      } else if ((m = line.match(/^-([ADI]) (\S+)(?: 1)?(?: (.*))?$/))) {
        const [, op, chain, spec = ""] = m;
        if (!table.chains.has(chain!)) return fail(`iptables-restore: chain ${chain} does not exist`, 1);
        const target = spec.match(/-j (\S+)/)?.[1];
        if (target && target.startsWith("WIREBUDDY") && !table.chains.has(target)) {
          return fail(`iptables-restore: no chain ${target}`, 1);
        }
        if (op === "A") table.rules.push({ chain: chain!, spec });
        else if (op === "I") {
          const first = table.rules.findIndex((r) => r.chain === chain);
          table.rules.splice(first < 0 ? table.rules.length : first, 0, { chain: chain!, spec });
        } else {
          const i = table.rules.findIndex((r) => r.chain === chain && r.spec === spec);
          if (i < 0) return fail("iptables-restore: Bad rule (does a matching rule exist in that chain?)", 1);
          table.rules.splice(i, 1);
        }
      } else if ((m = line.match(/^-F (\S+)$/))) table.rules = table.rules.filter((r) => r.chain !== m![1]);
      else if ((m = line.match(/^-X (\S+)$/))) {
        const target = (spec: string) => spec.match(/-j (\S+)/)?.[1];
        if (table.rules.some((r) => r.chain === m![1] || target(r.spec) === m![1])) {
          return fail("iptables-restore: chain is not empty or still referenced", 1);
        }
        table.chains.delete(m[1]!);
      } else return fail(`iptables-restore: unexpected line ${line}`, 1);
    }
    this.firewall[family] = next;
    return ok();
  }

  /** The whole host as plain text: what a table test expects. Keys show as the names given to them. */
  render(names: Map<string, string> = new Map(), { sysctl = true } = {}): string {
    const n = (k: string | null) => (k === null ? "-" : names.get(k) ?? k);
    const out: string[] = [];
    for (const l of [...this.links.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      if (l.name === "lo") continue;
      out.push(
        `link ${l.name} ${l.kind ?? "-"} ${l.up ? "up" : "down"} mtu ${l.mtu} ${l.addresses.join(" ")}`
          .trim(),
      );
      if (l.wg) {
        out.push(`  wg key ${n(l.wg.privateKey)} port ${l.wg.port}`);
        for (const [k, p] of [...l.wg.peers].sort(([a], [b]) => n(a).localeCompare(n(b)))) {
          out.push(
            `  peer ${n(k)} ${p.allowed.join(",") || "-"} psk ${n(p.psk)} endpoint ${
              p.endpoint ?? "-"
            } keepalive ${p.keepalive}`,
          );
        }
      }
    }
    for (const r of [...this.routes].sort((a, b) => a.dst.localeCompare(b.dst))) {
      out.push(`route ${r.dst} dev ${r.dev}`);
    }
    for (const r of [...this.tableRoutes].sort((a, b) => a.dst.localeCompare(b.dst))) {
      out.push(`route ${r.dst} dev ${r.dev} table ${r.table}`);
    }
    for (const family of [4, 6] as const) {
      for (const r of [...this.rules[family]].sort()) out.push(`rule${family} ${r}`);
    }
    for (const family of [4, 6] as const) {
      for (const [name, t] of [...this.firewall[family]].sort(([a], [b]) => a.localeCompare(b))) {
        for (const [c] of t.chains) {
          const rules = t.rules.filter((r) => r.chain === c).map((r) => r.spec);
          if (rules.length > 0 || !BUILTIN[name]?.includes(c)) {
            out.push(`fw${family} ${name} ${c}: ${rules.join(" | ")}`);
          }
        }
      }
    }
    if (sysctl) { for (const [k, v] of this.sysctl) out.push(`sysctl ${k}=${v}`); }
    return out.map((l) => l.trimEnd()).join("\n");
  }
}
