/** The admin page signed in with the admin key and showing its live view, for the browser tests. */
import type { Browser, Page } from 'playwright-core';
import { ADMIN_KEY } from './bff.js';

export async function openAdminLiveView(browser: Browser, baseURL: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL });
  context.setDefaultTimeout(8000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto('/admin');
  await page.getByLabel('Key or token').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Show live view' }).click();
  await page.locator('#updated', { hasText: /\d/ }).waitFor();
  return { page, errors };
}
