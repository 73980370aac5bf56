/**
 * `switchboard/publisher` against a real BFF behind a proxy that loses answers, refuses
 * and delays: a resend after a timeout is never a second event, transient refusals are
 * retried with full-jitter backoff, permanent ones are not.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPublisher, type PublisherOptions } from '../../src/publisher/index.js';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';

type Step = 'forward' | 'forward-and-lose-answer' | { status: number; headers?: Record<string, string> };

interface Proxy {
  url: string;
  /** Bodies of the requests the proxy saw, in order. */
  bodies: string[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/** A proxy to the BFF that plays `steps` in order (then forwards): forward, forward but never answer, or answer a status itself. */
async function proxyTo(bff: TestBff, steps: Step[]): Promise<Proxy> {
  const bodies: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    bodies.push(body);
    const step = steps.shift() ?? 'forward';
    if (typeof step === 'object') {
      res.writeHead(step.status, { 'content-type': 'application/problem+json', ...step.headers });
      res.end(JSON.stringify({ code: step.status === 503 ? 'provider_unavailable' : 'rate_limited', status: step.status, detail: 'try later' }));
      return;
    }
    const answer = await fetch(`${bff.url}${req.url}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body });
    const text = await answer.text();
    // The event is in the log now; the publisher never hears so and times out.
    if (step === 'forward-and-lose-answer') return;
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

async function bff(): Promise<TestBff> {
  const running = await startBff({});
  cleanups.push(() => running.close());
  return running;
}

async function history(running: TestBff, channel: string): Promise<{ id: string; seq: number }[]> {
  const { token } = await running.capabilityToken('acme', 'ana');
  const answer = await fetch(`${running.url}/v1/history?channel=${channel}`, { headers: { authorization: `Bearer ${token}` } });
  return ((await answer.json()) as { events: { id: string; seq: number }[] }).events;
}

const fast: Partial<PublisherOptions> = { backoff: { baseMs: 10, maxMs: 50 } };

describe('switchboard/publisher', () => {
  it('resends after a timeout with the same id, and the event is logged once', async () => {
    const running = await bff();
    const proxy = await proxyTo(running, ['forward-and-lose-answer']);
    const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, timeoutMs: 500, ...fast });

    const result = await publisher.publish({ channel: 'orders:1', event: 'status', data: { status: 'shipped' } });

    expect(result).toMatchObject({ seq: 1, status: 'duplicate' });
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect(new Set(proxy.bodies).size).toBe(1);
    expect(await history(running, 'orders:1')).toEqual([expect.objectContaining({ id: result.id, seq: 1 })]);
  });

  it('keeps the ids of a batch across a resend', async () => {
    const running = await bff();
    const proxy = await proxyTo(running, ['forward-and-lose-answer']);
    const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, timeoutMs: 500, ...fast });
    const results = await publisher.publishBatch([
      { channel: 'orders:2', event: 'status', data: 1 },
      { channel: 'orders:2', event: 'status', data: 2, id: 'mine-2' },
    ]);
    expect(results.map(({ seq, status }) => ({ seq, status }))).toEqual([
      { seq: 1, status: 'duplicate' },
      { seq: 2, status: 'duplicate' },
    ]);
    expect(results[1]?.id).toBe('mine-2');
    expect((await history(running, 'orders:2')).map(({ seq }) => seq)).toEqual([1, 2]);
  });

  it('retries 503 and 429 (waiting Retry-After) and answers the delivery', async () => {
    const running = await bff();
    const proxy = await proxyTo(running, [{ status: 503 }, { status: 429, headers: { 'retry-after': '1' } }]);
    const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, ...fast });
    const started = Date.now();
    const result = await publisher.publish({ channel: 'orders:3', event: 'status', data: null, id: 'order-3' });
    expect(result).toEqual({ id: 'order-3', seq: 1, status: 'delivered', attempts: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a refusal: the server’s code is thrown after one request', async () => {
    const running = await bff();
    const proxy = await proxyTo(running, []);
    const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, ...fast });
    await expect(publisher.publish({ channel: 'nope:1', event: 'status', data: null })).rejects.toMatchObject({ code: 'unknown_namespace' });
    await expect(createPublisher({ url: proxy.url, apiKey: 'wrong-key-000000000', ...fast }).publish({ channel: 'orders:1', event: 'e', data: null })).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    expect(proxy.bodies).toHaveLength(2);
  });

  it('gives up after the configured retries with provider_unavailable', async () => {
    const running = await bff();
    const proxy = await proxyTo(running, [{ status: 503 }, { status: 503 }, { status: 503 }]);
    const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, retries: 2, ...fast });
    await expect(publisher.publish({ channel: 'orders:4', event: 'status', data: null })).rejects.toMatchObject({ code: 'provider_unavailable', message: /after 3 attempts/ });
    const unreachable = createPublisher({ url: 'http://127.0.0.1:1', apiKey: API_KEYS.acme, retries: 1, ...fast });
    await expect(unreachable.publish({ channel: 'orders:4', event: 'status', data: null })).rejects.toMatchObject({ code: 'provider_unavailable', message: /ECONNREFUSED/ });
  });

  it('publishes for the tenant an admin key names', async () => {
    const running = await bff();
    const publisher = createPublisher({ url: running.url, apiKey: ADMIN_KEY, tenant: 'globex', ...fast });
    expect(await publisher.publish({ channel: 'orders:5', event: 'status', data: null })).toMatchObject({ seq: 1, status: 'delivered', attempts: 1 });
  });

  it('waits random(0..1) * min(max, base * 2^attempt) between attempts (full jitter)', async () => {
    const running = await bff();
    const timed = async (random: number) => {
      const proxy = await proxyTo(running, [{ status: 503 }, { status: 503 }]);
      const publisher = createPublisher({ url: proxy.url, apiKey: API_KEYS.acme, backoff: { baseMs: 300, maxMs: 400 }, random: () => random });
      const started = Date.now();
      await publisher.publish({ channel: 'orders:6', event: 'status', data: random });
      return Date.now() - started;
    };
    // Near the ceiling: 0.99 * 300 + 0.99 * 400 (capped); at 0, no wait at all.
    expect(await timed(0.99)).toBeGreaterThanOrEqual(680);
    expect(await timed(0)).toBeLessThan(await timed(0.99));
  });
});
