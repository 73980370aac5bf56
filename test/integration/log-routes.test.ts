/**
 * History, SSE and long-poll against a real listening BFF (memory or sqlite store, fake
 * provider). Everything is awaited on events, never on fixed sleeps.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../src/core/envelope.js';
import type { ServerOptions } from '../../src/server/app.js';
import { SqliteEventStore } from '../../src/server/log/sqlite-store.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { createFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

const FAST: Partial<ServerOptions> = {
  delivery: { providerTimeoutMs: 200, backoff: { baseMs: 5, capMs: 20 }, breaker: { failureThreshold: 1000, openMs: 50 }, closeGraceMs: 50 },
  logReaders: { poll: { timeoutMs: 300 }, stream: { heartbeatMs: 60_000 } },
};

let bff: TestBff | undefined;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await bff?.close();
  bff = undefined;
});

async function start(overrides: Partial<ServerOptions> = {}): Promise<TestBff & { provider: FakeProvider }> {
  const provider = createFakeProvider();
  const started = await startBff({ provider, ...FAST, ...overrides });
  bff = started;
  return Object.assign(started, { provider });
}

async function publish(server: TestBff, channel: string, data: unknown, key: string = API_KEYS.acme) {
  const response = await server.post('/v1/publish', { channel, event: 'update', data }, key);
  expect([200, 202]).toContain(response.status);
  return (await response.json()) as { id: string; seq: number; status: string };
}

function get(server: TestBff, pathAndQuery: string, token?: string, headers: Record<string, string> = {}) {
  return fetch(`${server.url}${pathAndQuery}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
}

/** A minimal SSE client over fetch (Node has no EventSource); frames are awaited one by one. */
class SseClient {
  private buffer = '';
  private readonly frames: Frame[] = [];
  private waiting: (() => void) | undefined;
  ended = false;
  lastEventId: string | undefined;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    void this.pump();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    const client = new SseClient(response, controller);
    closers.push(() => client.close());
    return client;
  }

  private async pump(): Promise<void> {
    const body = this.response.body;
    if (!body) return;
    const decoder = new TextDecoder();
    const reader = body.getReader();
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        this.buffer += decoder.decode(chunk.value, { stream: true });
        let end = this.buffer.indexOf('\n\n');
        while (end >= 0) {
          this.frames.push(this.parse(this.buffer.slice(0, end)));
          this.buffer = this.buffer.slice(end + 2);
          end = this.buffer.indexOf('\n\n');
        }
        this.waiting?.();
      }
    } catch {
      // aborted by close()
    }
    this.ended = true;
    this.waiting?.();
  }

  private parse(block: string): Frame {
    const frame: Frame = { comments: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        frame.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id' || field === 'event' || field === 'data' || field === 'retry') frame[field] = value;
    }
    if (frame.id !== undefined) this.lastEventId = frame.id;
    return frame;
  }

  /** The next frame, or undefined once the stream has ended. */
  async next(): Promise<Frame | undefined> {
    while (this.frames.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.frames.shift();
  }

  /** The next `count` event frames (frames with data), parsed as envelopes. */
  async events(count: number): Promise<Envelope[]> {
    const events: Envelope[] = [];
    while (events.length < count) {
      const frame = await this.next();
      if (!frame) throw new Error(`stream ended after ${events.length} of ${count} events`);
      if (frame.data !== undefined) {
        const envelope = JSON.parse(frame.data) as Envelope;
        expect(frame.event).toBe(envelope.event);
        events.push(envelope);
      }
    }
    return events;
  }

  close(): void {
    this.controller.abort();
  }
}

const summary = (events: Envelope[]) => events.map((event) => `${event.channel}#${event.seq}=${JSON.stringify(event.data)}`);

