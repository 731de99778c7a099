// What the browser tests check on every page: nothing wider than the screen, touch targets a thumb can
// hit, an element fully on screen, and an axe-core accessibility scan (serious and critical findings).
// axe-core comes from npm and is evaluated through the DevTools protocol (page.evaluate), which the
// page's Content-Security-Policy does not apply to: the app itself still runs under its real CSP.
import axeSource from "axe-core/axe.min.js" with { type: "text" };
import type { Page } from "playwright-core";

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1366, height: 900 };

/** Where the browser tests write their screenshots (git-ignored; named in the README). */
export function screenshotDir(): string {
  return Deno.env.get("WB_SCREENSHOT_DIR") ??
    new URL("../../test-artifacts/screenshots", import.meta.url).pathname;
}

// Just enough of the DOM for the browser-side functions below (the tests are checked without DOM types).
type Rect = { left: number; right: number; top: number; bottom: number; width: number; height: number };
type El = {
  tagName: string;
  id: string;
  className: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Rect;
  checkVisibility(o?: Record<string, boolean>): boolean;
  closest(s: string): El | null;
};
type Doc = {
  documentElement: { scrollWidth: number; clientWidth: number };
  body: { scrollWidth: number };
  querySelectorAll(s: string): Iterable<El>;
  querySelector(s: string): El | null;
};
type Win = {
  document: Doc;
  innerWidth: number;
  innerHeight: number;
  axe?: Axe;
  getComputedStyle(el: El): { paddingRight: string };
};
type AxeResult = {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
};
type Axe = { run(ctx: unknown, opts: unknown): Promise<AxeResult> };

/** The page's widths: the document may not be wider than the viewport (no horizontal scrolling). */
export async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number } | null> {
  const r = await page.evaluate(() => {
    const w = globalThis as unknown as Win;
    return {
      scrollWidth: Math.max(w.document.documentElement.scrollWidth, w.document.body.scrollWidth),
      innerWidth: w.innerWidth,
    };
  });
  return r.scrollWidth > r.innerWidth ? r : null;
}

/** Blocks inside <main> that stick out of it (a table wider than the page column, say). */
export async function sticksOut(page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    const w = globalThis as unknown as Win;
    const main = w.document.querySelector("main");
    if (!main) return [];
    const edge = main.getBoundingClientRect().right - parseFloat(w.getComputedStyle(main).paddingRight) + 1;
    const out: string[] = [];
    for (
      const el of w.document.querySelectorAll("main .table, main .card, main section, main form, main pre")
    ) {
      if (!el.checkVisibility()) continue;
      const r = el.getBoundingClientRect();
      if (r.right > edge) {
        out.push(
          `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} ends at ${
            Math.round(r.right)
          } > ${Math.round(edge)}`,
        );
      }
    }
    return out;
  });
}

/** Visible controls smaller than 44 × 44 CSS pixels (links inside running text are exempt, as in WCAG). */
export async function smallTargets(page: Page, min = 44): Promise<string[]> {
  return await page.evaluate((min) => {
    const w = globalThis as unknown as Win;
    const selector = [
      "button",
      "a.button",
      "input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
      "select",
      ".sidenav a",
      ".pager a",
      ".ranges a",
      ".check",
      ".theme-picker label",
      "th a",
    ].join(",");
    const out: string[] = [];
    for (const el of w.document.querySelectorAll(selector)) {
      if (!el.checkVisibility({ visibilityProperty: true })) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.height < min - 0.5 || r.width < min - 0.5) {
        const name = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${
          el.className ? "." + String(el.className).split(/\s+/).join(".") : ""
        }`;
        out.push(
          `${name} "${(el.textContent ?? "").trim().slice(0, 30)}" ${Math.round(r.width)}×${
            Math.round(r.height)
          }`,
        );
      }
    }
    return out;
  }, min);
}

/** Whether the element is entirely inside the viewport. */
export async function fullyOnScreen(page: Page, selector: string): Promise<boolean> {
  return await page.locator(selector).first().evaluate((el: El) => {
    const w = globalThis as unknown as Win;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.left >= -0.5 && r.top >= -0.5 && r.right <= w.innerWidth + 0.5 &&
      r.bottom <= w.innerHeight + 0.5;
  });
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules). */
export async function axeViolations(page: Page): Promise<string[]> {
  const loaded = await page.evaluate(() => Boolean((globalThis as unknown as Win).axe));
  if (!loaded) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const w = globalThis as unknown as Win;
    return await w.axe!.run(w.document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
      },
      resultTypes: ["violations"],
    });
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) =>
      `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")})`
    );
}
