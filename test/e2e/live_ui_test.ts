// scripts/dev where the machine allows a node (root, wireguard-go) starts the master's own node beside the
// master, and the UI shows it running; a peer's status dot then turns online, in place, after a real
// WireGuard handshake; a new node's token page turns from waiting to online when that node enrolls. All inside test network namespaces on one bridge: the master host (scripts/dev and
// its local node with wireguard-go), a client host with the downloaded config, and Chromium on a host of
// its own (a browser beside a host whose interfaces change sees ERR_NETWORK_CHANGED).
import assert from "node:assert/strict";
import { parseClientConf } from "../../src/core/client_conf.ts";
import { ADMIN_PW, launchBrowser, watchCsp } from "../support/browser.ts";
import { startDev } from "../support/dev.ts";
import { startProgram } from "../support/programs.ts";
import { type Host, skipUnlessRoot, withWorld } from "../support/netns.ts";
import { waitFor } from "../support/wait.ts";

const MASTER_IP = "198.51.100.1";
const CLIENT_IP = "198.51.100.10";
const BROWSER_IP = "198.51.100.20";
const EDGE_IP = "198.51.100.2";

/** Brings up a downloaded client config as wg-quick would (minus DNS): wireguard-go, addresses, routes. */
async function clientUp(client: Host, confText: string): Promise<void> {
  const conf = parseClientConf(confText);
  await client.run(["wireguard-go", "wg0"]);
  for (const a of conf.interface.addresses) await client.run(["ip", "address", "add", a, "dev", "wg0"]);
  await client.run(["ip", "link", "set", "wg0", "up"]);
  const wgConf = confText.split("\n").filter((l) => !/^(Address|DNS|MTU)\s*=/.test(l)).join("\n");
  await client.run(["wg", "setconf", "wg0", "/dev/stdin"], { stdin: wgConf });
  await client.run(["ip", "route", "replace", "10.99.0.0/24", "dev", "wg0"]);
}

type Win = { wbMarker?: string };

