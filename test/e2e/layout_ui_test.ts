// Every page of the UI in Chromium at 1366×900 and at 390×844 (a phone, touch), in the light and the dark
// theme (the Pools screen with two pools, their members and clients, too): no horizontal overflow, touch
// targets of at least 44 px on the phone, the menu drawer and the dialogs fully on screen and usable by
// tapping, and zero serious or critical axe-core findings. The run
// writes screenshots of the dashboard, peers, pools, the add-peer and QR dialogs and the nodes page at both
// widths in both themes to test-artifacts/screenshots (or WB_SCREENSHOT_DIR).
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ADMIN_PW, login, watchCsp, withBrowserMaster } from "../support/browser.ts";
import { waitFor } from "../support/wait.ts";
import {
  axeViolations,
  DESKTOP,
  fullyOnScreen,
  overflow,
  PHONE,
  screenshotDir,
  smallTargets,
  sticksOut,
} from "../support/browser_checks.ts";

type Theme = "light" | "dark";
type Width = "desktop" | "phone";

/** A context as a person would open it: a desktop window, or a phone (touch, mobile viewport). */
async function openContext(browser: Browser, width: Width, theme: Theme): Promise<BrowserContext> {
  return await browser.newContext({
    ignoreHTTPSErrors: true,
    colorScheme: theme, // the system's theme: the UI's "auto" follows it
    ...(width === "phone"
      ? { viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
      : { viewport: DESKTOP }),
  });
}

/** Form posts as the signed-in browser (same origin), for the data the pages show. */
async function post(page: Page, base: string, path: string, form: Record<string, string>) {
  const res = await page.request.post(`${base}${path}`, { form, headers: { origin: base }, maxRedirects: 0 });
  assert.ok(res.status() < 400, `POST ${path}: ${res.status()} ${await res.text()}`);
  return res;
}

/** 2 hours of a peer's counters every 30 s, as its node would report them. */
function seedTraffic(dbPath: string, publicKey: string) {
  const db = new DatabaseSync(dbPath);
  db.exec("PRAGMA busy_timeout = 5000");
  const insert = db.prepare(
    `INSERT OR IGNORE INTO peer_metrics
       (public_key, resolution, at, node_id, rx, tx, handshake, endpoint, rx_total, tx_total)
     VALUES (?, 0, ?, NULL, ?, ?, ?, '198.51.100.23:51413', ?, ?)`,
  );
  const now = Date.now();
  let rx = 0;
  let tx = 0;
  db.exec("BEGIN");
  for (let t = now - 2 * 3_600_000, k = 0; t <= now; t += 30_000, k++) {
    rx += 40_000 + Math.round(30_000 * Math.sin(k / 20));
    tx += 8_000 + Math.round(6_000 * Math.cos(k / 15));
    insert.run(publicKey, t, rx, tx, Math.floor(t / 1000) - 10, rx, tx); // no reset: totals = counters
  }
  db.exec("COMMIT");
  db.close();
}

/**
 * Failover pools as the Pools screen shows them at their fullest: a VRRP pool (interface 2) with two
 * members, one draining, and two clients, one held by frankfurt with its endpoint and a member report; a
 * DNS pool (interface 3) served by the master with long names and an update error. Node 3 is tokyo; the
 * pool clients are peers 4 and 5.
 */
async function seedPools(page: Page, base: string, dbPath: string) {
  await post(page, base, "/ui/nodes", { name: "tokyo", fqdn: "tyo.example.com", wg_port: "51820" });
  await post(page, base, "/ui/pools", {
    name: "wbp0",
    ipv4_pool: "10.77.0.0/24",
    listen_port: "51900",
    announce_kind: "vrrp",
    vrrp_address: "192.0.2.10/24",
    vrrp_vrid: "42",
    vrrp_advert_ms: "500",
    vrrp_link: "eth0",
  });
  await post(page, base, "/ui/pools/2/members", { node_id: "2" });
  await post(page, base, "/ui/pools/2/members", { node_id: "3", priority: "150" });
  await post(page, base, "/ui/pools/2/members/3/drain", {});
  await post(page, base, "/ui/pools", {
    name: "wbp-dns1",
    ipv4_pool: "10.78.0.0/24",
    listen_port: "51901",
    announce_kind: "dns",
    dns_name: "vpn-eu-west-failover.pools.example.com",
    dns_zone: "pools.example.com",
    dns_server: "127.0.0.1:5399",
    tsig_name: "wirebuddy-pool-update-key",
    tsig_algorithm: "hmac-sha512",
    tsig_secret: btoa("0123456789abcdef0123456789abcdef"),
    dns_ttl: "30",
  });
  await post(page, base, "/ui/pools/3/members", { node_id: "1" });
  await post(page, base, "/ui/peers", { interface_id: "2", name: "erin-phone-on-the-pool", enabled: "on" });
  await post(page, base, "/ui/peers", { interface_id: "2", name: "frank", enabled: "on" });
  const db = new DatabaseSync(dbPath);
  db.exec("PRAGMA busy_timeout = 5000");
  const now = Date.now();
  db.prepare(
    `INSERT INTO pool_holders (peer_id, node_id, handshake_at, endpoint, updated_at)
     VALUES (4, 2, ?, '[2001:db8:4a7f:1200::2a]:51413', ?)`,
  ).run(now - 20_000, now);
  db.prepare(
    `UPDATE pool_members SET report_state = 'serving', report_detail = 'holds 192.0.2.10/24 on eth0 (VRRP master)',
       report_sessions = 1, reported_at = ? WHERE interface_id = 2 AND node_id = 2`,
  ).run(now);
  db.close();
}

/** The pages an admin reaches, by name. */
const ADMIN_PAGES: [string, string][] = [
  ["dashboard", "/ui/dashboard"],
  ["peers", "/ui/peers"],
  ["peer-new", "/ui/peers/new"],
  ["peer-edit", "/ui/peers/1/edit"],
  ["peer-qr", "/ui/peers/1/qr"],
  ["peer-traffic", "/ui/peers/1/traffic"],
  ["interfaces", "/ui/interfaces"],
  ["interface-edit", "/ui/interfaces/1/edit"],
  ["nodes", "/ui/nodes"],
  ["node", "/ui/nodes/2"],
  ["node-local", "/ui/nodes/1"],
  ["node-edit", "/ui/nodes/2/edit"],
  ["node-delete", "/ui/nodes/2/delete"],
  ["node-token", "/ui/nodes/2/token"],
  ["peer-delete", "/ui/peers/3/delete"],
  ["interface-delete", "/ui/interfaces/1/delete"],
  ["user-delete", "/ui/users/2/delete"],
  ["token-revoke", "/ui/tokens/1/revoke"],
  ["users", "/ui/users"],
  ["tokens", "/ui/tokens"],
  ["audit", "/ui/audit"],
  ["settings", "/ui/settings"],
  ["dns", "/ui/dns"],
  ["webhooks", "/ui/webhooks"],
  ["backup", "/ui/backup"],
  ["user-scope", "/ui/users/2/scope"],
  ["backup", "/ui/backup"],
  ["account", "/ui/account"],
  ["not-found", "/ui/no-such-page"],
  ["pools", "/ui/pools"],
  ["pool-edit", "/ui/pools/2/edit"],
  ["pool-edit-dns", "/ui/pools/3/edit"],
  ["pool-member-remove", "/ui/pools/2/members/2/remove"],
  ["pool-client-traffic", "/ui/peers/4/traffic"],
  ["interface-pool-edit", "/ui/interfaces/2/edit"],
];

const SHOT_PAGES = new Set(["dashboard", "peers", "nodes", "pools"]);

Deno.test({
  name:
    "chromium at 1366×900 and 390×844, light and dark: every page fits the screen, phone targets are 44 px, dialogs and the menu are on screen and tappable, axe finds nothing serious",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    await withBrowserMaster("wb-e2e-layout-", async ({ dir, base, browser }) => {
      const shots = screenshotDir();
      await Deno.mkdir(shots, { recursive: true });

      // The data the pages show: an interface, a node, peers on both, traffic, a viewer and a token.
      {
        const context = await openContext(browser, "desktop", "light");
        const page = await context.newPage();
        await login(page, base, "root", ADMIN_PW);
        await post(page, base, "/ui/interfaces", {
          name: "wg0",
          ipv4_pool: "10.66.0.0/24",
          listen_port: "51820",
          dns: "1.1.1.1",
          keepalive: "25",
        });
        await post(page, base, "/ui/nodes", { name: "frankfurt", fqdn: "fra.example.com", wg_port: "51820" });
        await post(page, base, "/ui/peers", { interface_id: "1", name: "alice-phone", enabled: "on" });
        await post(page, base, "/ui/peers", {
          interface_id: "1",
          name: "bob-laptop-with-a-rather-long-name",
          node_id: "2",
          enabled: "on",
        });
        await post(page, base, "/ui/peers", { interface_id: "1", name: "carol", routing: "split" });
        await seedPools(page, base, `${dir}/wirebuddy.db`);
        await post(page, base, "/ui/users", {
          username: "vera",
          password: "a viewer password",
          role: "viewer",
        });
        await post(page, base, "/ui/tokens", { name: "automation", scope: "read", expires_in_days: "90" });
        const publicKey = await page.evaluate(async () => {
          const r = await fetch("/ui/peers/1/traffic");
          return (await r.text()).match(/<dt>Public key<\/dt><dd><code>([A-Za-z0-9+/=]{44})</)?.[1] ?? "";
        });
        assert.match(publicKey, /^[A-Za-z0-9+/]{43}=$/);
        seedTraffic(`${dir}/wirebuddy.db`, publicKey);
        await context.close();
      }

      const problems: string[] = [];
      const check = async (page: Page, where: string, width: Width) => {
        const wide = await overflow(page);
        if (wide) problems.push(`${where}: ${wide.scrollWidth} px wide in a ${wide.innerWidth} px window`);
        for (const s of await sticksOut(page)) problems.push(`${where}: ${s}`);
        if (width === "phone") {
          for (const t of await smallTargets(page)) problems.push(`${where}: small target ${t}`);
        }
        for (const v of await axeViolations(page)) problems.push(`${where}: axe ${v}`);
      };

      for (const theme of ["light", "dark"] as const) {
        for (const width of ["desktop", "phone"] as const) {
          const context = await openContext(browser, width, theme);
          const page = await context.newPage();
          const csp = watchCsp(page);
          const shot = (name: string, fullPage = true) =>
            page.screenshot({ path: `${shots}/${name}-${width}-${theme}.png`, fullPage });

          // Logged out: the login page.
          await page.goto(`${base}/login`);
          await check(page, `${theme}/${width} login`, width);
          await login(page, base, "root", ADMIN_PW);

          for (const [name, path] of ADMIN_PAGES) {
            await page.goto(`${base}${path}`);
            if (name === "dashboard") await page.waitForSelector("#traffic-total svg.chart");
            if (name === "settings" && theme === "light" && width === "desktop") {
              // Durations as their variables take them, and the loopback public URL warned about.
              assert.match(
                await page.textContent("#settings-table") ?? "",
                /Session lifetime12hWIREBUDDY_SESSION_TTL/,
              );
              assert.ok(await page.locator("#public-url-warning").isVisible());
            }
            await check(page, `${theme}/${width} ${name}`, width);
            if (SHOT_PAGES.has(name)) await shot(name);
          }

          // The page's primary action is on screen, and the dialogs it opens fit the screen and work by tap.
          await page.goto(`${base}/ui/peers`);
          assert.ok(await fullyOnScreen(page, "#add-peer"), `${theme}/${width}: "Add peer" is on screen`);
          const tap = (selector: string) => width === "phone" ? page.tap(selector) : page.click(selector);
          await tap("#add-peer");
          await page.waitForSelector("dialog#modal[open] #peer-form");
          assert.ok(
            await fullyOnScreen(page, "dialog#modal"),
            `${theme}/${width}: the add dialog is on screen`,
          );
          await check(page, `${theme}/${width} add-peer dialog`, width);
          await shot("add-peer", false);
          if (width === "phone") await page.tap('#modal input[name="name"]');
          await page.fill('#modal input[name="name"]', `dave-${theme}-${width}`);
          await page.locator('#modal button[type="submit"].primary').scrollIntoViewIfNeeded();
          assert.ok(
            await fullyOnScreen(page, '#modal button[type="submit"].primary'),
            `${theme}/${width}: the dialog's submit button can be brought on screen`,
          );
          await tap('#modal button[type="submit"].primary');
          await page.waitForSelector(`#flash:has-text("Peer dave-${theme}-${width} added")`);

          // A confirmation in the dialog: on screen, its buttons tappable.
          await tap('#peer-3 a:has-text("Delete")');
          await page.waitForSelector("dialog#modal[open] #delete-peer");
          assert.ok(
            await fullyOnScreen(page, "dialog#modal"),
            `${theme}/${width}: the confirmation is on screen`,
          );
          await check(page, `${theme}/${width} delete dialog`, width);
          await tap('#modal button:has-text("Cancel")');
          await page.waitForSelector("dialog#modal[open]", { state: "detached" });

          await tap('#peer-1 a:has-text("QR")');
          await page.waitForSelector("dialog#modal[open] img#peer-qr");
          await page.waitForFunction(() => {
            const img = (globalThis as unknown as { document: Doc2 }).document.querySelector("#peer-qr");
            return img !== null && img.complete && img.naturalWidth > 0;
          });
          assert.ok(
            await fullyOnScreen(page, "dialog#modal"),
            `${theme}/${width}: the QR dialog is on screen`,
          );
          assert.ok(
            await fullyOnScreen(page, "#peer-qr"),
            `${theme}/${width}: the whole QR code is on screen`,
          );
          await check(page, `${theme}/${width} QR dialog`, width);
          await shot("qr", false);
          await tap('#modal button:has-text("Close")');
          await page.waitForSelector("dialog#modal[open]", { state: "detached" });

          if (width === "phone") {
            // The menu: a drawer opened by tapping, fully on screen, and a tap on a link navigates.
            assert.ok(!(await page.locator("#sidenav").isVisible()), "the drawer starts closed");
            await tap(".menu-button");
            await page.waitForSelector("#sidenav.open");
            assert.equal(await page.getAttribute(".menu-button", "aria-expanded"), "true");
            await waitFor(`${theme}: the drawer to slide in`, () => fullyOnScreen(page, "#sidenav"), {
              timeoutMs: 5_000,
            });
            await check(page, `${theme}/${width} menu drawer`, width);
            await shot("menu", false);
            await tap('#sidenav a:has-text("Nodes")');
            await page.waitForSelector('h1:has-text("Nodes")');
            await page.waitForSelector("#sidenav", { state: "hidden" }); // closed again on the new page
          }

          // The node token page (shown once), after its confirmation.
          await page.goto(`${base}/ui/nodes/2/token`);
          await tap('button:has-text("Make a new token")');
          await page.waitForSelector("#enrollment-token");
          await check(page, `${theme}/${width} node token`, width);

          assert.deepEqual(csp, [], "no CSP violations");
          await context.close();
        }
      }

      // Logged out pages and a viewer's view, in both themes on the phone.
      for (const theme of ["light", "dark"] as const) {
        const context = await openContext(browser, "phone", theme);
        const page = await context.newPage();
        await page.goto(`${base}/setup?token=nope`);
        await check(page, `${theme}/phone setup (invalid link)`, "phone");
        await login(page, base, "vera", "a viewer password");
        for (const path of ["/ui/peers", "/ui/nodes", "/ui/peers/1/qr", "/ui/pools"]) {
          await page.goto(`${base}${path}`);
          await check(page, `${theme}/phone viewer ${path}`, "phone");
        }
        await context.close();
      }

      assert.deepEqual(problems, [], "layout and accessibility problems");
    });
  },
});

