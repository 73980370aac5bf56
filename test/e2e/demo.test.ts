/**
 * The demo page (`/`) and the admin page (`/admin`) in a real Chromium, against a real
 * BFF with the embedded `local` provider, and again with `supabase` (the Realtime
 * emulator, test code, deciding access with the shipped RLS in PostgreSQL). Tests run in
 * order and share the signed-in pages: Ana and Bo of tenant acme, and a user of tenant
 * globex who is also called "ana".
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot as saveScreenshot, skipWithoutChromium } from '../helpers/browser.js';
import { postgresCheck, requireService } from '../helpers/services.js';
import { DEV_ADMIN_KEY, startE2eServer, type E2eProvider, type E2eServer } from './server.js';

/** Generous for one DOM state, well inside the test timeout; nothing here sleeps for a fixed time. */
const STATE_TIMEOUT_MS = 8000;

interface UserPage {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

const postgres = await postgresCheck();
// Supabase needs PostgreSQL for its RLS: without it on a laptop that run is left out (notice above); on CI it fails.
const providers: E2eProvider[] = postgres === 'skip' ? ['local'] : ['local', 'supabase'];

describe.skipIf(skipWithoutChromium('e2e demo and admin pages')).each(providers)('demo and admin pages in Chromium (%s)', (provider) => {
  let server: E2eServer;
  let browser: Browser;
  const open: UserPage[] = [];
  let ana: UserPage;
  let bo: UserPage;
  let rival: UserPage;

  async function openPage(path: string): Promise<UserPage> {
    const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(STATE_TIMEOUT_MS);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(path);
    const opened = { context, page, errors };
    open.push(opened);
    return opened;
  }

  async function signIn(tenant: string, user: string, name: string): Promise<UserPage> {
    const opened = await openPage('/');
    const { page } = opened;
    await page.getByLabel('Tenant').fill(tenant);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Display name').fill(name);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await connected(page);
    return opened;
  }

  async function closePage(opened: UserPage): Promise<void> {
    expect(opened.errors).toEqual([]);
    open.splice(open.indexOf(opened), 1);
    await opened.context.close();
  }

  const screenshot = (page: Page, name: string) => saveScreenshot(page, provider === 'local' ? name : `${name}-${provider}`);
  const connected = (page: Page) => page.locator('#connection[data-state="connected"]').waitFor();
  const member = (page: Page, user: string) => page.locator(`#members li[data-user="${user}"]`);
  const message = (page: Page, text: string) => page.locator('#messages li[data-seq]', { hasText: text });
  const typingText = (page: Page) => page.locator('#typing').textContent();

  async function send(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
  }

  beforeAll(async () => {
    if (provider === 'supabase') requireService(postgres, 'PostgreSQL');
    [server, browser] = await Promise.all([startE2eServer(provider), launchChromium()]);
    [ana, bo, rival] = await Promise.all([signIn('acme', 'ana', 'Ana'), signIn('acme', 'bo', 'Bo'), signIn('globex', 'ana', 'Ana of Globex')]);
  }, 60_000);

  afterEach(() => {
    for (const { errors } of open) expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('lets two users of one tenant chat, with presence and "is typing"', async () => {
    for (const { page } of [ana, bo]) {
      await member(page, 'ana').waitFor();
      await member(page, 'bo').waitFor();
    }
    expect(await member(ana.page, 'ana').textContent()).toBe('Ana (you)');
    // The chat client runs on the provider's own SDK: pusher-js for local, realtime-js for supabase.
    expect(await ana.page.locator('#connection').getAttribute('title')).toContain(`(${provider === 'local' ? 'pusher' : provider})`);

    // Typing shows on the other page, and a sent message clears it.
    await bo.page.getByLabel('Message', { exact: true }).fill('hel');
    await ana.page.locator('#typing', { hasText: 'Bo is typing…' }).waitFor();
    await send(bo.page, 'hello from Bo');
    await message(ana.page, 'hello from Bo').waitFor();
    await message(bo.page, 'hello from Bo').waitFor();
    expect(await typingText(ana.page)).toBe('');

    // Typing without sending expires on its own after about 3 s.
    await ana.page.getByLabel('Message', { exact: true }).fill('hi B');
    await bo.page.locator('#typing', { hasText: 'Ana is typing…' }).waitFor();
    const shownAt = Date.now();
    await screenshot(bo.page, 'demo-chat-typing');
    await bo.page.locator('#typing:empty').waitFor({ state: 'attached' });
    expect(Date.now() - shownAt).toBeGreaterThan(1500);

    await send(ana.page, 'hi Bo, welcome');
    await message(bo.page, 'hi Bo, welcome').waitFor();
    const texts = (page: Page) => page.locator('#messages li[data-seq] .text').allTextContents();
    expect(await texts(ana.page)).toEqual(['hello from Bo', 'hi Bo, welcome']);
    expect(await texts(bo.page)).toEqual(await texts(ana.page));

    // Presence follows joins and leaves live.
    const cy = await signIn('acme', 'cy', 'Cy');
    await member(ana.page, 'cy').waitFor();
    await message(cy.page, 'hi Bo, welcome').waitFor();
    await screenshot(ana.page, 'demo-chat-ana');
    await screenshot(bo.page, 'demo-chat-bo');
    await closePage(cy);
    await member(ana.page, 'cy').waitFor({ state: 'detached' });
    await member(bo.page, 'cy').waitFor({ state: 'detached' });
  });

  it('shows another tenant nothing of theirs, not even for a user with the same id', async () => {
    // Sync points: each side's latest message has arrived on its own pages.
    await send(ana.page, 'acme internal plan');
    await message(bo.page, 'acme internal plan').waitFor();
    await send(rival.page, 'globex only');
    await message(rival.page, 'globex only').waitFor();
    await message(ana.page, 'acme internal plan').waitFor();

    const check = async () => {
      const { page } = rival;
      expect(await page.locator('#messages li[data-seq] .text').allTextContents()).toEqual(['globex only']);
      expect(await page.locator('#members li').allTextContents()).toEqual(['Ana of Globex (you)']);
      const body = await page.locator('body').innerText();
      for (const leaked of ['hello from Bo', 'hi Bo', 'acme internal plan', 'Bo']) expect(body).not.toContain(leaked);
      expect(await message(ana.page, 'globex only').count()).toBe(0);
    };
    await check();
    // After a reload the page replays history: still only its own tenant's.
    await rival.page.reload();
    await connected(rival.page);
    await message(rival.page, 'globex only').waitFor();
    await member(rival.page, 'ana').waitFor();
    await check();
    await screenshot(rival.page, 'demo-other-tenant');
  });

  it('updates an order on every page of the tenant without a reload', async () => {
    await bo.page.evaluate(() => {
      Object.assign(window, { notReloaded: true });
    });
    const order = (page: Page) => page.locator('#order-1001');
    const advance = ana.page.locator('#order-1001').getByRole('button', { name: 'Simulate next step' });

    await advance.click();
    await bo.page.locator('#order-1001[data-stage="0"]').waitFor();
    expect(await order(bo.page).locator('.order-status').textContent()).toBe('Status: placed');
    await advance.click();
    for (const { page } of [ana, bo]) {
      await page.locator('#order-1001[data-stage="1"]').waitFor();
      expect(await order(page).locator('li.done').allTextContents()).toEqual(['placed', 'packed']);
      expect(await order(page).locator('li[aria-current="step"]').textContent()).toBe('packed');
    }
    expect(await bo.page.evaluate(() => 'notReloaded' in window)).toBe(true);
    // globex's order 1001 is a different order.
    expect(await rival.page.locator('#order-1001').getAttribute('data-stage')).toBe('-1');
    await screenshot(bo.page, 'demo-orders-bo');
  });

  it('delivers notifications over SSE and recovers the ones missed while the connection was down', async () => {
    const notice = (text: string) => ana.page.locator('#notices li[data-seq]', { hasText: text });
    // Live first: the order steps above notified Ana, who pressed the button.
    await notice('Order 1001 is packed').waitFor();
    expect(await notice('Order 1001 is placed').count()).toBe(1);
    expect(await bo.page.locator('#notices li[data-seq]').count()).toBe(0);
    expect(await ana.page.locator('#connection').getAttribute('title')).toContain('notifications: connected (sse)');

    // Cut the page off: no new connections, and the open ones are torn down server-side.
    await ana.context.setOffline(true);
    expect(server.dropConnections()).toBeGreaterThan(0);
    await ana.page.locator('#connection:not([data-state="connected"])').waitFor();
    expect(await ana.page.locator('#connection').getAttribute('data-state')).toBe('offline');
    await server.demoPost('/v1/demo/orders/advance', { order: '1002' }, await server.capabilityToken('acme', 'ana'));
    await screenshot(ana.page, 'demo-offline');
    expect(await notice('Order 1002 is placed').count()).toBe(0);

    await ana.context.setOffline(false);
    await connected(ana.page);
    const missed = notice('Order 1002 is placed');
    await missed.waitFor();
    await missed.locator('[data-tag="recovered"]').waitFor();
    await ana.page.locator('#order-1002[data-stage="0"]').waitFor();
    const recovery = ana.page.locator('#recovery');
    await recovery.waitFor();
    expect(await recovery.textContent()).toMatch(/recovered \d+ missed event/);
    expect(await ana.page.locator('#notices li[data-seq]').count()).toBe(3);
    await screenshot(ana.page, 'demo-recovered');

    // And it is live again afterwards.
    await ana.page.locator('#order-1002').getByRole('button', { name: 'Simulate next step' }).click();
    await notice('Order 1002 is packed').waitFor();
    expect(await notice('Order 1002 is packed').locator('[data-tag="recovered"]').count()).toBe(0);
  });

  it('keeps the session across a reload, and returns to sign-in when it is rejected or signed out', async () => {
    const visitor = await signIn('acme', 'dee', 'Dee');
    const { page } = visitor;
    await page.reload();
    await connected(page);
    expect(await page.locator('#identity').textContent()).toBe('Dee (dee) · tenant acme');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#login').waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    await page.evaluate(() => {
      sessionStorage.setItem('switchboard-demo-session', JSON.stringify({ tenant: 'acme', user: 'dee', name: 'Dee', session: 'not-a-session' }));
    });
    await page.reload();
    await page.locator('#login-error', { hasText: 'Your session ended' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.locator('#connection').isHidden()).toBe(true);
    await screenshot(page, 'demo-sign-in');
    await closePage(visitor);
  });

  // Hosted Supabase reports no connections or channels (no REST for them): nothing to show.
  it.skipIf(provider === 'supabase')('shows each tenant\'s connection count on the admin page', async () => {
    for (const { page } of [ana, bo, rival]) await connected(page);
    const admin = await openPage('/admin');
    await admin.page.getByLabel('Key or token').fill(DEV_ADMIN_KEY);
    await admin.page.getByRole('button', { name: 'Show live view' }).click();
    const connections = (tenant: string) => admin.page.locator(`article[data-tenant="${tenant}"] .connections`);
    await admin.page.locator('article[data-tenant="acme"] .connections', { hasText: /^2$/ }).waitFor();
    await admin.page.locator('article[data-tenant="globex"] .connections', { hasText: /^1$/ }).waitFor();
    expect(await connections('acme').textContent()).toBe('2');
    expect(await connections('globex').textContent()).toBe('1');
    expect(await admin.page.locator('article[data-tenant="acme"] td', { hasText: 'chat:lobby' }).count()).toBe(1);
    await screenshot(admin.page, 'admin');
  });
});
