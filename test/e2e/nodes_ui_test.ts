// A real browser against the real master: add a node, read its token (shown once) and copy it, see the
// row pending; make a new token; delete the node after the warning that names its peers. A peer with
// traffic samples (written into the master's database as a node's heartbeats would) draws the dashboard
// and peer charts. Screenshots of the nodes page and the dashboard go to WB_SCREENSHOT_DIR (or the temp dir).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Page } from "playwright-core";
import { ADMIN_PW, flash, login, watchCsp, withBrowserMaster } from "../support/browser.ts";

/** 24 hours of a peer's counters every 5 minutes, a daily curve, with one counter reset. */
function seedTraffic(dbPath: string, publicKey: string, nodeId: number | null) {
  const db = new DatabaseSync(dbPath);
  db.exec("PRAGMA busy_timeout = 5000");
  const insert = db.prepare(
    `INSERT OR IGNORE INTO peer_metrics
       (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
     VALUES (?, 0, ?, ?, ?, ?, ?, '198.51.100.23:51413', ?, ?)`,
  );
  const now = Date.now();
  let rx = 0;
  let tx = 0;
  // The running totals the master's intake stores beside the counters (a reset counts from zero).
  const total = { rx: 0, tx: 0, lastRx: 0, lastTx: 0 };
  db.exec("BEGIN");
  for (let t = now - 24 * 3_600_000; t <= now; t += 5 * 60_000) {
    const hour = new Date(t).getUTCHours();
    const load = 1 + Math.sin(((hour - 6) / 24) * 2 * Math.PI); // busy in the (UTC) afternoon
    rx += Math.round(300 * load * 300_000);
    tx += Math.round(40 * load * 300_000 + 2_000_000);
    if (Math.abs(t - (now - 8 * 3_600_000)) < 150_000) [rx, tx] = [1_000, 1_000]; // the node restarted
    total.rx += rx >= total.lastRx ? rx - total.lastRx : rx;
    total.tx += tx >= total.lastTx ? tx - total.lastTx : tx;
    [total.lastRx, total.lastTx] = [rx, tx];
    insert.run(publicKey, t, nodeId, rx, tx, Math.floor(t / 1000) - 20, total.rx, total.tx);
  }
  db.exec("COMMIT");
  db.close();
}

// Just enough of the DOM for the browser-side functions below (the test is checked without DOM types).
type Win = {
  navigator: { clipboard: { readText(): Promise<string>; writeText(t: string): Promise<void> } };
  document: { execCommand: unknown; getElementById(id: string): { removeAttribute(n: string): void } };
  getSelection(): { toString(): string; removeAllRanges(): void };
};
const clipboardText = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as Win).navigator.clipboard.readText());
const resetCopy = (page: Page, id: string) =>
  page.evaluate(async (id) => {
    const w = globalThis as unknown as Win;
    w.document.getElementById(id).removeAttribute("data-copied");
    w.getSelection().removeAllRanges();
    await w.navigator.clipboard.writeText("(empty)");
  }, id);

/**
 * The copy buttons, each of their three paths, with no timing in any of them: the synchronous copy inside
 * the click, the Clipboard API when that is refused, and a selected text to copy by hand when both are.
 */
async function checkCopyButtons(page: Page, token: string) {
  const command = (await page.textContent("#install-command"))!.trim();
  // 1. The normal path: the outcome is set before the click handler returns.
  await resetCopy(page, "copy-token");
  await page.click("#copy-token");
  assert.equal(await page.getAttribute("#copy-token", "data-copied"), "yes");
  assert.equal(await page.textContent("#copy-token"), "Copied");
  assert.equal(await clipboardText(page), token, "the clipboard holds the token");

  // 2. A browser that refuses the synchronous copy: the Clipboard API does it.
  await page.evaluate(() => {
    (globalThis as unknown as Win).document.execCommand = () => false;
  });
  await resetCopy(page, "copy-command");
  await page.click("#copy-command");
  await page.waitForSelector('#copy-command[data-copied="yes"]');
  assert.equal(await clipboardText(page), command, "the clipboard holds the command");

  // 3. Neither works: the button says so and the token is selected for a manual copy.
  await page.evaluate(() => {
    Object.defineProperty((globalThis as unknown as Win).navigator.clipboard, "writeText", {
      value: () => Promise.reject(new Error("denied")),
      configurable: true,
    });
  });
  await page.evaluate(() =>
    (globalThis as unknown as Win).document.getElementById("copy-token").removeAttribute("data-copied")
  );
  await page.click("#copy-token");
  await page.waitForSelector('#copy-token[data-copied="no"]');
  assert.equal(await page.textContent("#copy-token"), "Select and copy by hand");
  assert.equal(
    await page.evaluate(() => (globalThis as unknown as Win).getSelection().toString()),
    token,
    "the token is selected",
  );
}

