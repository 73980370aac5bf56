/**
 * The demo page (`/`) and the admin page (`/admin`) in a real Chromium, against a real
 * BFF with the embedded `local` provider. Tests run in order and share the signed-in
 * pages: Ana and Bo of tenant acme, and a user of tenant globex who is also called "ana".
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { launchChromium, screenshot, skipWithoutChromium } from '../helpers/browser.js';
import { DEV_ADMIN_KEY, QUIET_TENANT_KEY, startE2eServer, type E2eServer } from './server.js';

/** Generous for one DOM state, well inside the test timeout; nothing here sleeps for a fixed time. */
const STATE_TIMEOUT_MS = 8000;
/**
 * Reconnecting after a server restart: backoff (≤ 4 s) plus a stalled attempt's connect timeout
 * (4 s), and the restart itself; generous because a loaded CI machine can triple all of it.
 */
const RECOVERY_TIMEOUT_MS = 30_000;

interface UserPage {
  context: BrowserContext;
  page: Page;
  errors: string[];
  /** Console warnings and errors, e.g. pusher-js's "WebSocket is already in CLOSING or CLOSED state". */
  console: string[];
}

describe.skipIf(skipWithoutChromium('e2e demo and admin pages'))('demo and admin pages in Chromium', () => {
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
    const console: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'warning' || message.type() === 'error') console.push(message.text());
    });
    await page.goto(path);
    const opened = { context, page, errors, console };
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

  const connected = (page: Page) => page.locator('#connection[data-state="connected"]').waitFor();
  const member = (page: Page, user: string) => page.locator(`#members li[data-user="${user}"]`);
  const message = (page: Page, text: string) => page.locator('#messages li[data-seq]', { hasText: text });
  const typingText = (page: Page) => page.locator('#typing').textContent();

  async function send(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
  }

  beforeAll(async () => {
    [server, browser] = await Promise.all([startE2eServer(), launchChromium()]);
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

    visitor.console.length = 0;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#login').waitFor();
    expect(visitor.console.filter((text) => text.includes('WebSocket'))).toEqual([]);
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

  let admin: UserPage;
  const adminStatus = () => admin.page.locator('#status');

  it('signs the admin page in with plain errors and empty states, then shows each tenant live', async () => {
    for (const { page } of [ana, bo, rival]) await connected(page);
    admin = await openPage('/admin');
    const { page } = admin;
    expect(await adminStatus().isHidden()).toBe(true);
    const icon = await page.request.get('/favicon.ico');
    expect(icon.status()).toBe(200);

    const signInWith = async (credential: string) => {
      await page.getByLabel('Key or token').fill(credential);
      await page.getByRole('button', { name: 'Show live view' }).click();
    };
    await signInWith('not-a-key');
    await page.locator('#login-error', { hasText: 'That key or token was not accepted' }).waitFor();
    expect(await page.locator('#login-error').textContent()).not.toMatch(/capability token$/i);
    expect(await adminStatus().isHidden()).toBe(true);

    // A tenant key sees only its own tenant, which has done nothing yet.
    await signInWith(QUIET_TENANT_KEY);
    await page.locator('#tenants .empty', { hasText: 'No activity yet' }).waitFor();
    expect(await page.locator('#updated').textContent()).toMatch(/0 tenants$/);
    await page.getByRole('button', { name: 'Sign out' }).click();

    await signInWith(DEV_ADMIN_KEY);
    const card = (tenant: string) => page.locator(`article[data-tenant="${tenant}"]`);
    await card('acme').locator('.connections', { hasText: /^2$/ }).waitFor();
    await card('globex').locator('.connections', { hasText: /^1$/ }).waitFor();
    expect(await adminStatus().getAttribute('data-state')).toBe('live');
    expect(await adminStatus().textContent()).toBe('Live');
    const lobby = card('acme').locator('tr[data-channel="chat:lobby"]');
    expect(await lobby.locator('.presence').textContent()).toBe('2 members: Ana, Bo');
    expect(await lobby.locator('.subscribers').textContent()).toBe('2');
    // The chart: a labelled axis and one line each for publishes and deliveries.
    const chart = card('acme').locator('svg.chart');
    expect(await chart.locator('polyline.publishes').count()).toBe(1);
    expect(await chart.locator('polyline.deliveries').count()).toBe(1);
    expect(await chart.locator('text.axis').allTextContents()).toEqual(expect.arrayContaining(['0', 'now', '−2 min']));
    expect(await card('acme').locator('figcaption').textContent()).toMatch(/published \(peak \d+\/s\).*taken by the provider \(peak \d+\/s\)/);
    await screenshot(page, 'admin');

    // Delivery failures as the publish pipeline reports them ({ total, recent }), added to the answer in flight.
    const statsSchema = z.looseObject({ tenants: z.array(z.looseObject({ tenant: z.string() })) });
    const failure = { channel: 'orders:9', event: 'status', seq: 7, id: '01KFAILED', reason: 'the provider refused the channel name', at: Date.now() };
    await page.route('**/v1/admin/stats', async (route) => {
      const response = await route.fetch();
      const stats = statsSchema.parse(await response.json());
      for (const tenant of stats.tenants) tenant.deliveryFailures = tenant.tenant === 'acme' ? { total: 3, recent: [failure] } : { total: 0, recent: [] };
      await route.fulfill({ response, json: stats });
    });
    await card('acme').locator('.failure-count', { hasText: /^3$/ }).waitFor();
    expect(await card('acme').locator('details.failures summary').textContent()).toBe('Latest delivery failures (1 of 3)');
    expect(await card('acme').locator('ul.failures li[data-seq="7"]').textContent()).toContain('orders:9 "status" #7: the provider refused the channel name');
    expect(await card('globex').locator('.failure-count').textContent()).toBe('0');
    expect(await card('globex').locator('details.failures').count()).toBe(0);
    await page.unroute('**/v1/admin/stats');
  }, 45_000);

  it('follows the README walkthrough: a server-side {"status":"shipped"} moves the demo order, and an odd event breaks nothing', async () => {
    const order = (page: Page) => page.locator('#order-1001');
    await server.adminPublish('acme', { channel: 'orders:1001', event: 'status', data: { status: 'shipped' } });
    for (const { page } of [ana, bo]) {
      await page.locator('#order-1001[data-stage="2"]').waitFor();
      expect(await order(page).locator('.order-status').textContent()).toBe('Status: shipped');
    }
    // The next step continues from the published status, not from what the button last did.
    await order(bo.page).getByRole('button', { name: 'Simulate next step' }).click();
    await ana.page.locator('#order-1001[data-stage="3"]').waitFor();

    await server.adminPublish('acme', { channel: 'orders:1001', event: 'status', data: { shipped: true } });
    await order(ana.page).locator('.order-note', { hasText: 'has no "status" text' }).waitFor();
    expect(await order(ana.page).getAttribute('data-stage')).toBe('3');
    expect(await order(ana.page).locator('.error').textContent()).toBe('');
    // Replayed from history after a reload: still not an error, and the card still works.
    await bo.page.reload();
    await connected(bo.page);
    await order(bo.page).locator('.order-note', { hasText: 'has no "status" text' }).waitFor();
    expect(await order(bo.page).getAttribute('data-stage')).toBe('3');
    expect(await order(bo.page).locator('.error').textContent()).toBe('');
    await order(bo.page).getByRole('button', { name: 'Simulate next step' }).click();
    for (const { page } of [ana, bo]) await page.locator('#order-1001[data-stage="4"]').waitFor();
    expect(await order(bo.page).locator('.order-note').textContent()).toBe('');
    await screenshot(bo.page, 'demo-walkthrough');
  }, 30_000);

  it('shows both pages offline while the server is down, and recovers them by themselves', async () => {
    const badge = ana.page.locator('#connection');
    await server.stop();
    await ana.page.locator('#connection[data-state="reconnecting"]').waitFor();
    expect(await badge.textContent()).toBe('Connection lost · retrying…');
    await adminStatus().locator('xpath=self::*[@data-state="offline"]').waitFor();
    expect(await adminStatus().textContent()).toMatch(/^Offline · retrying in \d+ s$/);
    expect(await admin.page.locator('#view-error').textContent()).toMatch(/Cannot update: the server cannot be reached/);
    expect(await admin.page.locator('article[data-tenant="acme"]').count()).toBe(1);

    // What is stale is greyed out and what cannot work is disabled; a draft can still be typed and is kept.
    await ana.page.locator('#members.stale').waitFor();
    expect(await ana.page.locator('#members li').count()).toBeGreaterThan(0);
    expect(await ana.page.locator('#members-title').textContent()).toBe('Online when last connected');
    expect(await ana.page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    for (const button of await ana.page.locator('.order button').all()) expect(await button.isDisabled()).toBe(true);
    await ana.page.getByLabel('Message', { exact: true }).fill('sent while down');
    await screenshot(ana.page, 'demo-server-down');
    await screenshot(admin.page, 'admin-offline');

    await server.start();
    // A connection attempt that stalled during the outage is given up after the demo's 4 s connect timeout.
    await ana.page.locator('#connection[data-state="connected"]').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    await ana.page.locator('#chat-error:empty').waitFor({ state: 'attached' });
    await ana.page.locator('#members:not(.stale)').waitFor();
    expect(await ana.page.locator('#members-title').textContent()).toBe('Online');
    expect(await ana.page.getByLabel('Message', { exact: true }).inputValue()).toBe('sent while down');
    await adminStatus().locator('xpath=self::*[@data-state="live"]').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    expect(await admin.page.locator('#view-error').textContent()).toBe('');
    await ana.page.getByRole('button', { name: 'Send' }).click();
    await message(bo.page, 'sent while down').waitFor();
    await admin.page.locator('article[data-tenant="acme"] .connections', { hasText: /^2$/ }).waitFor();
  }, 90_000);
});
