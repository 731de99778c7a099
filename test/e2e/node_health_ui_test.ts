// A real browser shows what a node runs when its apply fails on purpose. Inside network namespaces: the
// real master and a real node, whose `wireguard-go` is a wrapper that fails (like a host without
// /dev/net/tun) once the test says so. The node applies its first config, then loses its interface and
// gets a new version it cannot apply: the nodes table and the node page show "vN applied, vM pending"
// and "apply failed: <the command's stderr>", and "Check now" answers with the tunnel check's result.
// Chromium runs inside the master's namespace (a wrapper around /usr/bin/chromium).
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { ADMIN_PW, CHROMIUM, login } from "../support/browser.ts";
import { NODE_ENV } from "../support/cluster.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { runProgram, startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const FAILURE = "ERROR: (wg0) Failed to create TUN device: operation not permitted";

// deno-lint-ignore no-explicit-any
async function api(m: Host, token: string, method: string, path: string, json?: unknown): Promise<any> {
  const argv = ["curl", "-sk", "-X", method, "-H", `Authorization: Bearer ${token}`];
  if (json !== undefined) argv.push("-H", "Content-Type: application/json", "--data-binary", "@-");
  argv.push(`https://127.0.0.1:8443/api${path}`);
  const r = await m.exec.run(argv, json !== undefined ? { stdin: JSON.stringify(json) } : {});
  return JSON.parse(r.stdout);
}

