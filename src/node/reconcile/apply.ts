// apply(): the only code that changes the host. Each step becomes argv (never a shell string), is
// logged as `[#] command` and run; keys travel through stdin only. It stops at the first failure with
// an error that names the command and quotes its stderr (with any key it was given redacted).
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Exec } from "../../core/ports/types.ts";
import type { Secret } from "../../core/secret.ts";
import { displayArgv } from "../drivers/exec.ts";
import { ipArgv } from "../drivers/ip.ts";
import { iptablesArgv } from "../drivers/iptables.ts";
import { sysctlArgv } from "../drivers/sysctl.ts";
import { literalEndpoint, type Uapi, uapiDisplay, uapiErrno, uapiSet } from "../drivers/uapi.ts";
import { renderPeersConfig, renderWgConfig, wgArgv } from "../drivers/wg.ts";
import type { OwnershipStore } from "./ownership.ts";
import {
  type OwnedReplies,
  type Ownership,
  REPLY_MARK,
  REPLY_TABLE,
  STATE_ONLY,
  type Step,
  type WgImpl,
} from "./steps.ts";
import type { WireguardGo } from "./userspace.ts";

export type ApplyContext = {
  exec: Exec;
  log: Logger;
  store: OwnershipStore;
  /** The ownership the plan was made from; updated in place as state steps run. */
  ownership: Ownership;
  /** WIREBUDDY_WG_IMPL, and what `auto` found out about the kernel (remembered across ticks). */
  wg: { impl: WgImpl; kernelAvailable?: boolean };
  /** How userspace interfaces are started and stopped (by the engine, or by a supervisor). */
  wireguardGo: WireguardGo;
  /** wireguard-go's UAPI sockets: peer changes to userspace interfaces go there instead of `wg`. */
  uapi?: Uapi;
};

export type ApplyResult = { commands: number; error?: AppError };

class CommandFailed extends Error {}

/**
 * Allowed IPs longer than this (as `a,b,c` text) go through stdin: Linux refuses one argument over
 * 128 KiB (E2BIG), and a command line that long would not be a line you could read in the log either.
 */
export const ARGV_ALLOWED_IPS_MAX = 4096;

/** The kernel lacks WireGuard: `ip link add … type wireguard` fails with one of these. */
const NO_KERNEL_WG = /unknown device type|not supported|no such device|protocol not available/i;