type Doc2 = { querySelector(s: string): { complete: boolean; naturalWidth: number } | null };

Deno.test({
  name:
    "chromium remembers the chosen theme per browser: dark and light stick across reloads, auto follows the system",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withBrowserMaster("wb-e2e-theme-", async ({ base, browser }) => {
      const context = await openContext(browser, "desktop", "light");
      const page = await context.newPage();
      await login(page, base, "root", ADMIN_PW);
      const theme = () =>
        page.evaluate(() => (globalThis as unknown as Win2).document.documentElement.dataset.theme ?? "");
      const background = () =>
        page.evaluate(() => {
          const w = globalThis as unknown as Win2;
          return w.getComputedStyle(w.document.documentElement).backgroundColor;
        });
      assert.equal(await theme(), "");
      const light = await background();
      assert.equal(await page.isChecked('input[name="wb-theme"][value="auto"]'), true);

      await page.check('input[name="wb-theme"][value="dark"]');
      assert.equal(await theme(), "dark");
      const dark = await background();
      assert.notEqual(dark, light, "the page turned dark");
      await page.reload();
      assert.equal(await theme(), "dark", "remembered across a reload");
      assert.equal(await background(), dark);
      assert.equal(await page.isChecked('input[name="wb-theme"][value="dark"]'), true);
      await page.click('nav >> text="Peers"');
      await page.waitForSelector('h1:has-text("Peers")');
      await waitFor(
        "the picker to show dark after a boosted navigation",
        () => page.isChecked('input[name="wb-theme"][value="dark"]'),
      );
      assert.equal(await theme(), "dark");

      await page.check('input[name="wb-theme"][value="auto"]');
      assert.equal(await theme(), "");
      assert.equal(await background(), light, "auto follows the system (light here)");
      await page.emulateMedia({ colorScheme: "dark" });
      assert.equal(await background(), dark, "auto follows the system (now dark)");
      await page.emulateMedia({ colorScheme: "dark" });
      await page.check('input[name="wb-theme"][value="light"]');
      assert.equal(await background(), light, "light wins over a dark system");
      await page.reload();
      assert.equal(await theme(), "light");
      await context.close();
    });
  },
});

type Win2 = {
  document: { documentElement: { dataset: Record<string, string> } };
  getComputedStyle(el: unknown): { backgroundColor: string };
};
