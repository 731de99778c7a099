// scripts/dev as a new user meets it, in Chromium: when the machine cannot run the master's own node,
// scripts/dev says so, and the UI shows Master (local) as not running (dashboard, Nodes page, the Node
// dropdown) with how to start it, from the first page after setup. (That scripts/dev starts the node when
// it can is checked inside a network namespace by live_ui_test.ts.)
import assert from "node:assert/strict";
import { ADMIN_PW, launchBrowser, watchCsp } from "../support/browser.ts";
import { freePort } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";
import { startDev } from "../support/dev.ts";

Deno.test({
  name:
    "a fresh scripts/dev that cannot run the local node says so, and Chromium shows Master (local) not running with how to start it",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wb-e2e-dev-" });
    const port = freePort();
    // Never let this test start a node in the machine's own network namespace.
    const dev = startDev({ WIREBUDDY_DATA_DIR: `${dir}/data`, WIREBUDDY_LISTEN: `127.0.0.1:${port}` }, [
      "--no-local-node",
    ]);
    const browser = await launchBrowser();
    try {
      let exited = false;
      dev.status.then(() => (exited = true));
      const link = await waitFor("the setup link", () => {
        if (exited) throw new Error(`scripts/dev exited:\n${dev.output()}`);
        return dev.output().match(/(https:\/\/\S+\/setup\?token=[\w-]+)/)?.[1];
      }, { timeoutMs: 30_000 });
      assert.match(
        dev.output(),
        /scripts\/dev: the master's own node \(Master \(local\)\) is NOT started: --no-local-node\./,
      );
      assert.match(dev.output(), /peers on the master get configs but cannot connect until it runs/);

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

      // The dashboard leads with it: the status and each way to start it.
      const notice = page.locator("#nodes-down");
      await notice.waitFor();
      assert.match(await notice.textContent() ?? "", /Master \(local\) is not running \(never started\)/);
      assert.ok(await page.locator("#local-node-help").isVisible(), "the fix is visible, not folded away");
      const help = await page.textContent("#local-node-help") ?? "";
      assert.match(help, /systemctl status wirebuddy-node/);
      assert.match(help, /sudo scripts\/dev/);
      assert.match(
        help,
        new RegExp(`WIREBUDDY_MASTER_URL=https://127\\.0\\.0\\.1:${port} WIREBUDDY_ENROLLMENT_TOKEN=`),
      );

      // The Nodes page: "not running" and a way to its help.
      await page.click('nav >> text="Nodes"');
      await page.waitForSelector('h1:has-text("Nodes")');
      const local = page.locator("#node-table tr.local-node");
      assert.equal(await local.locator(".badge").textContent(), "not running");
      await local.locator('a:has-text("How to start it")').click();
      await page.waitForSelector('h1:has-text("Master (local)")');
      assert.ok(await page.locator("#local-node-help").isVisible());

      // Its token, made from the help, carries the command for this machine.
      await page.click('#local-node-help a:has-text("make a token for it")');
      await page.click('button:has-text("Make a new token")');
      await page.waitForSelector("#install-command");
      assert.match(
        await page.textContent("#install-command") ?? "",
        new RegExp(
          `^WIREBUDDY_MASTER_URL=https://127\\.0\\.0\\.1:${port} WIREBUDDY_ENROLLMENT_TOKEN=wbn2\\.\\S+ wirebuddy-node$`,
        ),
      );

      // The Node dropdown of a new peer says it too.
      await page.goto(`https://127.0.0.1:${port}/ui/interfaces`);
      await page.fill('#new-interface input[name="name"]', "wg0");
      await page.fill('#new-interface input[name="ipv4_pool"]', "10.77.0.0/24");
      await page.click('#new-interface button[type="submit"]');
      await page.waitForSelector('#flash:has-text("Interface wg0 created")');
      await page.click('nav >> text="Peers"');
      await page.waitForSelector('h1:has-text("Peers")');
      await page.click("#add-peer");
      await page.waitForSelector("dialog#modal[open] #peer-form");
      const selected = await page.locator('#modal select[name="node_id"] option:checked').textContent();
      assert.equal(selected, "Master (local) — not running (never started)");
      assert.match(
        await page.textContent('#modal [data-warning="node_id"]') ?? "",
        /this peer cannot connect until the node runs/,
      );
      assert.deepEqual(csp, [], "no CSP violations");
      await context.close();
    } finally {
      await browser.close();
      await dev.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
