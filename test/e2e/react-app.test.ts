/**
 * The React example app (examples/react-app, React 19 development build, StrictMode on)
 * in Chromium against a real BFF with the `local` provider: presence and typing between
 * two users, leaving presence on unmount, no duplicated events under StrictMode, and
 * missed events delivered once after a network drop. One BFF and one browser for all.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildReactApp } from '../../examples/react-app/build.js';
import { launchChromium, screenshot, skipWithoutChromium } from '../helpers/browser.js';
import { startE2eServer, type E2eServer } from './server.js';

const STATE_TIMEOUT_MS = 10_000;
/** Reconnecting after a drop: backoff plus a stalled attempt, on a loaded machine. */
const RECOVERY_TIMEOUT_MS = 30_000;
const ROOM = 'chat:react';

interface AppPage {
  context: BrowserContext;
  page: Page;
  /** Page errors and console errors/warnings (React reports its own mistakes there), without the browser's own network logs. */
  problems: string[];
}

describe.skipIf(skipWithoutChromium('e2e React example app'))('React example app in Chromium', () => {
  let server: E2eServer;
  let browser: Browser;
  let appPath: string;
  let ana: AppPage;
  let bo: AppPage;
  const pages: AppPage[] = [];

  async function openApp(user: string, name: string): Promise<AppPage> {
    const context = await browser.newContext({ baseURL: server.url });
    context.setDefaultTimeout(STATE_TIMEOUT_MS);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      const text = message.text();
      // During the drop the browser logs the refused reconnects itself; those are expected.
      const network = /^(WebSocket connection to|Failed to load resource)/.test(text);
      if ((message.type() === 'error' || message.type() === 'warning') && !network) problems.push(text);
    });
    await page.goto(`${appPath}?tenant=acme&user=${user}&name=${name}&room=${ROOM}`);
    await connected(page);
    const opened = { context, page, problems };
    pages.push(opened);
    return opened;
  }

  const connected = (page: Page, timeout = STATE_TIMEOUT_MS) => page.locator('#connection[data-state="connected"]').waitFor({ timeout });
  const member = (page: Page, user: string) => page.locator(`.members li[data-user="${user}"]`);
  const message = (page: Page, text: string) => page.locator('.messages li[data-seq]', { hasText: text });
  const seqs = async (page: Page) => (await page.locator('.messages li[data-seq]').evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-seq')))));
  const deliveries = async (page: Page) => Number(await page.locator('#deliveries').textContent());
  const publish = (text: string) => server.adminPublish('acme', { channel: ROOM, event: 'message', data: { user: 'system', name: 'System', text } });

  beforeAll(async () => {
    [server, browser, appPath] = await Promise.all([startE2eServer(), launchChromium(), buildReactApp('development')]);
    [ana, bo] = await Promise.all([openApp('ana', 'Ana'), openApp('bo', 'Bo')]);
  }, 60_000);

  afterEach(() => {
    for (const { problems } of pages) expect(problems).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows two users each other in presence, typing, and their messages', async () => {
    for (const { page } of [ana, bo]) {
      await member(page, 'ana').waitFor();
      await member(page, 'bo').waitFor();
    }
    expect(await member(ana.page, 'ana').textContent()).toBe('Ana (you)');
    expect(await member(ana.page, 'bo').textContent()).toBe('Bo');

    await bo.page.getByLabel('Message').pressSequentially('hello An');
    await ana.page.locator('.typing', { hasText: 'Bo typing…' }).waitFor();
    // Sending whispers a stop: on Ana's page the indicator goes with the message, not
    // seconds later when it would expire (timed in the page, so a slow test runner cannot blur it).
    await ana.page.evaluate(() => {
      const marks = { message: 0, cleared: 0 };
      Object.assign(window, { typingMarks: marks });
      new MutationObserver(() => {
        const now = performance.now();
        if (!marks.message && document.querySelector('.messages li')?.textContent?.includes('hello An')) marks.message = now;
        if (!marks.cleared && document.querySelector('.typing')?.textContent === '') marks.cleared = now;
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await bo.page.getByRole('button', { name: 'Send' }).click();
    await message(ana.page, 'hello An').waitFor();
    await ana.page.locator('.typing:empty').waitFor({ state: 'attached' });
    const marks = await ana.page.evaluate(() => (window as unknown as { typingMarks: { message: number; cleared: number } }).typingMarks);
    expect(marks.cleared - marks.message).toBeLessThan(1000);

    await ana.page.getByLabel('Message').pressSequentially('hi Bo');
    await bo.page.locator('.typing', { hasText: 'Ana typing…' }).waitFor();
    await screenshot(bo.page, 'react-app-typing');
    // Not sent: it expires on its own.
    await bo.page.locator('.typing:empty').waitFor({ state: 'attached' });
    await ana.page.getByLabel('Message').fill('');
  });

  it('shows a new display name to the other user once, without a leave and a join', async () => {
    await member(bo.page, 'ana').waitFor();
    // Counted in Bo's page: a leave would remove Ana's list item, a re-render with the new name keeps it.
    await bo.page.evaluate(() => {
      const seen = { removed: 0 };
      Object.assign(window, { anaSeen: seen });
      new MutationObserver((records) => {
        for (const record of records) for (const node of record.removedNodes) if (node instanceof HTMLElement && node.dataset['user'] === 'ana') seen.removed++;
      }).observe(document.body, { subtree: true, childList: true });
    });
    await ana.page.getByLabel('Display name').fill('Ana Two');
    await ana.page.getByRole('button', { name: 'Rename' }).click();
    await member(bo.page, 'ana').filter({ hasText: 'Ana Two' }).waitFor();
    await member(ana.page, 'ana').filter({ hasText: 'Ana Two (you)' }).waitFor();
    // Past the client's leave grace (1 s): a leave held back would show by now.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await bo.page.evaluate(() => (window as unknown as { anaSeen: { removed: number } }).anaSeen.removed)).toBe(0);
    expect(await member(bo.page, 'ana').textContent()).toBe('Ana Two');
  });

  it('leaves presence when the chat component unmounts, and shows the history when it mounts again', async () => {
    await ana.page.getByRole('button', { name: 'Leave the room' }).click();
    await member(bo.page, 'ana').waitFor({ state: 'detached' });
    expect(await ana.page.locator('.chat').count()).toBe(0);
    await connected(ana.page);

    await ana.page.getByRole('button', { name: 'Join the room' }).click();
    await member(bo.page, 'ana').waitFor();
    // The first render after mounting comes from history.
    await message(ana.page, 'hello An').waitFor();
    await screenshot(ana.page, 'react-app-rejoined');
  });

  it('delivers every event once under StrictMode', async () => {
    const before = await Promise.all([ana, bo].map(({ page }) => deliveries(page)));
    for (let index = 1; index <= 5; index++) await publish(`strict ${index}`);
    for (const [index, { page }] of [ana, bo].entries()) {
      await message(page, 'strict 5').waitFor();
      const list = await seqs(page);
      expect(new Set(list).size).toBe(list.length);
      expect(await page.locator('.messages li', { hasText: /^System: strict \d$/ }).count()).toBe(5);
      expect(await deliveries(page)).toBe((before[index] ?? 0) + 5);
    }
  });

  it('delivers the events missed during a network drop once, in order', async () => {
    const before = await deliveries(ana.page);
    const lastSeq = Math.max(...(await seqs(ana.page)));
    await ana.context.setOffline(true);
    expect(server.dropConnections()).toBeGreaterThan(0);
    await ana.page.locator('#connection:not([data-state="connected"])').waitFor();
    for (const text of ['missed 1', 'missed 2', 'missed 3']) await publish(text);
    expect(await message(ana.page, 'missed 1').count()).toBe(0);

    await ana.context.setOffline(false);
    await connected(ana.page, RECOVERY_TIMEOUT_MS);
    await message(ana.page, 'missed 3').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    const list = await seqs(ana.page);
    expect(list.filter((seq) => seq > lastSeq)).toEqual([lastSeq + 1, lastSeq + 2, lastSeq + 3]);
    expect(await deliveries(ana.page)).toBe(before + 3);
    // Bo's connection was cut too: he recovers them as well.
    await message(bo.page, 'missed 3').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    expect(await bo.page.locator('.messages li', { hasText: /missed \d/ }).count()).toBe(3);
    // And presence is back on both sides.
    await member(bo.page, 'ana').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    await member(ana.page, 'bo').waitFor({ timeout: RECOVERY_TIMEOUT_MS });
    await screenshot(ana.page, 'react-app-recovered');
  }, 90_000);
});
