/** Webhook dead letters on the admin page, in a real Chromium against a real BFF. */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.js';
import { newLifecycleEvent } from '../../src/server/lifecycle/events.js';
import { MemoryWebhookOutbox } from '../../src/server/lifecycle/memory-outbox.js';
import { toOutboxMessage } from '../../src/server/lifecycle/stream.js';
import { startBff, type TestBff } from '../helpers/bff.js';
import { openAdminLiveView } from '../helpers/admin-page.js';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.js';
import { testSecret } from '../helpers/webhook-receiver.js';

describe.skipIf(skipWithoutChromium('e2e admin dead letters'))('webhook dead letters on the admin page', () => {
  let bff: TestBff;
  let browser: Browser;
  const outbox = new MemoryWebhookOutbox();

  beforeAll(async () => {
    await buildWeb();
    // Nothing listens on port 9: nothing could be delivered anyway.
    bff = await startBff({ webhooks: { url: 'http://127.0.0.1:9/', secrets: [testSecret('admin')], outbox } });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await bff?.close();
  });

  it('lists dead letters, also of a tenant with no live activity, and hides the box when there are none', async () => {
    const { page, errors } = await openAdminLiveView(browser, bff.url);
    expect(await page.locator('#dead-letters').isHidden()).toBe(true);

    const event = newLifecycleEvent({ type: 'presence.left', data: { tenant: 'globex', channel: 'chat:<b>lobby</b>', user: 'ana' } });
    await outbox.enqueue([toOutboxMessage(event, Date.now())]);
    await outbox.deadLetter(event.id, 'HTTP 503', Date.now());
    const row = page.locator(`#dead-letters li[data-id="${event.id}"]`);
    await row.waitFor();
    expect(await page.locator('#dead-letters h2').textContent()).toBe('Webhook dead letters: 1');
    // Text, not markup: a hostile channel name stays inert.
    expect(await row.textContent()).toContain('presence.left · globex chat:<b>lobby</b> · HTTP 503');
    expect(await page.locator('#dead-letters b').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
