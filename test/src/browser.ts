/**
 * A real headless Chromium for end-to-end tests, driven by playwright-core. The browser is
 * Debian's (`apt-get install chromium`, which scripts/test.sh does); nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './harness.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(repoRoot, 'test', 'artifacts', 'dashboard');

/** Why browser tests cannot run here, or false. */
export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: install it (apt-get install chromium; scripts/test.sh does) or set CHROMIUM_PATH`;
}

export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** uncaught page errors and CSP violations seen so far */
  problems: string[];
  shot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openBrowser(opts: { viewport?: { width: number; height: number } } = {}): Promise<BrowserSession> {
  // As root (the agent tests need it) Chromium runs only without its sandbox.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await mkdir(ARTIFACTS, { recursive: true });
  return {
    browser,
    page,
    problems,
    async shot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    close: () => browser.close(),
  };
}
