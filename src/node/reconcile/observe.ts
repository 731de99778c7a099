// observe(): read-only. Seven reads in parallel, each through the Exec port so they happen in whatever
// network namespace the Exec runs in: links and addresses, routes (v4, v6), WireGuard devices, both
// firewalls and the forwarding sysctls. Four more (policy rules and our reply table, per family) only
// while a key rotation's reply routing is wanted or owned (observeReplies).
import { AppError } from "../../core/errors.ts";
import type { Exec, ExecResult } from "../../core/ports/types.ts";
import { displayArgv } from "../drivers/exec.ts";
import { defaultEgress, ipArgv, parseIpAddress, parseIpRoutes, parseIpRules } from "../drivers/ip.ts";
import { iptablesArgv, parseIptablesSave, type SavedTables } from "../drivers/iptables.ts";
import { parseSysctl, sysctlArgv } from "../drivers/sysctl.ts";
import { parseWgDump, wgArgv, type WgDevice } from "../drivers/wg.ts";
import { type Observed, REPLY_TABLE } from "./steps.ts";

async function read(exec: Exec, argv: string[]): Promise<ExecResult> {
  try {
    return await exec.run(argv);
  } catch (err) {
    throw new AppError("unavailable", `Cannot run ${displayArgv(argv)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function must(argv: string[], result: ExecResult): string {
  if (result.code !== 0) {
    throw new AppError(
      "unavailable",
      `Cannot observe the host: ${displayArgv(argv)} exited ${result.code}: ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/**
 * `wg show all dump` fails as a whole when one device cannot be read, e.g. a userspace socket whose
 * interface was just deleted. Then read device by device and skip those whose link is already gone.
 */
async function wgOneByOne(exec: Exec, links: Map<string, unknown>) {
  const listArgv = wgArgv.showInterfaces();
  const names = must(listArgv, await read(exec, listArgv)).split(/\s+/).filter(Boolean);
  const devices = new Map<string, WgDevice>();
  for (const name of names) {
    const argv = wgArgv.showDump(name);
    const r = await read(exec, argv);
    if (r.code !== 0 && !links.has(name)) continue;
    // Per-device dumps lack the interface column; add it so one parser reads both.
    const text = must(argv, r).split("\n").filter(Boolean).map((l) => `${name}\t${l}`).join("\n");
    for (const [k, v] of parseWgDump(text)) devices.set(k, v);
  }
  return devices;
}

/** The policy rules and our reply table's routes, per family. A table never made yet has no routes. */
export async function observeReplies(exec: Exec): Promise<NonNullable<Observed["replies"]>> {
  const rules = async (family: 4 | 6) => {
    const r = await read(exec, ipArgv.showRules(family)).catch(() => null);
    return r && r.code === 0 ? parseIpRules(r.stdout) : null;
  };
  const table = async (family: 4 | 6) => {
    const argv = ipArgv.showTable(family, REPLY_TABLE);
    const r = await read(exec, argv);
    if (r.code !== 0 && /table does not exist/i.test(r.stderr)) return [];
    if (r.code !== 0 && family === 6) return []; // IPv6 off
    return parseIpRoutes(must(argv, r), family);
  };
  const [rules4, rules6, table4, table6] = await Promise.all([rules(4), rules(6), table(4), table(6)]);
  return { rules: { 4: rules4, 6: rules6 }, routes: [...table4, ...table6] };
}

export async function observe(exec: Exec, options: { replies?: boolean } = {}): Promise<Observed> {
  const argvs = {
    addr: ipArgv.showAddresses(),
    route4: ipArgv.showRoutes(4),
    route6: ipArgv.showRoutes(6),
    wg: wgArgv.showAllDump(),
    fw4: iptablesArgv.save(4),
    fw6: iptablesArgv.save(6),
    sysctl: sysctlArgv.read(),
  };
  const [addr, route4, route6, wg, fw4, fw6, sysctl, replies] = await Promise.all([
    read(exec, argvs.addr),
    read(exec, argvs.route4),
    read(exec, argvs.route6).catch(() => null),
    read(exec, argvs.wg),
    read(exec, argvs.fw4).catch(() => null),
    read(exec, argvs.fw6).catch(() => null),
    read(exec, argvs.sysctl).catch(() => null),
    options.replies ? observeReplies(exec) : null,
  ]);
  const links = new Map(parseIpAddress(must(argvs.addr, addr)).map((l) => [l.name, l]));
  const routes4 = parseIpRoutes(must(argvs.route4, route4), 4);
  const routes6 = route6 && route6.code === 0 ? parseIpRoutes(route6.stdout, 6) : [];
  const firewall = (r: ExecResult | null): SavedTables | null =>
    r && r.code === 0 ? parseIptablesSave(r.stdout) : null;
  return {
    links,
    wg: wg.code === 0 ? parseWgDump(wg.stdout) : await wgOneByOne(exec, links),
    routes: [...routes4, ...routes6],
    egress: { 4: defaultEgress(routes4), 6: defaultEgress(routes6) },
    firewall: { 4: firewall(fw4), 6: firewall(fw6) },
    // sysctl exits non-zero when one key is missing (IPv6 off) but still prints the others.
    sysctl: parseSysctl(sysctl?.stdout ?? ""),
    replies,
  };
}
