// Chromium through playwright-core, launched from Debian's /usr/bin/chromium with flags that keep it off
// the network (this machine has none) and inside a fresh profile.
import { type Browser, chromium, type Page } from "playwright-core";
import { freePort, type Running, runProgram, startProgram } from "./programs.ts";
import { waitFor } from "./wait.ts";

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Chromium, optionally started through `wrap` (e.g. `nsenter --net=…` to browse from inside a test
 * namespace): a small script in a temp dir runs `wrap… /usr/bin/chromium "$@"`, removed on close.
 */
export async function launchBrowser(wrap: string[] = []): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  }
  let executablePath = CHROMIUM;
  let wrapperDir: string | null = null;
  if (wrap.length > 0) {
    wrapperDir = await Deno.makeTempDir({ prefix: "wb-chromium-" });
    executablePath = `${wrapperDir}/chromium`;
    const quoted = [...wrap, CHROMIUM].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    await Deno.writeTextFile(executablePath, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  }
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
  if (wrapperDir) {
    const dir = wrapperDir;
    browser.on("disconnected", () => void Deno.remove(dir, { recursive: true }).catch(() => {}));
  }
  return browser;
}

export const ADMIN_PW = "an admin password";

export type BrowserMaster = {
  dir: string;
  base: string;
  env: Record<string, string>;
  master: Running;
  browser: Browser;
};

/**
 * Runs `fn` with the real master program (an admin "root" made with the CLI) on a free loopback port and a
 * Chromium; everything is stopped and the data dir removed afterwards, also when `fn` throws.
 */
export async function withBrowserMaster(
  prefix: string,
  fn: (m: BrowserMaster) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const port = freePort();
  const env = {
    WIREBUDDY_DATA_DIR: dir,
    WIREBUDDY_SECRET_KEY: "e2e-secret-0123456789-abcdefghijklmnopqr",
    WIREBUDDY_LISTEN: `127.0.0.1:${port}`,
  };
  const created = await runProgram("master", ["admin", "create", "--username", "root"], env, `${ADMIN_PW}\n`);
  if (created.code !== 0) throw new Error(`admin create failed: ${created.output}`);
  const master = await startProgram("master", ["serve"], env);
  const browser = await launchBrowser();
  try {
    await waitFor("the master to listen", () => master.output().includes("WireBuddy master listening"), {
      timeoutMs: 15_000,
    });
    await fn({ dir, base: `https://127.0.0.1:${port}`, env, master, browser });
  } finally {
    await browser.close();
    await master.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Logs in through the login form and waits for the dashboard. */
export async function login(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/ui\/dashboard$/);
}

export const flash = (page: Page, text: string) =>
  page.waitForSelector(`#flash:has-text(${JSON.stringify(text)})`);

/** Collects the page's Content-Security-Policy violations (the UI must cause none). */
export function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) {
      const at = m.location();
      violations.push(`${m.text()} (at ${at.url}:${at.lineNumber}; page ${page.url()})`);
    }
  });
  return violations;
}