describe('GET /v1/history', () => {
  it('pages through a channel with since / limit and reports lastSeq', async () => {
    const server = await start();
    for (let index = 1; index <= 25; index += 1) await publish(server, 'orders:1', index);
    const { token } = await server.capabilityToken('acme', 'ana');
    const first = await get(server, '/v1/history?channel=orders:1&limit=10', token);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const page = (await first.json()) as { channel: string; events: Envelope[]; lastSeq: number };
    expect(page.channel).toBe('orders:1');
    expect(page.lastSeq).toBe(25);
    expect(page.events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(page.events[0]).toMatchObject({ channel: 'orders:1', event: 'update', data: 1, seq: 1 });
    const rest = (await (await get(server, '/v1/history?channel=orders:1&since=20', token)).json()) as { events: Envelope[] };
    expect(rest.events.map((event) => event.data)).toEqual([21, 22, 23, 24, 25]);
    const all = (await (await get(server, '/v1/history?channel=orders:1', token)).json()) as { events: Envelope[] };
    expect(all.events).toHaveLength(25);
    const perChannel = (await (await get(server, '/v1/channels/orders:1/history?since=23', token)).json()) as { events: Envelope[] };
    expect(perChannel.events.map((event) => event.seq)).toEqual([24, 25]);
  });

  it('serves only the token tenant, needs history or subscribe, and rejects bad input', async () => {
    const server = await start();
    await publish(server, 'orders:1', 'acme-secret');
    await publish(server, 'orders:1', 'globex-own', API_KEYS.globex);
    const globex = (await server.capabilityToken('globex', 'gus')).token;
    const body = (await (await get(server, '/v1/history?channel=orders:1', globex)).json()) as { events: Envelope[]; lastSeq: number };
    expect(body.events.map((event) => event.data)).toEqual(['globex-own']);
    expect(body.lastSeq).toBe(1);

    const ana = (await server.capabilityToken('acme', 'ana')).token;
    const forbidden = await get(server, '/v1/history?channel=notifications:bob', ana);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await forbidden.json()).toMatchObject({ code: 'forbidden' });
    expect((await get(server, '/v1/history?channel=notifications:ana', ana)).status).toBe(200);

    const session = await server.devSession('acme', 'sub-only');
    const narrowed = (await (await server.post('/v1/token', { caps: { 'orders:*': ['subscribe'] } }, session)).json()) as { token: string };
    expect((await get(server, '/v1/history?channel=orders:1', narrowed.token)).status).toBe(200);
    expect((await get(server, '/v1/history?channel=chat:general', narrowed.token)).status).toBe(403);

    expect((await get(server, '/v1/history?channel=orders:1')).status).toBe(401);
    expect((await get(server, '/v1/history?channel=orders:1', 'not-a-token')).status).toBe(401);
    expect((await get(server, '/v1/history?channel=orders:1&limit=1001', ana)).status).toBe(400);
    expect((await get(server, '/v1/history?channel=orders:1&since=-1', ana)).status).toBe(400);
    expect((await get(server, '/v1/history?channel=billing:1', ana)).status).toBe(400);
    expect((await get(server, '/v1/history?channel=orders:1&channel=orders:2', ana)).status).toBe(400);
    expect((await get(server, '/v1/history', ana)).status).toBe(400);
  });
});