Deno.test({
  name:
    "browser: a node whose apply failed shows its applied and pending versions and the error; Check now answers",
  ignore: skipUnlessRoot("the node health browser test"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorld(async (world) => {
      const dir = await Deno.makeTempDir({ prefix: "wb-health-ui-" });
      const procs: { stop(s?: Deno.Signal): Promise<unknown>; output(): string }[] = [];
      try {
        const m = await world.host("mst");
        const n = await world.host("brk", { wireguard: true });
        await world.link(m, "eth0", n, "eth0", { a: ["10.77.0.1/24"], b: ["10.77.0.2/24"] });

        const env = {
          WIREBUDDY_DATA_DIR: `${dir}/master`,
          WIREBUDDY_SECRET_KEY: "health-ui-secret-0123456789-abcdefghijk",
          WIREBUDDY_LISTEN: "0.0.0.0:8443",
          WIREBUDDY_PUBLIC_URL: "https://10.77.0.1:8443",
          WIREBUDDY_NODE_STALE_AFTER: "4s",
          WIREBUDDY_NODE_CHECK_INTERVAL: "1s",
          WIREBUDDY_HEALTH_INTERVALS: "1s,1s,2s,2s,2s",
          WIREBUDDY_HEALTH_TIMEOUT: "1s",
        };
        const created = await runProgram(
          "master",
          ["admin", "create", "--username", "root"],
          env,
          `${ADMIN_PW}\n`,
        );
        assert.equal(created.code, 0, created.output);
        const tok = await runProgram(
          "master",
          ["admin", "token", "--username", "root", "--name", "e2e"],
          env,
        );
        const token = tok.output.match(/wbt_[\w-]+/)![0];
        const master = await startProgram("master", ["serve"], env, { wrap: m.enterArgv });
        procs.push(master);
        await waitFor("the master to listen", () => master.output().includes("WireBuddy master listening"), {
          timeoutMs: 20_000,
        });

        const iface = await api(m, token, "POST", "/interfaces", { name: "wg0", ipv4_pool: "10.13.13.0/24" });
        const node = await api(m, token, "POST", "/nodes", { name: "broken", fqdn: "10.77.0.2" });
        assert.ok(node.enrollment_token, JSON.stringify(node));

        // wireguard-go that works until the test creates the "break" file.
        await Deno.mkdir(`${dir}/bin`);
        await Deno.writeTextFile(
          `${dir}/bin/wireguard-go`,
          `#!/bin/sh\nif [ -e ${dir}/break ]; then echo "${FAILURE}" >&2; exit 1; fi\nexec /usr/bin/wireguard-go "$@"\n`,
        );
        await Deno.chmod(`${dir}/bin/wireguard-go`, 0o755);
        const nodeProc = await startProgram("node", [], {
          ...NODE_ENV,
          WIREBUDDY_NODE_DATA_DIR: `${dir}/node`,
          WIREBUDDY_ENROLLMENT_TOKEN: node.enrollment_token,
          PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        }, { wrap: n.enterArgv });
        procs.push(nodeProc);
        const good = await waitFor("the first config applied", async () => {
          const v = await api(m, token, "GET", `/nodes/${node.id}`);
          return v.applied_version > 0 && v.applied_version === v.config_version ? v.applied_version : 0;
        }, { timeoutMs: 30_000, intervalMs: 250 });

        // Break it: the interface is gone and wireguard-go fails; a new version (a new peer) cannot apply.
        await Deno.writeTextFile(`${dir}/break`, "");
        await n.run(["ip", "link", "del", "wg0"]);
        const peer = await api(m, token, "POST", "/peers", {
          interface_id: iface.id,
          name: "phone",
          node_id: node.id,
        });
        assert.ok(peer.id, JSON.stringify(peer));
        const failed = await waitFor("the node to report the failed apply", async () => {
          const v = await api(m, token, "GET", `/nodes/${node.id}`);
          return v.config_version > good && (v.last_error ?? "").includes("Failed to create TUN device")
            ? v
            : null;
        }, { timeoutMs: 30_000, intervalMs: 250 });
        assert.equal(failed.applied_version, good);

        // Chromium inside the master's namespace.
        await Deno.writeTextFile(
          `${dir}/chromium`,
          `#!/bin/sh\nexec ${m.enterArgv.join(" ")} ${CHROMIUM} "$@"\n`,
        );
        await Deno.chmod(`${dir}/chromium`, 0o755);
        const browser = await chromium.launch({
          executablePath: `${dir}/chromium`,
          headless: true,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        });
        try {
          const context = await browser.newContext({ ignoreHTTPSErrors: true });
          const page = await context.newPage();
          const base = "https://127.0.0.1:8443";
          await login(page, base, "root", ADMIN_PW);
          const pending = `v${good} applied, v${failed.config_version} pending`;

          await page.goto(`${base}/ui/nodes`);
          const row = page.locator(`#config-state-${node.id}`);
          await row.waitFor();
          assert.equal((await row.locator(".applied").textContent())?.trim(), pending);
          const rowError = (await row.locator(".apply-error").textContent()) ?? "";
          assert.match(rowError, /^apply failed: /);
          assert.ok(rowError.includes(FAILURE), rowError);

          await page.goto(`${base}/ui/nodes/${node.id}`);
          const state = page.locator(`#config-state-${node.id}`);
          assert.equal((await state.locator(".applied").textContent())?.trim(), pending);
          assert.ok(((await state.locator(".apply-error").textContent()) ?? "").includes(FAILURE));
          await page.locator("#node-health").waitFor();

          // Check now: the tunnel is down (no interface on the node): the flash says so, with its timing.
          await page.click("#check-now");
          const flash = page.locator("#flash");
          await flash.waitFor();
          assert.match(
            (await flash.textContent()) ?? "",
            /^Check failed after [\d.]+ ms: 10\.13\.13\.\d+:51821/,
          );
          assert.ok(Number(await page.locator("#health-failures").textContent()) >= 1);
          assert.ok((await page.locator("#health-checks tbody tr").count()) >= 1);
        } finally {
          await browser.close();
        }
      } catch (err) {
        // deno-lint-ignore no-console
        console.error(procs.map((p) => p.output().slice(-3000)).join("\n----\n"));
        throw err;
      } finally {
        for (const p of procs) await p.stop("SIGKILL").catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
