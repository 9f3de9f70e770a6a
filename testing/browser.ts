// Browser tests' Chromium: Debian's /usr/bin/chromium driven by playwright-core, headless, with a fresh profile
// directory per launch; logs in through the real login form and keeps screenshots under test-output/screenshots/.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { projectRoot } from "../lib/project-root.js";

export const CHROMIUM = process.env.FLOX_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const screenshotDir = join(projectRoot, "test-output", "screenshots");

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab. */
  page(): Promise<Page>;
  /** Logs in at `baseUrl/login` with `token` through the form (the session cookie lands in this profile). */
  login(page: Page, baseUrl: string, token: string): Promise<void>;
  /** Forgets every cookie: the next page is seen logged out (log in as someone else then). */
  logout(): Promise<void>;
  /** A full-page PNG at test-output/screenshots/NAME.png; returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "flox-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  mkdirSync(screenshotDir, { recursive: true });
  return {
    context,
    page: () => context.newPage(),
    async login(page, baseUrl, token) {
      await page.goto(`${baseUrl}/login`);
      await page.fill("#token", token);
      await Promise.all([
        page.waitForURL((u) => !u.pathname.startsWith("/login")),
        page.click("button[type=submit]"),
      ]);
    },
    logout: () => context.clearCookies(),
    async screenshot(page, name) {
      const path = join(screenshotDir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    },
  };
}
