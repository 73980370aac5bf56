/** A provider that takes no events shows on the admin page with its reason, and the box goes once it recovers. */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.js';
import { publishAsTenant, startBff, type TestBff } from '../helpers/bff.js';
import { openAdminLiveView } from '../helpers/admin-page.js';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.js';
import { createFakeProvider } from '../helpers/fake-provider.js';

describe.skipIf(skipWithoutChromium('e2e admin health'))('provider health on the admin page', () => {
  let bff: TestBff;
  let browser: Browser;
  const provider = createFakeProvider();

  beforeAll(async () => {
    await buildWeb();
    bff = await startBff({ provider, delivery: { backoff: { baseMs: 10, capMs: 50 }, breaker: { failureThreshold: 5, openMs: 100 } } });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await bff?.close();
  });

  it('names the failing provider and why, and hides the box when it takes events again', async () => {
    const { page, errors } = await openAdminLiveView(browser, bff.url);
    expect(await page.locator('#health').isHidden()).toBe(true);

    provider.failing = true;
    await publishAsTenant(bff, 'acme', 'orders:1', 'status', { status: 'placed' });
    const item = page.locator('#health li[data-component="provider"]');
    await item.waitFor();
    expect(await item.textContent()).toMatch(/^provider: the local provider has not taken an event in \d+ attempts in a row; last: provider down \(since \d/);

    provider.failing = false;
    await page.locator('#health').waitFor({ state: 'hidden' });
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
