// A real browser against the real master: create an interface, add peers through the dialog, decode the
// QR code back to exactly the downloaded config, search, edit, disable and delete; a viewer changes nothing.
import assert from "node:assert/strict";
import jsQRModule from "jsqr";
import type { Page } from "playwright-core";
import { ADMIN_PW, flash, login, watchCsp, withBrowserMaster } from "../support/browser.ts";
import { waitFor } from "../support/wait.ts";

// jsqr is CommonJS: its function is the module's default export.
const jsQR = jsQRModule.default;

const VIEWER_PW = "a viewer password";

// Just enough of the DOM for the browser-side functions below (the test is checked without DOM types).
type Ctx2d = {
  fillStyle: string;
  imageSmoothingEnabled: boolean;
  fillRect(x: number, y: number, w: number, h: number): void;
  drawImage(img: QrImg, x: number, y: number, w: number, h: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
};
type QrImg = {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  ownerDocument: {
    createElement(tag: "canvas"): { width: number; height: number; getContext(kind: "2d"): Ctx2d };
  };
};

/** Draws the QR <img> (the master's SVG) onto a white canvas and decodes its pixels with jsQR. */
async function decodeQrImage(page: Page): Promise<string> {
  const img = page.locator("#modal img#peer-qr");
  await waitFor(
    "the QR image to load",
    () => img.evaluate((el: QrImg) => el.complete && el.naturalWidth > 0),
    { timeoutMs: 15_000 },
  );
  const { width, height, pixels } = await img.evaluate((el: QrImg) => {
    const width = 640;
    const height = Math.round(width * el.naturalHeight / el.naturalWidth);
    const canvas = el.ownerDocument.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(el, 0, 0, width, height);
    const data = ctx.getImageData(0, 0, width, height).data;
    let binary = "";
    for (let i = 0; i < data.length; i += 0x8000) {
      binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
    }
    return { width, height, pixels: btoa(binary) };
  });
  const raw = atob(pixels);
  const rgba = new Uint8ClampedArray(raw.length);
  for (let i = 0; i < raw.length; i++) rgba[i] = raw.charCodeAt(i);
  const code = jsQR(rgba, width, height);
  assert.ok(code, "the QR image decodes");
  return code.data;
}

Deno.test({
  name:
    "chromium creates an interface, adds peers, decodes the QR code to exactly the .conf, disables and deletes; a viewer cannot change anything",
  sanitizeResources: false, // playwright keeps pipes to chromium open between steps
  sanitizeOps: false,
  async fn() {
    await withBrowserMaster("wb-e2e-peers-", async ({ dir, base, browser }) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      const page = await context.newPage();
      const cspViolations = watchCsp(page);
      const nativeDialogs: string[] = [];
      page.on("dialog", (d) => {
        nativeDialogs.push(d.message()); // the UI never uses the browser's confirm() box
        void d.dismiss();
      });

      await login(page, base, "root", ADMIN_PW);

      // An interface through the form.
      await page.click('nav >> text="Interfaces"');
      await page.waitForURL(/\/ui\/interfaces$/);
      await page.fill('#new-interface input[name="name"]', "wg0");
      await page.fill('#new-interface input[name="ipv4_pool"]', "10.66.0.0/24");
      await page.fill('#new-interface input[name="listen_port"]', "abc");
      await page.click('#new-interface button[type="submit"]');
      await page.waitForSelector('small.error[data-field="listen_port"]');
      await page.fill('#new-interface input[name="listen_port"]', "51820");
      await page.fill('#new-interface input[name="dns"]', "1.1.1.1");
      await page.fill('#new-interface input[name="keepalive"]', "25");
      await page.click('#new-interface button[type="submit"]');
      await flash(page, "Interface wg0 created");
      assert.match(await page.textContent("#interface-table") ?? "", /10\.66\.0\.1\/24/);

      // Two peers through the add dialog; while its form loads, the loading bar shows.
      await page.click('nav >> text="Peers"');
      await page.waitForURL(/\/ui\/peers$/);
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      await page.route("**/ui/peers/new", async (route) => {
        await held;
        await route.continue();
      });
      await page.click("#add-peer");
      await page.waitForSelector("html.busy");
      release();
      await page.waitForSelector("dialog#modal[open] #peer-form");
      await page.waitForSelector("html:not(.busy)");
      await page.unroute("**/ui/peers/new");
      await page.click('#modal button:has-text("Close")');
      await page.waitForSelector("dialog#modal[open]", { state: "detached" });
      for (const name of ["alice-phone", "bob-laptop"]) {
        await page.click("#add-peer");
        await page.waitForSelector("dialog#modal[open] #peer-form");
        await page.fill('#modal input[name="name"]', name);
        if (name === "bob-laptop") await page.selectOption('#modal select[name="routing"]', "split");
        await page.click('#modal button[type="submit"].primary');
        await flash(page, `Peer ${name} added`);
      }
      assert.equal(await page.locator("dialog#modal[open]").count(), 0, "the dialog closed");
      assert.match(await page.textContent("#peer-count") ?? "", /1–2 of 2 peers/);

      // A bad edit keeps the dialog open with the field named; a good one saves.
      await page.click('#peer-2 a:has-text("Edit")');
      await page.waitForSelector("dialog#modal[open] #peer-form");
      await page.fill('#modal input[name="public_key"]', "not-a-key");
      await page.click('#modal button[type="submit"].primary');
      await page.waitForSelector('dialog#modal[open] small.error[data-field="public_key"]');
      await page.fill('#modal input[name="public_key"]', "");
      await page.fill('#modal input[name="name"]', "bob-tablet");
      await page.click('#modal button[type="submit"].primary');
      await flash(page, "Peer bob-tablet saved");

      await page.screenshot({ path: Deno.env.get("WB_SCREENSHOT") ?? `${dir}/peers.png`, fullPage: true });

      // Live search swaps only the table.
      await page.fill('input[name="q"]', "bob");
      await page.waitForSelector('#peer-count:has-text("1–1 of 1 peers")');
      assert.match(page.url(), /\?q=bob$/);
      await page.fill('input[name="q"]', "");
      await page.waitForSelector('#peer-count:has-text("1–2 of 2 peers")');

      // Sorting by a column heading swaps the table; "select all" and a bulk action apply to every row.
      await page.click('#peer-table th a:has-text("Name")');
      await page.waitForSelector('#peer-table th[aria-sort="ascending"]');
      assert.match(page.url(), /\?sort=name$/);
      await page.click('#peer-table th a:has-text("Name")');
      await page.waitForSelector('#peer-table th[aria-sort="descending"]');
      assert.deepEqual(
        await page.locator("#peer-table tbody tr").evaluateAll((rows) => rows.map((r) => r.id)),
        ["peer-2", "peer-1"],
        "bob-tablet before alice-phone",
      );
      await page.check("#peer-table .select-all");
      assert.equal(await page.locator('#peer-table input[name="ids"]:checked').count(), 2);
      await page.selectOption("#bulk-action", "disable");
      await page.click("#bulk-apply");
      await flash(page, "2 peers disabled.");
      assert.match(page.url(), /\?sort=-name$/, "back on the same view");
      await page.check("#peer-table .select-all");
      await page.selectOption("#bulk-action", "enable");
      await page.click("#bulk-apply");
      await flash(page, "2 peers enabled.");
      await page.goto(`${base}/ui/peers`);

      // The QR dialog: the image decodes to exactly the config the download link hands out.
      await page.click('#peer-1 a:has-text("QR")');
      await page.waitForSelector("dialog#modal[open] img#peer-qr");
      const decoded = await decodeQrImage(page);
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#qr-download")]);
      assert.equal(download.suggestedFilename(), "alice-phone.conf");
      const conf = await Deno.readTextFile((await download.path())!);
      assert.match(conf, /^\[Interface\]\nPrivateKey = [A-Za-z0-9+/]{43}=\n/);
      assert.match(conf, /AllowedIPs = 0\.0\.0\.0\/0/);
      assert.equal(decoded, conf, "the QR code holds exactly the downloaded config");
      await page.click('#modal button:has-text("Close")');
      assert.equal(await page.locator("dialog#modal[open]").count(), 0);

      // Disable, then delete.
      await page.click('#peer-1 button:has-text("Disable")');
      await flash(page, "Peer alice-phone disabled");
      assert.equal(await page.textContent("#peer-1 .badge.status-disabled"), "disabled");
      // Delete asks first, in the dialog: Cancel keeps the peer, the red button deletes it.
      await page.click('#peer-1 a:has-text("Delete")');
      await page.waitForSelector("dialog#modal[open] #delete-peer");
      assert.match(
        await page.textContent("#delete-peer .warning") ?? "",
        /alice-phone's keys and its address/,
      );
      await page.click('#modal button:has-text("Cancel")');
      await page.waitForSelector("dialog#modal[open]", { state: "detached" });
      assert.equal(await page.locator("#peer-1").count(), 1);
      await page.click('#peer-1 a:has-text("Delete")');
      await page.click('#modal button:has-text("Delete peer alice-phone")');
      await flash(page, "Peer alice-phone deleted");
      assert.equal(await page.locator("#peer-1").count(), 0);

      // A viewer, made by the admin through the users form.
      await page.goto(`${base}/ui/users`);
      await page.fill('#new-user input[name="username"]', "vera");
      await page.fill('#new-user input[name="password"]', VIEWER_PW);
      await page.selectOption('#new-user select[name="role"]', "viewer");
      await page.click('#new-user button[type="submit"]');
      await page.waitForSelector('text=User "vera" created as viewer.');
      await page.click('button:has-text("Log out")');
      await page.waitForURL(/\/login$/);
      await login(page, base, "vera", VIEWER_PW);

      await page.goto(`${base}/ui/peers`);
      assert.match(await page.textContent("#peer-table") ?? "", /bob-tablet/);
      assert.equal(await page.locator("#add-peer").count(), 0, "no add button");
      assert.equal(await page.locator('#peer-table form[method="post"]').count(), 0, "no row forms");
      assert.equal(await page.locator('#peer-table a:has-text("Edit")').count(), 0, "no edit links");
      await page.goto(`${base}/ui/interfaces`);
      assert.equal(await page.locator("#new-interface").count(), 0, "no interface form");
      assert.equal(await page.locator('button:has-text("Delete"), a:has-text("Delete")').count(), 0);
      const statuses = await page.evaluate(async () => {
        const post = (path: string, body: string) =>
          fetch(path, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body,
          }).then((r) => r.status);
        return [
          await post("/ui/peers", "interface_id=1&name=sneaky&routing=full&enabled=on"),
          await post("/ui/peers/2/toggle", ""),
          await post("/ui/peers/2/delete", ""),
          await post("/ui/interfaces/1/delete", ""),
        ];
      });
      assert.deepEqual(statuses, [403, 403, 403, 403]);
      await page.goto(`${base}/ui/peers`);
      assert.match(await page.textContent("#peer-count") ?? "", /1–1 of 1 peers/);
      assert.equal(await page.textContent("#peer-2 .badge.status-active"), "enabled");

      assert.deepEqual(nativeDialogs, [], "no browser confirm() box");
      assert.deepEqual(cspViolations, [], "no CSP violations");
      await context.close();
    });
  },
});