export async function apply(steps: readonly Step[], ctx: ApplyContext): Promise<ApplyResult> {
  let commands = 0;

  /** For removals: stderr that says the thing is already gone counts as success. */
  const run = async (
    argv: string[],
    options: { stdin?: string; secrets?: Secret[]; alreadyDone?: RegExp } = {},
  ) => {
    ctx.log.info(`[#] ${displayArgv(argv)}`);
    commands++;
    let result;
    try {
      result = await ctx.exec.run(argv, options.stdin === undefined ? {} : { stdin: options.stdin });
    } catch (err) {
      throw new CommandFailed(`${displayArgv(argv)} could not start: ${(err as Error).message}`);
    }
    if (result.code !== 0 && options.alreadyDone?.test(result.stderr)) {
      ctx.log.info("Already done", { command: argv[0], stderr: result.stderr.trim() });
      return result;
    }
    if (result.code !== 0) {
      let stderr = result.stderr.trim();
      for (const s of options.secrets ?? []) stderr = stderr.replaceAll(s.reveal(), "[redacted]");
      throw new CommandFailed(`${displayArgv(argv)} exited ${result.code}: ${stderr || "(no stderr)"}`);
    }
    return result;
  };

  /**
   * A `set=1` on the interface's UAPI socket, logged as `[#] uapi IF set …` (keys redacted). False when
   * the interface has no socket (a kernel interface) or an endpoint is a host name: then `wg` does it.
   */
  const viaUapi = async (iface: string, config: Parameters<typeof uapiSet>[0]): Promise<boolean> => {
    if (!ctx.uapi) return false;
    if ((config.peers ?? []).some((p) => p.endpoint !== undefined && !literalEndpoint(p.endpoint))) {
      return false;
    }
    const line = uapiDisplay(iface, config);
    let answer;
    try {
      answer = await ctx.uapi.request(iface, uapiSet(config));
    } catch (err) {
      throw new CommandFailed(`${line} could not reach the socket: ${(err as Error).message}`);
    }
    if (answer === null) return false;
    ctx.log.info(`[#] ${line}`);
    commands++;
    const errno = uapiErrno(answer);
    if (errno !== 0) {
      throw new CommandFailed(`${line} failed: errno=${Number.isNaN(errno) ? "(none)" : errno}`);
    }
    return true;
  };

  const saveState = async (change: (o: Ownership) => void) => {
    change(ctx.ownership);
    await ctx.store.save(ctx.ownership);
  };

  /** Changes the reply-routing record; an empty one leaves the state file as it was before any. */
  const saveReplies = (change: (r: OwnedReplies) => void) =>
    saveState((o) => {
      const r = o.replies ?? { rules: [], routes: [] };
      change(r);
      if (r.rules.length === 0 && r.routes.length === 0) delete o.replies;
      else o.replies = r;
    });
  const fwmark = `${REPLY_MARK}/${REPLY_MARK}`;

  const linkAdd = async (iface: string) => {
    const { wg } = ctx;
    if (wg.impl === "kernel" || (wg.impl === "auto" && wg.kernelAvailable !== false)) {
      try {
        await run(ipArgv.linkAddWireguard(iface));
        if (wg.impl === "auto" && wg.kernelAvailable === undefined) wg.kernelAvailable = true;
        ctx.log.info("Created WireGuard interface with the kernel module", { iface, impl: "kernel" });
        return;
      } catch (err) {
        if (wg.impl === "kernel" || !NO_KERNEL_WG.test((err as Error).message)) throw err;
        wg.kernelAvailable = false;
        ctx.log.info("The kernel has no WireGuard; falling back to wireguard-go", { iface });
      }
    }
    await ctx.wireguardGo.start(iface, (argv) => run(argv));
    ctx.log.info("Created WireGuard interface with wireguard-go", { iface, impl: "userspace" });
  };

  const runStep = async (step: Step): Promise<void> => {
    switch (step.kind) {
      case "own-interface":
        return saveState((o) => (o.interfaces[step.iface] ??= { routes: [], endpoints: {} }, undefined));
      case "forget-interface":
        return saveState((o) => (delete o.interfaces[step.iface], undefined));
      case "own-route":
        return saveState((o) => {
          const entry = o.interfaces[step.iface] ??= { routes: [], endpoints: {} };
          if (!entry.routes.includes(step.cidr)) entry.routes.push(step.cidr);
        });
      case "forget-route":
        return saveState((o) => {
          const entry = o.interfaces[step.iface];
          if (entry) entry.routes = entry.routes.filter((r) => r !== step.cidr);
        });
      case "note-endpoints":
        return saveState((o) => {
          const entry = o.interfaces[step.iface] ??= { routes: [], endpoints: {} };
          entry.endpoints = { ...step.endpoints };
        });
      case "own-reply-rule":
        return saveReplies((r) => {
          if (!r.rules.includes(step.family)) r.rules.push(step.family);
        });
      case "forget-reply-rule":
        return saveReplies((r) => (r.rules = r.rules.filter((f) => f !== step.family), undefined));
      case "own-reply-route":
        return saveReplies((r) => {
          if (!r.routes.some((x) => x.cidr === step.cidr && x.dev === step.iface)) {
            r.routes.push({ cidr: step.cidr, dev: step.iface });
          }
        });
      case "forget-reply-route":
        return saveReplies((r) => (
          r.routes = r.routes.filter((x) => !(x.cidr === step.cidr && x.dev === step.iface)), undefined
        ));
      case "link-add":
        return linkAdd(step.iface);
      case "link-delete":
        // A supervisor would start wireguard-go again while the request stands: withdraw it first.
        await ctx.wireguardGo.stop(step.iface);
        return void await run(ipArgv.linkDelete(step.iface), { alreadyDone: /cannot find device/i });
      case "wg-addconf": {
        const uapiPeers = step.peers.map((p) => ({
          publicKey: p.publicKey,
          allowedIps: p.allowedIps,
          ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
          ...(p.endpoint ? { endpoint: p.endpoint } : {}),
          ...(p.persistentKeepalive ? { persistentKeepalive: p.persistentKeepalive } : {}),
        }));
        const head = {
          ...(step.privateKey ? { privateKey: step.privateKey } : {}),
          ...(step.listenPort !== undefined ? { listenPort: step.listenPort } : {}),
        };
        if (await viaUapi(step.iface, { ...head, peers: uapiPeers })) return;
        const stdin = renderWgConfig({
          ...(step.privateKey ? { privateKey: step.privateKey.reveal() } : {}),
          ...(step.listenPort !== undefined ? { listenPort: step.listenPort } : {}),
          peers: step.peers.map((p) => ({
            publicKey: p.publicKey,
            allowedIps: p.allowedIps,
            ...(p.presharedKey ? { presharedKey: p.presharedKey.reveal() } : {}),
            ...(p.endpoint ? { endpoint: p.endpoint } : {}),
            ...(p.persistentKeepalive ? { persistentKeepalive: p.persistentKeepalive } : {}),
          })),
        });
        const secrets = [
          ...(step.privateKey ? [step.privateKey] : []),
          ...step.peers.flatMap((p) => (p.presharedKey ? [p.presharedKey] : [])),
        ];
        return void await run(wgArgv.addconf(step.iface), { stdin, secrets });
      }
      case "peer-set": {
        if (await viaUapi(step.iface, { peers: [{ publicKey: step.publicKey, ...step.fields }] })) return;
        const { presharedKey, allowedIps, ...rest } = step.fields;
        // A node peer on the master carries every client address of that node: a list that long goes
        // through stdin (`wg addconf`, which replaces only this peer's allowed IPs), never into argv.
        const longList = allowedIps !== undefined && allowedIps.join(",").length > ARGV_ALLOWED_IPS_MAX;
        const fields = { ...rest, ...(allowedIps !== undefined && !longList ? { allowedIps } : {}) };
        if (Object.keys(fields).length > 0 || presharedKey !== undefined || !longList) {
          const argv = wgArgv.setPeer(step.iface, step.publicKey, {
            ...fields,
            ...(presharedKey === undefined ? {} : { presharedKey: presharedKey === null ? "none" : "stdin" }),
          });
          await run(
            argv,
            presharedKey ? { stdin: presharedKey.reveal() + "\n", secrets: [presharedKey] } : {},
          );
        }
        if (longList) {
          const stdin = renderPeersConfig([{ publicKey: step.publicKey, allowedIps }]);
          await run(wgArgv.addconf(step.iface), { stdin });
        }
        return;
      }
      case "peer-remove":
        if (await viaUapi(step.iface, { remove: [step.publicKey] })) return;
        return void await run(wgArgv.removePeer(step.iface, step.publicKey));
      case "address-add":
        return void await run(ipArgv.addressAdd(step.iface, step.cidr));
      case "address-delete":
        return void await run(ipArgv.addressDelete(step.iface, step.cidr), {
          alreadyDone: /cannot assign requested address/i,
        });
      case "mtu":
        return void await run(ipArgv.linkMtu(step.iface, step.mtu));
      case "link-up":
        return void await run(ipArgv.linkUp(step.iface));
      case "route-add":
        return void await run(ipArgv.routeReplace(step.iface, step.cidr));
      case "route-delete":
        return void await run(ipArgv.routeDelete(step.iface, step.cidr), { alreadyDone: /no such process/i });
      case "reply-rule-add":
        return void await run(ipArgv.ruleAdd(step.family, fwmark, REPLY_TABLE));
      case "reply-rule-delete":
        return void await run(ipArgv.ruleDelete(step.family, fwmark, REPLY_TABLE), {
          alreadyDone: /no such file or directory/i,
        });
      case "reply-route-add":
        return void await run(ipArgv.tableRouteReplace(step.iface, step.cidr, REPLY_TABLE));
      case "reply-route-delete":
        return void await run(ipArgv.tableRouteDelete(step.iface, step.cidr, REPLY_TABLE), {
          alreadyDone: /no such process|cannot find device/i,
        });
      case "firewall":
        return void await run(iptablesArgv.restoreNoflush(step.family), { stdin: step.script });
      case "sysctl":
        try {
          return void await run(sysctlArgv.enable(step.key));
        } catch (err) {
          throw new CommandFailed(
            `Cannot turn on ${step.key}, so forwarded traffic will be dropped: ${(err as Error).message}`,
          );
        }
    }
  };

  for (const step of steps) {
    try {
      await runStep(step);
    } catch (err) {
      const message = err instanceof CommandFailed
        ? err.message
        : `Cannot ${STATE_ONLY.has(step.kind) ? "write the state file" : "apply"} for ${step.kind}: ${
          (err as Error).message
        }`;
      const error = new AppError("unavailable", `Apply stopped: ${message}`, { cause: err });
      ctx.log.error("Apply stopped at the first failure", { step: step.kind, error: message });
      return { commands, error };
    }
  }
  return { commands };
}
