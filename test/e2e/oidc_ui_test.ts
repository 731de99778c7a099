// Single sign-on end to end: Chromium, the real master and a real OpenID provider (npm oidc-provider) on
// loopback. Sign-in goes through the provider's own login page; the role comes from its "groups" claim;
// users are created on first sign-in; an account without a role, a tampered ID token, a wrong nonce and a
// wrong audience are refused.
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { ADMIN_PW, launchBrowser } from "../support/browser.ts";
import { overflow, PHONE } from "../support/browser_checks.ts";
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TokenMode } from "../support/oidc_provider.ts";
import { freePort, runProgram, startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

/** Signs in through the provider's login page in a fresh browser context; returns the page. */
async function ssoSignIn(browser: Browser, base: string, login: string) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: PHONE });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  assert.equal(await overflow(page), null, "the login page with its SSO button fits a phone");
  await page.click("text=Sign in with TestID");
  await page.waitForSelector('input[name="login"]'); // the provider's page
  assert.ok(!page.url().startsWith(base), `on the provider's page: ${page.url()}`);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "anything");
  await page.click('button[type="submit"]');
  await page.waitForURL((url) => url.href.startsWith(base) && !url.pathname.startsWith("/login/sso"));
  return { context, page };
}

Deno.test({
  name: "single sign-on through a real OpenID provider: role from a claim, and bad ID tokens refused",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wb-oidc-" });
    const port = freePort();
    const base = `https://127.0.0.1:${port}`;
    const provider = await startProvider(`${base}/login/sso/callback`);
    const env = {
      WIREBUDDY_DATA_DIR: dir,
      WIREBUDDY_SECRET_KEY: "e2e-secret-0123456789-abcdefghijklmnopqr",
      WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
      WIREBUDDY_OIDC_ISSUER: provider.issuer,
      WIREBUDDY_OIDC_CLIENT_ID: CLIENT_ID,
      WIREBUDDY_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      WIREBUDDY_OIDC_SCOPES: "openid profile groups",
      WIREBUDDY_OIDC_ADMIN_VALUES: "wb-admins",
      WIREBUDDY_OIDC_VIEWER_VALUES: "wb-viewers",
      WIREBUDDY_OIDC_LABEL: "Sign in with TestID",
    };
    const created = await runProgram(
      "master",
      ["admin", "create", "--username", "root"],
      env,
      `${ADMIN_PW}\n`,
    );
    assert.equal(created.code, 0, created.output);
    const master = await startProgram("master", ["serve"], env);
    let browser: Browser | null = null;
    try {
      await waitFor("the master to listen", () => master.output().includes("WireBuddy master listening"), {
        timeoutMs: 15_000,
      });
      browser = await launchBrowser();

      // An admin from the claim, created just in time.
      const admin = await ssoSignIn(browser, base, "alice");
      assert.match(admin.page.url(), /\/ui\/dashboard$/);
      await admin.page.goto(`${base}/ui/users`);
      assert.match(await admin.page.textContent("#user-table") ?? "", /alice\s*\(you\)\s*admin/);
      await admin.page.goto(`${base}/ui/audit`);
      assert.match(await admin.page.textContent("body") ?? "", /method=oidc/);
      await admin.context.close();

      // A viewer from the claim: no way to add users.
      const viewer = await ssoSignIn(browser, base, "victor");
      await viewer.page.goto(`${base}/ui/users`);
      assert.match(await viewer.page.textContent("#user-table") ?? "", /victor\s*\(you\)\s*viewer/);
      assert.equal(await viewer.page.locator("#new-user").count(), 0);
      await viewer.context.close();

      // No admin or viewer value in the claim: refused, no user created.
      const nobody = await ssoSignIn(browser, base, "mallory");
      assert.match(nobody.page.url(), /\/login$/);
      assert.match(await nobody.page.textContent("body") ?? "", /"mallory" has no WireBuddy role/);
      await nobody.context.close();

      // The provider's token endpoint misbehaves: each is refused for its own reason, with no session.
      const cases: [TokenMode, RegExp][] = [
        ["tampered", /signature/i],
        ["wrong-nonce", /nonce/i],
        ["wrong-audience", /aud/i],
      ];
      for (const [mode, reason] of cases) {
        provider.setMode(mode);
        const before = master.output().length;
        const bad = await ssoSignIn(browser, base, "mallory");
        assert.match(bad.page.url(), /\/login$/, mode);
        assert.match(await bad.page.textContent("body") ?? "", /Single sign-on failed/, mode);
        const cookies = await bad.context.cookies(base);
        assert.equal(cookies.some((c) => c.name === "__Host-wb_session"), false, `${mode}: no session`);
        const logged = await waitFor(`the master's log line for ${mode}`, () => {
          const line = master.output().slice(before).split("\n").find((l) =>
            l.includes("single sign-on refused")
          );
          return line ?? null;
        });
        assert.match(logged, reason, `${mode}: ${logged}`);
        await bad.context.close();
      }
      provider.setMode("honest");
      const again = await ssoSignIn(browser, base, "alice");
      assert.match(again.page.url(), /\/ui\/dashboard$/, "an honest token signs in again");
      await again.context.close();
    } finally {
      await browser?.close();
      await master.stop();
      await provider.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
