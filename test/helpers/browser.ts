/**
 * Browser tests run Debian's Chromium through playwright-core (no downloaded browsers).
 * Without it they skip with a one-line notice, except under CI=true, where a missing
 * browser is a broken machine and must fail.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const ARTIFACTS_DIR = fileURLToPath(new URL('../artifacts/', import.meta.url));

/** True when the browser suite must be skipped; throws under CI=true when Chromium is missing. */
export function skipWithoutChromium(suite: string): boolean {
  if (existsSync(CHROMIUM_PATH)) return false;
  if (process.env.CI === 'true') {
    throw new Error(`${suite}: Chromium not found at ${CHROMIUM_PATH}, and CI=true requires the browser tests to run`);
  }
  console.info(`[skip] ${suite}: Chromium not found at ${CHROMIUM_PATH} (install Debian's chromium, or set CHROMIUM_PATH)`);
  return true;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a full-page screenshot to test/artifacts/<name>.png and answers its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
