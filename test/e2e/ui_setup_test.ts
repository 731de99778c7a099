// A real browser against the real master: follow the setup link, log in, create a viewer, and check the
// viewer cannot change anything.
import assert from "node:assert/strict";
import { launchBrowser } from "../support/browser.ts";
import { freePort, startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

Deno.test({
  name:
    "chromium follows the setup link, logs in through the UI and creates a viewer who cannot change anything",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wb-e2e-" });
    const port = freePort();
    const master = await startProgram("master", ["serve"], {
      WIREBUDDY_DATA_DIR: dir,
      WIREBUDDY_SECRET_KEY: "e2e-secret-0123456789-abcdefghijklmnopqr",
      WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
    });
    const browser = await launchBrowser();
    try {
      const link = await waitFor(
        "the setup link",
        () => master.output().match(/(https:\/\/\S+\/setup\?token=[\w-]+)/)?.[1],
        { timeoutMs: 15_000 },
      );
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();

      await page.goto(link);
      await page.fill('input[name="username"]', "root");
      await page.fill('input[name="password"]', "short");
      await page.click('button[type="submit"]');
      await page.waitForSelector('small.error[data-field="password"]');

      await page.fill('input[name="password"]', "an admin password");
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/login$/);
      assert.match(await page.textContent("#flash") ?? "", /Admin "root" created/);

      await page.fill('input[name="username"]', "root");
      await page.fill('input[name="password"]', "an admin password");
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/ui\/dashboard$/);
      assert.equal(await page.textContent("h1"), "Dashboard");

      await page.click('nav >> text="Users"');
      await page.waitForURL(/\/ui\/users$/);
      await page.fill('#new-user input[name="username"]', "vera");
      await page.fill('#new-user input[name="password"]', "a viewer password");
      await page.selectOption('#new-user select[name="role"]', "viewer");
      await page.click('#new-user button[type="submit"]');
      await page.waitForSelector('text=User "vera" created as viewer.');
      assert.equal(await page.textContent("#user-table tr:has-text('vera') .badge"), "viewer");

      await page.click('button:has-text("Log out")');
      await page.waitForURL(/\/login$/);
      await page.fill('input[name="username"]', "vera");
      await page.fill('input[name="password"]', "a viewer password");
      await page.click('button[type="submit"]');
      await page.waitForURL(/\/ui\/dashboard$/);
      await page.goto(`https://127.0.0.1:${port}/ui/users`);
      assert.equal(await page.locator("#new-user").count(), 0, "a viewer gets no add form");
      assert.equal(await page.locator('button:has-text("Delete")').count(), 0, "nor delete buttons");

      // Even a hand-made form post from the viewer's browser is refused.
      const status = await page.evaluate(async () => {
        const res = await fetch("/ui/users", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "username=sneaky&password=0123456789ab&role=admin",
        });
        return res.status;
      });
      assert.equal(status, 403);
      await context.close();
    } finally {
      await browser.close();
      await master.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
