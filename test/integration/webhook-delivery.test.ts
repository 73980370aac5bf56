/**
 * Lifecycle webhooks against a real loopback receiver that verifies every signature with
 * the Standard Webhooks reference library, and goes down, answers 500s and never answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteWebhookOutbox } from '../../src/server/lifecycle/sqlite-outbox.js';
import type { LifecycleEvent, LifecycleEventData } from '../../src/server/lifecycle/events.js';
import { WebhookSender, type WebhookSenderTuning } from '../../src/server/lifecycle/sender.js';
import { LifecycleStream } from '../../src/server/lifecycle/stream.js';
import type { WebhookOutbox } from '../../src/server/lifecycle/outbox.js';
import { createLogger } from '../../src/server/logger.js';
import { testSecret, WebhookReceiver, type Delivery } from '../helpers/webhook-receiver.js';

const SECRET = testSecret('current');
const NEXT_SECRET = testSecret('next');
// Short retries; a generous timeout, so a loaded machine's slow answer is not mistaken for none.
const FAST: Partial<WebhookSenderTuning> = { timeoutMs: 3000, backoff: { baseMs: 20, capMs: 80 }, pollMs: 20, concurrency: 4 };
const logger = createLogger('silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempFile(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sb-webhooks-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'events.sqlite');
}

async function receiver(secret = SECRET): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(secret);
  cleanups.push(() => started.close());
  return started;
}

function pipeline(outbox: WebhookOutbox, url: string, secrets = [SECRET], tuning = FAST) {
  const sender = new WebhookSender({ url, secrets, outbox, logger, tuning });
  const stream = new LifecycleStream({ outbox, logger, queued: () => sender.wake() });
  sender.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await sender.close();
    await outbox.close();
  };
  cleanups.push(close);
  return { sender, stream, close };
}

function presenceEvents(channel: string, count: number): LifecycleEventData[] {
  return Array.from({ length: count }, (_, index) => ({
    type: index % 2 === 0 ? 'presence.joined' : 'presence.left',
    data: { tenant: 'acme', channel, user: `user-${index}` },
  }));
}

function byChannel(deliveries: Delivery[]): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const { event } of deliveries) result.set(event.data.channel, [...(result.get(event.data.channel) ?? []), event.id]);
  return result;
}

describe('lifecycle webhooks to the app', () => {
  it('delivers every event, in order per channel, ids stable, through downtime, 500s and timeouts', async () => {
    const app = await receiver();
    await app.down();
    // A short timeout, so the receiver's silences become failed attempts quickly.
    const { stream } = pipeline(new SqliteWebhookOutbox(await tempFile()), app.url, [SECRET], { ...FAST, timeoutMs: 150 });

    const published: LifecycleEvent[] = [];
    for (const channel of ['chat:a', 'chat:b', 'chat:c']) published.push(...(await stream.publish(presenceEvents(channel, 8))));
    await sleep(150); // down: connection refused
    await app.up();
    app.mode = 'error';
    // Waits for attempts rather than sleeping: after failures the sender probes at a backoff, later on a loaded machine.
    await app.waitFor(() => app.attempts.length >= 1);
    app.mode = 'hang';
    const beforeHang = app.attempts.length;
    await app.waitFor(() => app.attempts.length > beforeHang);
    const failedAttempts = app.attempts.length;
    app.mode = 'ok';
    await app.waitFor(() => app.unique().length === published.length);

    expect(failedAttempts).toBeGreaterThan(0);
    expect(app.rejected).toBe(0);
    expect(new Set(app.unique().map((d) => d.id))).toEqual(new Set(published.map((e) => e.id)));
    expect(byChannel(app.unique())).toEqual(
      new Map(['chat:a', 'chat:b', 'chat:c'].map((channel) => [channel, published.filter((e) => e.data.channel === channel).map((e) => e.id)])),
    );
    // Every attempt of one event carried the same id and body; the body is the event.
    for (const attempt of app.attempts) {
      const event = published.find((e) => e.id === attempt.id);
      expect(attempt.body).toBe(JSON.stringify(event));
      expect(attempt.event.id).toBe(attempt.id);
    }
  });

  it("one tenant's hanging endpoint handler never delays another tenant's webhooks", async () => {
    const app = await receiver();
    app.hangTenants.add('slow');
    // Default slots; requests that would hang for 30 s; no wait for hung ones on close.
    const { stream } = pipeline(new SqliteWebhookOutbox(await tempFile()), app.url, [SECRET], { timeoutMs: 30_000, pollMs: 20, closeGraceMs: 50 });
    const slowEvents = Array.from({ length: 20 }, (_, index) => ({ type: 'channel.occupied' as const, data: { tenant: 'slow', channel: `chat:${index}` } }));
    await stream.publish(slowEvents);
    await app.waitFor(() => app.attempts.length >= 4);
    const fast = await stream.publish(Array.from({ length: 5 }, (_, index) => ({ type: 'channel.occupied' as const, data: { tenant: 'acme', channel: `chat:${index}` } })));
    await app.waitFor(() => app.unique().length === fast.length, 8_000);
    expect(app.unique().map((delivery) => delivery.id).sort()).toEqual(fast.map((event) => event.id).sort());
  });

  it('drains the backlog as soon as the endpoint answers again, not when each channel has waited out its own backoff', async () => {
    const app = await receiver();
    app.mode = 'error';
    // Retries of a channel at most 1 h apart, probes of the endpoint every 300 ms at most.
    const tuning = { ...FAST, backoff: { baseMs: 60 * 60_000, capMs: 60 * 60_000 }, probeBackoff: { baseMs: 300, capMs: 300 }, probeAfterFailures: 2 };
    const { stream } = pipeline(new SqliteWebhookOutbox(await tempFile()), app.url, [SECRET], tuning);
    const published: LifecycleEvent[] = [];
    for (const channel of ['chat:a', 'chat:b', 'chat:c', 'chat:d', 'chat:e', 'chat:f']) published.push(...(await stream.publish(presenceEvents(channel, 3))));
    // Every channel's head has failed once and waits out an hour.
    await app.waitFor(() => new Set(app.attempts.map((attempt) => attempt.event.data.channel)).size === 6);
    app.mode = 'ok';
    await app.waitFor(() => app.unique().length === published.length, 8_000);
    expect(byChannel(app.unique())).toEqual(
      new Map(['chat:a', 'chat:b', 'chat:c', 'chat:d', 'chat:e', 'chat:f'].map((channel) => [channel, published.filter((e) => e.data.channel === channel).map((e) => e.id)])),
    );
  });

  it('lets requests in flight finish when closing, so nothing the app took is sent again after a restart', async () => {
    const file = await tempFile();
    const app = await receiver();
    app.mode = 'hang';
    const first = pipeline(new SqliteWebhookOutbox(file), app.url, [SECRET], { ...FAST, closeGraceMs: 5_000 });
    const [event] = await first.stream.publish(presenceEvents('chat:a', 1));
    await app.waitFor(() => app.attempts.length === 1);
    // The app is slow, not broken: it answers within the shutdown grace.
    app.mode = 'ok';
    const answering = app.answerHanging();
    await first.close();
    await answering;
    expect(app.accepted.map((delivery) => delivery.id)).toEqual([event?.id]);

    const second = pipeline(new SqliteWebhookOutbox(file), app.url);
    second.sender.wake();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(app.attempts).toHaveLength(1);
  });

  it('keeps undelivered events across a restart and sends them with their ids', async () => {
    const app = await receiver();
    app.mode = 'error';
    const file = await tempFile();
    const first = pipeline(new SqliteWebhookOutbox(file), app.url);
    const published = await first.stream.publish(presenceEvents('chat:restart', 5));
    await app.waitFor(() => app.attempts.length > 0).catch(() => undefined);
    await first.close();

    app.mode = 'ok';
    pipeline(new SqliteWebhookOutbox(file), app.url);
    await app.waitFor(() => app.unique().length === 5);
    expect(app.unique().map((d) => d.id)).toEqual(published.map((e) => e.id));
  });

  it('signs with both secrets while rotating: an app knowing either one verifies', async () => {
    const knowsOld = await receiver(SECRET);
    const knowsNew = await receiver(NEXT_SECRET);
    const events = presenceEvents('chat:rotate', 1);
    const toOld = pipeline(new SqliteWebhookOutbox(await tempFile()), knowsOld.url, [SECRET, NEXT_SECRET]);
    const toNew = pipeline(new SqliteWebhookOutbox(await tempFile()), knowsNew.url, [SECRET, NEXT_SECRET]);
    await toOld.stream.publish(events);
    await toNew.stream.publish(events);
    await knowsOld.waitFor(() => knowsOld.accepted.length === 1);
    await knowsNew.waitFor(() => knowsNew.accepted.length === 1);
    expect(knowsOld.rejected + knowsNew.rejected).toBe(0);

    // A receiver with a secret the sender does not have rejects everything.
    const stranger = await receiver(testSecret('someone else'));
    const toStranger = pipeline(new SqliteWebhookOutbox(await tempFile()), stranger.url, [SECRET]);
    await toStranger.stream.publish(events);
    for (let i = 0; i < 50 && stranger.rejected === 0; i++) await sleep(10);
    expect(stranger.rejected).toBeGreaterThan(0);
    expect(stranger.accepted).toEqual([]);
  });

  it('gives up after the retry window: a dead letter, and the channel moves on', async () => {
    const app = await receiver();
    app.mode = 'error';
    const outbox = new SqliteWebhookOutbox(await tempFile());
    const { stream } = pipeline(outbox, app.url, [SECRET], { ...FAST, retryForMs: 150 });
    const [doomed] = await stream.publish(presenceEvents('chat:dead', 1));
    for (let i = 0; i < 100 && (await outbox.deadLetters(undefined, 1)).total === 0; i++) await sleep(20);
    const { letters } = await outbox.deadLetters('acme', 10);
    expect(letters.map((letter) => letter.id)).toEqual([doomed?.id]);
    expect(letters[0]?.lastError).toBe('HTTP 500');
    expect(letters[0]?.attempts).toBeGreaterThan(1);

    app.mode = 'ok';
    const [next] = await stream.publish(presenceEvents('chat:dead', 1));
    await app.waitFor(() => app.accepted.length === 1);
    expect(app.accepted[0]?.id).toBe(next?.id);
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const { createServer } = await import('node:http');
    const redirector = createServer((_req, res) => res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end());
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => redirector.close(resolve)));
    const address = redirector.address();
    const outbox = new SqliteWebhookOutbox(await tempFile());
    const { stream } = pipeline(outbox, `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`);
    await stream.publish(presenceEvents('chat:redirect', 1));
    let head;
    for (let i = 0; i < 100; i++) {
      await sleep(20);
      [head] = await outbox.claimDue(Date.now() + 60_000, 1, 0);
      if (head?.lastError) break;
    }
    expect(head?.lastError).toBe('HTTP 307');
  });
});