describe('GET /v1/stream (SSE)', () => {
  it('streams live events and, resumed with Last-Event-ID, replays exactly what was missed', async () => {
    const server = await start();
    const { token } = await server.capabilityToken('acme', 'ana');
    const url = `${server.url}/v1/stream?channels=orders:1,chat:general`;
    const first = await SseClient.open(url, { authorization: `Bearer ${token}` });
    expect(first.response.status).toBe(200);
    expect(first.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(first.response.headers.get('cache-control')).toBe('no-store');
    expect(first.response.headers.get('x-accel-buffering')).toBe('no');
    const opening = await first.next();
    expect(opening).toMatchObject({ retry: expect.stringMatching(/^\d+$/), id: expect.any(String) });
    expect(opening?.data).toBeUndefined();

    await publish(server, 'orders:1', 'a');
    await publish(server, 'chat:general', 'b');
    await publish(server, 'orders:1', 'c');
    expect(summary(await first.events(3))).toEqual(['orders:1#1="a"', 'chat:general#1="b"', 'orders:1#2="c"']);
    const resumeFrom = first.lastEventId as string;
    first.close();

    await publish(server, 'chat:general', 'missed-1');
    await publish(server, 'orders:1', 'missed-2');
    await publish(server, 'orders:2', 'other-channel');

    const resumed = await SseClient.open(url, { authorization: `Bearer ${token}`, 'last-event-id': resumeFrom });
    // Order is per channel; a replay goes channel by channel.
    expect(summary(await resumed.events(2)).sort()).toEqual(['chat:general#2="missed-1"', 'orders:1#3="missed-2"']);
    await publish(server, 'orders:1', 'live');
    expect(summary(await resumed.events(1))).toEqual(['orders:1#4="live"']);

    // EventSource cannot set headers: token and position may come in the query.
    const viaQuery = await SseClient.open(
      `${url}&token=${encodeURIComponent(token)}&lastEventId=${encodeURIComponent(resumeFrom)}`,
    );
    expect(summary(await viaQuery.events(3)).sort()).toEqual(['chat:general#2="missed-1"', 'orders:1#3="missed-2"', 'orders:1#4="live"']);
  });

  it('keeps streaming while the provider is down, and the provider gets everything in order once back', async () => {
    const server = await start();
    const { token } = await server.capabilityToken('acme', 'ana');
    const stream = await SseClient.open(`${server.url}/v1/stream?channels=orders:1`, { authorization: `Bearer ${token}` });
    await stream.next();
    await publish(server, 'orders:1', 0);
    server.provider.failing = true;
    const statuses: string[] = [];
    for (let index = 1; index <= 5; index += 1) statuses.push((await publish(server, 'orders:1', index)).status);
    expect(statuses).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
    expect((await stream.events(6)).map((event) => event.data)).toEqual([0, 1, 2, 3, 4, 5]);

    const resumeFrom = stream.lastEventId as string;
    stream.close();
    await publish(server, 'orders:1', 6);
    const resumed = await SseClient.open(`${server.url}/v1/stream?channels=orders:1`, { authorization: `Bearer ${token}`, 'last-event-id': resumeFrom });
    expect((await resumed.events(1)).map((event) => event.data)).toEqual([6]);

    server.provider.failing = false;
    await vi.waitFor(() => expect(server.provider.published).toHaveLength(7), { timeout: 5000, interval: 5 });
    expect(server.provider.published.map((message) => message.envelope.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('authorizes every channel with subscribe, in the token tenant only', async () => {
    const server = await start();
    const { token } = await server.capabilityToken('acme', 'ana');
    const forbidden = await get(server, '/v1/stream?channels=orders:1,notifications:bob', token);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ code: 'forbidden' });
    expect((await get(server, '/v1/stream?channels=orders:1')).status).toBe(401);
    expect((await get(server, '/v1/stream?channels=', token)).status).toBe(400);
    expect((await get(server, '/v1/stream?channels=orders:1', token, { 'last-event-id': 'garbage!' })).status).toBe(400);

    const globex = (await server.capabilityToken('globex', 'gus')).token;
    const stream = await SseClient.open(`${server.url}/v1/stream?channels=orders:1`, { authorization: `Bearer ${globex}` });
    await stream.next();
    await publish(server, 'orders:1', 'acme-only');
    await publish(server, 'orders:1', 'globex-only', API_KEYS.globex);
    expect((await stream.events(1)).map((event) => event.data)).toEqual(['globex-only']);
  });

  it('ends the stream when the token expires', async () => {
    const server = await start({ tokenTtlSeconds: 1 });
    const { token, expiresAt } = await server.capabilityToken('acme', 'ana');
    const stream = await SseClient.open(`${server.url}/v1/stream?channels=orders:1`, { authorization: `Bearer ${token}` });
    const frames: (string | undefined)[] = [];
    for (let frame = await stream.next(); frame; frame = await stream.next()) frames.push(...frame.comments);
    expect(frames).toContain('token expired');
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50);
  });

  it('bounds open streams per user and frees the slot on disconnect', async () => {
    const server = await start({ logReaders: { ...FAST.logReaders, limits: { perUser: 2 } } });
    const { token } = await server.capabilityToken('acme', 'ana');
    const url = `${server.url}/v1/stream?channels=orders:1`;
    const a = await SseClient.open(url, { authorization: `Bearer ${token}` });
    await SseClient.open(url, { authorization: `Bearer ${token}` });
    const third = await get(server, '/v1/stream?channels=orders:1', token);
    expect(third.status).toBe(429);
    const other = (await server.capabilityToken('acme', 'bob')).token;
    expect((await SseClient.open(url, { authorization: `Bearer ${other}` })).response.status).toBe(200);
    a.close();
    await vi.waitFor(
      async () => {
        const retry = await SseClient.open(url, { authorization: `Bearer ${token}` });
        if (retry.response.status !== 200) retry.close();
        expect(retry.response.status).toBe(200);
      },
      { timeout: 3000, interval: 10 },
    );
  });
});

describe('GET /v1/poll', () => {
  it('answers the current position, then wakes on the next publish', async () => {
    const server = await start();
    const { token } = await server.capabilityToken('acme', 'ana');
    await publish(server, 'orders:1', 'before');
    const initial = (await (await get(server, '/v1/poll?channels=orders:1,chat:general', token)).json()) as { events: Envelope[]; cursor: string };
    expect(initial.events).toEqual([]);

    const waiting = get(server, `/v1/poll?channels=orders:1,chat:general&cursor=${initial.cursor}`, token);
    await publish(server, 'chat:general', 'wake');
    const woke = (await (await waiting).json()) as { events: Envelope[]; cursor: string };
    expect(summary(woke.events)).toEqual(['chat:general#1="wake"']);

    await publish(server, 'orders:1', 'queued-1');
    await publish(server, 'orders:1', 'queued-2');
    const immediate = (await (await get(server, `/v1/poll?channels=orders:1,chat:general&cursor=${woke.cursor}`, token)).json()) as {
      events: Envelope[];
      cursor: string;
    };
    expect(summary(immediate.events)).toEqual(['orders:1#2="queued-1"', 'orders:1#3="queued-2"']);

    const timedOut = await get(server, `/v1/poll?channels=orders:1,chat:general&cursor=${immediate.cursor}`, token);
    expect(await timedOut.json()).toEqual({ events: [], cursor: immediate.cursor });
  });

  it('needs subscribe on every channel', async () => {
    const server = await start();
    const { token } = await server.capabilityToken('acme', 'ana');
    expect((await get(server, '/v1/poll?channels=notifications:bob', token)).status).toBe(403);
    expect((await get(server, '/v1/poll?channels=orders:1')).status).toBe(401);
    expect((await get(server, '/v1/poll?channels=orders:1&cursor=%%%', token)).status).toBe(400);
  });
});

describe('with the sqlite store', () => {
  it('serves history and resumes pending provider delivery after a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-log-it-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'events.sqlite');
    const first = await start({ store: new SqliteEventStore(file) });
    first.provider.failing = true;
    for (let index = 1; index <= 3; index += 1) expect((await publish(first, 'orders:7', index)).status).toBe('accepted');
    await first.close();
    bff = undefined;

    const second = await start({ store: new SqliteEventStore(file) });
    await vi.waitFor(() => expect(second.provider.published.map((message) => message.envelope.data)).toEqual([1, 2, 3]), {
      timeout: 5000,
      interval: 5,
    });
    expect(await publish(second, 'orders:7', 4)).toMatchObject({ seq: 4, status: 'delivered' });
    const { token } = await second.capabilityToken('acme', 'ana');
    const history = (await (await get(second, '/v1/history?channel=orders:7', token)).json()) as { events: Envelope[] };
    expect(history.events.map((event) => event.data)).toEqual([1, 2, 3, 4]);
  });
});
