/**
 * The demo page in Chromium with the BFF on a hosted provider, configured only through the
 * environment, each provider being its protocol emulator (test code):
 * - Ably (test/fixtures/ably-emulator): the browser loads the `ably` SDK lazily, gets
 *   TokenRequests through /v1/auth/ably, exchanges them with the emulator (CORS) and speaks
 *   the Realtime protocol; the admin page is fed by Ably's REST channel enumeration.
 * - Supabase (test/fixtures/supabase-emulator): realtime-js with the BFF's Realtime JWT,
 *   private channels decided by the shipped RLS policies in PostgreSQL.
 * Chat presence, a whisper ("is typing"), messages and an order event on each.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, skipWithoutChromium } from '../helpers/browser.js';
import { postgresCheck } from '../helpers/services.js';
import { DEV_ADMIN_KEY, startE2eServer, type E2eProvider, type E2eServer } from './server.js';

const STATE_TIMEOUT_MS = 8000;

interface UserPage {
  context: BrowserContext;
  page: Page;
  errors: string[];
  /** Script files the page loaded, to prove the SDK came in its own chunk. */
  scripts: string[];
}

// Supabase's emulator needs PostgreSQL for its RLS: without it on a laptop that run is left out (postgresCheck prints why); on CI it fails.
const hosted: E2eProvider[] = (await postgresCheck()) === 'skip' ? ['ably'] : ['ably', 'supabase'];

/** The provider SDK's lazily loaded chunk. */
const SDK_CHUNK: Partial<Record<E2eProvider, RegExp>> = { ably: /\/chunks\/ably-[A-Z0-9]+\.js$/, supabase: /\/chunks\/(realtime|supabase|client)[-\w]*\.js$/ };

describe.skipIf(skipWithoutChromium('e2e demo on hosted providers')).each(hosted)('demo page on %s (emulator) in Chromium', (provider) => {
  let server: E2eServer;
  let browser: Browser;
  const open: UserPage[] = [];
  let ana: UserPage;
  let bo: UserPage;

  async function signIn(tenant: string, user: string, name: string): Promise<UserPage> {
    const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(STATE_TIMEOUT_MS);
    const page = await context.newPage();
    const opened: UserPage = { context, page, errors: [], scripts: [] };
    page.on('pageerror', (error) => opened.errors.push(error.message));
    page.on('request', (request) => {
      if (request.resourceType() === 'script') opened.scripts.push(request.url());
    });
    open.push(opened);
    await page.goto('/');
    await page.getByLabel('Tenant').fill(tenant);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Display name').fill(name);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#connection[data-state="connected"]').waitFor();
    return opened;
  }

  const member = (page: Page, user: string) => page.locator(`#members li[data-user="${user}"]`);
  const message = (page: Page, text: string) => page.locator('#messages li[data-seq]', { hasText: text });

  beforeAll(async () => {
    [server, browser] = await Promise.all([startE2eServer(provider), launchChromium()]);
    [ana, bo] = await Promise.all([signIn('acme', 'ana', 'Ana'), signIn('acme', 'bo', 'Bo')]);
  }, 60_000);

  afterEach(() => {
    for (const { errors } of open) expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('connects through the lazily loaded provider SDK', async () => {
    expect(await ana.page.locator('#connection').getAttribute('title')).toContain(`(${provider})`);
    // The SDK came as its own chunk on demand, and pusher-js was never downloaded.
    expect(ana.scripts.some((url) => SDK_CHUNK[provider]?.test(url))).toBe(true);
    expect(ana.scripts.some((url) => url.includes('/chunks/pusher-'))).toBe(false);
  });

  it('shows chat presence, "is typing" from a whisper, and messages', async () => {
    for (const { page } of [ana, bo]) {
      await member(page, 'ana').waitFor();
      await member(page, 'bo').waitFor();
    }
    expect(await member(ana.page, 'ana').textContent()).toBe('Ana (you)');
    expect(await member(ana.page, 'bo').textContent()).toBe('Bo');

    await bo.page.getByLabel('Message', { exact: true }).fill('hel');
    await ana.page.locator('#typing', { hasText: 'Bo is typing…' }).waitFor();
    expect(await bo.page.locator('#typing').textContent()).toBe('');
    await bo.page.getByLabel('Message', { exact: true }).fill(`hello from Bo on ${provider}`);
    await bo.page.getByRole('button', { name: 'Send' }).click();
    await message(ana.page, `hello from Bo on ${provider}`).waitFor();
    await message(bo.page, `hello from Bo on ${provider}`).waitFor();
    await screenshot(ana.page, `demo-${provider}-chat`);
  });

  it('updates an order on every page of the tenant from a server-published event', async () => {
    const advance = ana.page.locator('#order-1001').getByRole('button', { name: 'Simulate next step' });
    await advance.click();
    await bo.page.locator('#order-1001[data-stage="0"]').waitFor();
    await advance.click();
    for (const { page } of [ana, bo]) await page.locator('#order-1001[data-stage="1"]').waitFor();
    expect(await bo.page.locator('#order-1001 .order-status').textContent()).toBe('Status: packed');
    await screenshot(bo.page, `demo-${provider}-orders`);
  });

  // Supabase has no REST for channels or connections: its admin page has nothing live to show.
  it.skipIf(provider === 'supabase')('shows the tenant\'s live channels on the admin page from the provider\'s REST API', async () => {
    const context = await browser.newContext({ baseURL: server.url });
    context.setDefaultTimeout(STATE_TIMEOUT_MS);
    const page = await context.newPage();
    await page.goto('/admin');
    await page.getByLabel('Key or token').fill(DEV_ADMIN_KEY);
    await page.getByRole('button', { name: 'Show live view' }).click();
    await page.locator('article[data-tenant="acme"] td', { hasText: 'chat:lobby' }).waitFor();
    // Hosted providers report channel occupancy, not connections per tenant.
    expect(await page.locator('article[data-tenant="acme"] .connections').textContent()).toBe('unknown');
    await screenshot(page, 'admin-ably');
    await context.close();
  });
});