Deno.test({
  name:
    "scripts/dev as root starts the local node (Chromium sees it online), and a peer's dot turns online in place after a real handshake",
  ignore: skipUnlessRoot("the live status browser test"),
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    await withWorld(async (world) => {
      const lan = await world.host("lan");
      await world.bridge(lan, "br0");
      const master = await world.host("mst", { wireguard: true });
      const client = await world.host("cli", { wireguard: true });
      const web = await world.host("web");
      const edge = await world.host("edg", { wireguard: true });
      await world.plug(master, "eth0", lan, "br0", [`${MASTER_IP}/24`]);
      await world.plug(client, "eth0", lan, "br0", [`${CLIENT_IP}/24`]);
      await world.plug(web, "eth0", lan, "br0", [`${BROWSER_IP}/24`]);
      await world.plug(edge, "eth0", lan, "br0", [`${EDGE_IP}/24`]);
      const dir = await Deno.makeTempDir({ prefix: "wb-e2e-live-" });
      const dev = startDev(
        {
          WIREBUDDY_DATA_DIR: `${dir}/data`,
          WIREBUDDY_PUBLIC_URL: `https://${MASTER_IP}:8443`,
          WIREBUDDY_NODE_STALE_AFTER: "5s",
          WIREBUDDY_NODE_CHECK_INTERVAL: "1s",
          // The node's settings (scripts/dev gives them to the node only): reports every second.
          WIREBUDDY_HEARTBEAT_INTERVAL: "1s",
          WIREBUDDY_METRICS_INTERVAL: "1s",
          WIREBUDDY_RECONCILE_INTERVAL: "3s",
          WIREBUDDY_CONFIG_WAIT: "10s",
          WIREBUDDY_BACKOFF_MIN: "300ms",
          WIREBUDDY_BACKOFF_MAX: "2s",
        },
        [],
        master.enterArgv,
      );
      const browser = await launchBrowser(web.enterArgv);
      try {
        let exited = false;
        dev.status.then(() => (exited = true));
        const link = await waitFor("the setup link", () => {
          if (exited) throw new Error(`scripts/dev exited:\n${dev.output()}`);
          return dev.output().match(/(https:\/\/\S+\/setup\?token=[\w-]+)/)?.[1];
        }, { timeoutMs: 60_000 });
        await waitFor("scripts/dev to start the local node", () => {
          if (exited) throw new Error(`scripts/dev exited:\n${dev.output()}`);
          return dev.output().includes("starting the master's own node (Master (local)) beside it");
        }, { timeoutMs: 60_000 });
        assert.doesNotMatch(dev.output(), /NOT started/);

        const base = `https://${MASTER_IP}:8443`;
        const context = await browser.newContext({ ignoreHTTPSErrors: true });
        const page = await context.newPage();
        const csp = watchCsp(page);
        await page.goto(link);
        await page.fill('input[name="username"]', "root");
        await page.fill('input[name="password"]', ADMIN_PW);
        await page.click('button[type="submit"]');
        await page.waitForURL(/\/login$/);
        await page.fill('input[name="username"]', "root");
        await page.fill('input[name="password"]', ADMIN_PW);
        await page.click('button[type="submit"]');
        await page.waitForURL(/\/ui\/dashboard$/);

        // The local node enrolls and reports: the Nodes page (which polls itself) shows it online.
        await page.goto(`${base}/ui/nodes`);
        await page.waitForSelector("#node-table tr.local-node .badge.status-online", { timeout: 60_000 });
        await page.goto(`${base}/ui/dashboard`);
        assert.equal(await page.locator("#nodes-down").count(), 0, "no node is named as down");

        // An interface and a peer on the master, through the UI.
        await page.goto(`${base}/ui/interfaces`);
        await page.fill('#new-interface input[name="name"]', "wg0");
        await page.fill('#new-interface input[name="ipv4_pool"]', "10.99.0.0/24");
        await page.fill('#new-interface input[name="listen_port"]', "51820");
        await page.click('#new-interface button[type="submit"]');
        await page.waitForSelector('#flash:has-text("Interface wg0 created")');
        await page.goto(`${base}/ui/peers`);
        await page.click("#add-peer");
        await page.waitForSelector("dialog#modal[open] #peer-form");
        await page.fill('#modal input[name="name"]', "phone");
        await page.click('#modal button[type="submit"].primary');
        await page.waitForSelector('#flash:has-text("Peer phone added")');
        assert.match(await page.textContent("#live-1") ?? "", /never connected/);
        assert.equal(await page.getAttribute("#dot-1", "aria-label"), "offline");
        await page.evaluate(() => ((globalThis as unknown as Win).wbMarker = "same page"));

        // The client brings the config up and talks through the tunnel: a real handshake.
        // (fetched by the page: the test process itself is outside the namespaces and must not reach out)
        const conf = await page.evaluate(async () => (await fetch("/ui/peers/1/config")).text());
        assert.match(conf, new RegExp(`Endpoint = ${MASTER_IP.replaceAll(".", "\\.")}:51820`));
        await clientUp(client, conf);
        await waitFor("a ping through the tunnel", () => client.ping("10.99.0.1"), { timeoutMs: 30_000 });

        // The open page turns the dot green by itself (the 10-second poll), without reloading.
        await page.waitForSelector("#dot-1.online", { timeout: 45_000 });
        assert.match(await page.textContent("#live-1") ?? "", /online.*last handshake .*ago/s);
        assert.match(
          await page.textContent("#live-1") ?? "",
          new RegExp(`from ${CLIENT_IP.replaceAll(".", "\\.")}:\\d+`),
        );
        assert.equal(
          await page.evaluate(() => (globalThis as unknown as Win).wbMarker),
          "same page",
          "refreshed in place, not reloaded",
        );
        // A second node, added in the UI: its token page turns from waiting to online by itself when the
        // node, started on its own host with that token, enrolls.
        await page.goto(`${base}/ui/nodes`);
        await page.fill('#node-form input[name="name"]', "edge");
        await page.fill('#node-form input[name="fqdn"]', EDGE_IP);
        await page.click('#node-form button[type="submit"]');
        await page.waitForSelector("#enrollment-token");
        assert.match(await page.textContent("#enroll-status") ?? "", /Waiting for the node to enroll/);
        const token = (await page.textContent("#enrollment-token"))!.trim();
        const edgeNode = await startProgram("node", [], {
          WIREBUDDY_NODE_DATA_DIR: `${dir}/edge`,
          WIREBUDDY_ENROLLMENT_TOKEN: token,
          WIREBUDDY_HEARTBEAT_INTERVAL: "1s",
          WIREBUDDY_BACKOFF_MIN: "300ms",
          WIREBUDDY_BACKOFF_MAX: "2s",
        }, { wrap: edge.enterArgv });
        try {
          await page.waitForSelector("#enroll-status.online", { timeout: 45_000 });
          assert.match(await page.textContent("#enroll-status") ?? "", /Online: edge enrolled/);
        } finally {
          await edgeNode.stop();
        }
        assert.deepEqual(csp, [], "no CSP violations");
        await context.close();
      } finally {
        await browser.close();
        await dev.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
