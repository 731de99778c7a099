// The UI without JavaScript, on a phone: the menu is a plain list, nothing is wider than the screen, a peer
// is added through its form page, and a delete asks on a confirmation page before it happens.
import assert from "node:assert/strict";
import { ADMIN_PW, flash, login, withBrowserMaster } from "../support/browser.ts";
import { overflow, PHONE } from "../support/browser_checks.ts";

Deno.test({
  name: "chromium without JavaScript on a phone: a plain menu, no overflow, forms and confirmations as pages",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    await withBrowserMaster("wb-e2e-nojs-", async ({ base, browser }) => {
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        javaScriptEnabled: false,
        viewport: PHONE,
        isMobile: true,
        hasTouch: true,
      });
      const page = await context.newPage();
      await login(page, base, "root", ADMIN_PW);

      // The menu: no drawer button, every entry a visible link.
      assert.equal(await page.locator(".menu-button").isVisible(), false);
      assert.ok(await page.locator('#sidenav a:has-text("Peers")').isVisible());
      assert.equal(await overflow(page), null);

      await page.goto(`${base}/ui/interfaces`);
      await page.click('#new-interface button[type="submit"]'); // the filled-in defaults
      await flash(page, "Interface wg0 created");

      // Add peer is a link to the form page; the form posts and lands back on the list.
      await page.goto(`${base}/ui/peers`);
      await page.tap("#add-peer");
      await page.waitForURL(/\/ui\/peers\/new$/);
      await page.fill('#peer-form input[name="name"]', "alice-phone");
      await page.tap('#peer-form button[type="submit"]');
      await flash(page, "Peer alice-phone added");
      assert.equal(await overflow(page), null);

      // Delete: a confirmation page first; Cancel keeps the peer, the button deletes it.
      await page.tap('#peer-1 a:has-text("Delete")');
      await page.waitForURL(/\/ui\/peers\/1\/delete$/);
      assert.match(await page.textContent("h1") ?? "", /Delete peer alice-phone\?/);
      await page.tap('a.button:has-text("Cancel")');
      await page.waitForURL(/\/ui\/peers$/);
      assert.equal(await page.locator("#peer-1").count(), 1);
      await page.tap('#peer-1 a:has-text("Delete")');
      await page.tap('button:has-text("Delete peer alice-phone")');
      await flash(page, "Peer alice-phone deleted");
      assert.equal(await page.locator("#peer-1").count(), 0);
      await context.close();
    });
  },
});
