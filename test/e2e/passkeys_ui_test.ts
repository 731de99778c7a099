// A real Chromium with a virtual authenticator (CDP WebAuthn domain) against the real master: register a
// passkey, log out, sign in with the passkey alone, remove it. Passkeys need a domain name as relying
// party id and a secure context, so the master serves http://localhost (loopback, TLS off).
import assert from "node:assert/strict";
import { launchBrowser } from "../support/browser.ts";
import { axeViolations, overflow, PHONE } from "../support/browser_checks.ts";
import { freePort, runProgram, startProgram } from "../support/programs.ts";
import { waitFor } from "../support/wait.ts";

const PASSWORD = "an admin password";

Deno.test({
  name: "chromium registers a passkey, logs out, signs in with the passkey alone, and removes it",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wb-passkey-" });
    const port = freePort();
    const base = `http://localhost:${port}`;
    const env = {
      WIREBUDDY_DATA_DIR: dir,
      WIREBUDDY_SECRET_KEY: "e2e-secret-0123456789-abcdefghijklmnopqr",
      WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
      WIREBUDDY_TLS: "off",
      WIREBUDDY_PUBLIC_URL: base,
    };
    const created = await runProgram(
      "master",
      ["admin", "create", "--username", "root"],
      env,
      `${PASSWORD}\n`,
    );
    assert.equal(created.code, 0, created.output);
    const master = await startProgram("master", ["serve"], env);
    const browser = await launchBrowser();
    try {
      await waitFor("the master to listen", () => master.output().includes("WireBuddy master listening"), {
        timeoutMs: 15_000,
      });
      // At phone width: every sign-in screen fits the screen and passes axe.
      const context = await browser.newContext({ viewport: PHONE });
      const fits = async (what: string) => {
        assert.equal(await overflow(page), null, `${what} is wider than the phone`);
        assert.deepEqual(await axeViolations(page), [], what);
      };
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send("WebAuthn.enable");
      const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });

      // Password login, then register a passkey on the account page.
      await page.goto(`${base}/login`);
      await fits("the login page");
      await page.fill('input[name="username"]', "root");
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('form[action="/login"] button[type="submit"]');
      await page.waitForURL(/\/ui\/dashboard$/);
      await page.goto(`${base}/ui/account`);
      await fits("the account page");
      await page.click('form[action="/ui/account/totp/start"] button');
      await page.waitForSelector("#totp-secret");
      await fits("the authenticator enrolment page");
      await page.goto(`${base}/ui/account`);
      await page.fill('#passkey-add input[name="name"]', "virtual laptop");
      await page.click('#passkey-add button[type="submit"]');
      await page.waitForSelector(".passkey-name >> text=virtual laptop");
      const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      assert.equal(credentials.length, 1, "the authenticator holds one resident credential");
      assert.equal(credentials[0]!.rpId, "localhost");

      // Log out; sign in with the passkey alone (no username, no password).
      await page.click('form[action="/logout"] button');
      await page.waitForURL(/\/login$/);
      await page.click('#passkey-login button[type="submit"]');
      await page.waitForURL(/\/ui\/dashboard$/);
      const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      assert.ok(after.credentials[0]!.signCount >= 1, "the authenticator counted the signature");

      // A clone of the key (same private key, an older signature counter) is refused.
      await page.click('form[action="/logout"] button');
      await page.waitForURL(/\/login$/);
      const [original] = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
      await cdp.send("WebAuthn.removeCredential", { authenticatorId, credentialId: original!.credentialId });
      await cdp.send("WebAuthn.addCredential", {
        authenticatorId,
        credential: { ...original!, signCount: 0 },
      });
      await page.click('#passkey-login button[type="submit"]');
      await page.waitForSelector("text=The passkey was not accepted");
      assert.match(page.url(), /\/login/);
      await page.fill('input[name="username"]', "root");
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('form[action="/login"] button[type="submit"]');
      await page.waitForURL(/\/ui\/dashboard$/);

      // Remove it: the account page lists none, and it no longer signs in.
      await page.goto(`${base}/ui/account`);
      await page.click('#passkeys li form button[type="submit"]');
      await page.waitForSelector("#passkeys >> text=No passkeys yet.");
      await page.click('form[action="/logout"] button');
      await page.waitForURL(/\/login$/);
      await page.click('#passkey-login button[type="submit"]');
      await page.waitForSelector("text=This passkey is not registered here");
      assert.match(page.url(), /\/login/);
      await context.close();
    } finally {
      await browser.close();
      await master.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