Deno.test({
  name:
    "chromium adds a node and copies its one-time token, makes a new token, and deletes the node after the peer warning; charts draw",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    await withBrowserMaster("wb-e2e-nodes-", async ({ dir, base, browser }) => {
      const shots = Deno.env.get("WB_SCREENSHOT_DIR") ?? dir;
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        viewport: { width: 1360, height: 900 },
      });
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
      const page = await context.newPage();
      const cspViolations = watchCsp(page);

      await login(page, base, "root", ADMIN_PW);
      await page.click('nav >> text="Nodes"');
      await page.waitForURL(/\/ui\/nodes$/);
      assert.match(await page.textContent("#node-table") ?? "", /Master \(local\)/);

      // A bad port is named; then the node is added and its token shown once.
      await page.fill('#node-form input[name="name"]', "frankfurt");
      await page.fill('#node-form input[name="fqdn"]', "fra.example.com");
      await page.fill('#node-form input[name="wg_port"]', "70000");
      await page.click('#node-form button[type="submit"]');
      await page.waitForSelector('small.error[data-field="wg_port"]');
      await page.fill('#node-form input[name="wg_port"]', "51820");
      await page.click('#node-form button[type="submit"]');
      await page.waitForSelector("#enrollment-token");
      const token = (await page.textContent("#enrollment-token"))!.trim();
      assert.match(token, /^wbn2\.[A-Za-z0-9_-]{150,400}$/, "a packed token, short enough to paste");
      assert.equal(
        (await page.textContent("#install-command"))!.trim(),
        `curl -fsSL https://github.com/wirebuddy/wirebuddy/releases/latest/download/install.sh | sudo sh -s -- node --token ${token}`,
      );
      assert.ok(!page.url().includes(token), "the token is not in the URL");
      // This master's public URL is loopback (it listens on 127.0.0.1): the token page says so.
      assert.match(
        await page.textContent("#token-url-warning") ?? "",
        /This token sends the node to https:\/\/127\.0\.0\.1:\d+, an address only this machine can reach/,
      );
      await checkCopyButtons(page, token);
      const cookies = await context.cookies();
      assert.ok(cookies.every((c) => !c.value.includes(token.slice(5, 40))), "no cookie carries the token");

      // Back on the list the token is gone and the row is pending.
      await page.click('#enrollment a:has-text("Done")');
      await page.waitForURL(/\/ui\/nodes$/);
      // htmx may push the URL before it swaps the page: wait for the token to leave the page.
      await page.waitForSelector("#enrollment-token", { state: "detached" });
      assert.equal(await page.locator("#enrollment-token").count(), 0);
      assert.ok(!(await page.content()).includes(token), "not shown again");
      const row = page.locator('#node-table tr:has-text("frankfurt")');
      assert.equal(await row.locator(".badge.status-pending").textContent(), "pending");
      const nodeId = Number((await row.getAttribute("id"))?.replace("node-", ""));
      assert.ok(nodeId > 0, "the node's id");

      // A peer on the node, with traffic samples, for the charts and the delete warning.
      await page.goto(`${base}/ui/interfaces`);
      await page.fill('#new-interface input[name="name"]', "wg0");
      await page.fill('#new-interface input[name="ipv4_pool"]', "10.66.0.0/24");
      await page.fill('#new-interface input[name="listen_port"]', "51820");
      await page.fill('#new-interface input[name="dns"]', "1.1.1.1");
      await page.click('#new-interface button[type="submit"]');
      await flash(page, "Interface wg0 created");
      await page.goto(`${base}/ui/peers`);
      await page.click("#add-peer");
      await page.waitForSelector("dialog#modal[open] #peer-form");
      await page.fill('#modal input[name="name"]', "alice-phone");
      await page.selectOption('#modal select[name="node_id"]', String(nodeId));
      await page.click('#modal button[type="submit"].primary');
      await flash(page, "Peer alice-phone added");
      const publicKey = await page.evaluate(async () => {
        const r = await fetch("/ui/peers/1/traffic");
        return (await r.text()).match(/<dt>Public key<\/dt><dd><code>([A-Za-z0-9+/=]{44})</)?.[1] ?? "";
      });
      assert.match(publicKey, /^[A-Za-z0-9+/]{43}=$/);
      seedTraffic(`${dir}/wirebuddy.db`, publicKey, nodeId);

      await page.click('#peer-1 a:has-text("alice-phone")');
      await page.waitForURL(/\/ui\/peers\/1\/traffic$/);
      await page.waitForSelector("#traffic-peer svg.chart path.series.rx");
      assert.match(await page.textContent("#peer-endpoint") ?? "", /198\.51\.100\.23:51413/);
      assert.match(await page.textContent("#peer-handshake") ?? "", /ago/);

      await page.click('nav >> text="Dashboard"');
      await page.waitForURL(/\/ui\/dashboard$/);
      await page.waitForSelector("#traffic-total svg.chart path.series.tx");
      await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });

      // A new token: the warning first, then a different token, once.
      await page.click('nav >> text="Nodes"');
      await page.waitForURL(/\/ui\/nodes$/);
      await page.screenshot({ path: `${shots}/nodes.png`, fullPage: true });
      await page.click(`#node-${nodeId} a:has-text("New token")`);
      await page.waitForSelector("#token-warning");
      assert.match(await page.textContent("#token-warning") ?? "", /old enrollment token stops working/);
      await page.click('#token-confirm button:has-text("Make a new token")');
      await page.waitForSelector("#enrollment-token");
      const second = (await page.textContent("#enrollment-token"))!.trim();
      assert.notEqual(second, token);
      assert.match(await page.textContent("#enrollment") ?? "", /The old token no longer works/);

      // Delete: the warning names the peer that will move to the master.
      await page.goto(`${base}/ui/nodes`);
      await page.click(`#node-${nodeId} a:has-text("Delete")`);
      await page.waitForSelector("#delete-warning");
      assert.match(
        await page.textContent("#delete-warning") ?? "",
        /1 peer is assigned to this node\. It will be unassigned and become the master's own peers/,
      );
      await page.click('#delete-node button:has-text("Delete node frankfurt")');
      await flash(page, "Node frankfurt deleted. 1 peer moved to the master (local).");
      assert.equal(await page.locator(`#node-${nodeId}`).count(), 0);
      await page.goto(`${base}/ui/peers`);
      assert.match(await page.textContent("#peer-1") ?? "", /Master/);

      assert.deepEqual(cspViolations, [], "no CSP violations");
      await context.close();
    });
  },
});
