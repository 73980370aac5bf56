/**
 * The hosted Pusher provider against msw handlers that check the exact HTTP requests
 * Pusher documents; signatures are cross-checked with the official `pusher` server SDK.
 */
import { ProviderPublishError } from '../../providers/publish-error.js';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import PusherServer from 'pusher';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../src/core/envelope.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { md5Hex, signWebhook, verifyRequest } from '../../providers/pusher-protocol/index.js';
import { createPusherProvider, pusherProviderOptionsFromEnv, type PusherProviderOptions } from '../../providers/pusher/index.js';
import type { ClientGrant, ProviderMessage } from '../../providers/types.js';

const options: PusherProviderOptions = { appId: '123', key: 'app-key', secret: 'app-secret', cluster: 'eu', useTLS: true };
const API = 'https://api-eu.pusher.com/apps/123';
const NOW = 1_700_000_000_000;
const official = new PusherServer({ appId: '123', key: 'app-key', secret: 'app-secret', cluster: 'eu', useTLS: true });

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  vi.useRealTimers();
});
afterAll(() => server.close());

interface Captured {
  method: string;
  path: string;
  query: string;
  body: string;
  contentType: string | null;
}

function capture(method: 'get' | 'post', url: string, reply: (body: string) => Response = () => HttpResponse.json({})): Captured[] {
  const captured: Captured[] = [];
  server.use(
    http[method](url, async ({ request }) => {
      const parsed = new URL(request.url);
      const body = await request.text();
      captured.push({ method: request.method, path: parsed.pathname, query: parsed.search.slice(1), body, contentType: request.headers.get('content-type') });
      return reply(body);
    }),
  );
  return captured;
}

/** Asserts the request carries a valid Pusher signature, exactly as the official SDK would sign it. */
function expectSigned(request: Captured): void {
  const verified = verifyRequest(options, { method: request.method, path: request.path, rawQuery: request.query, body: Buffer.from(request.body), now: NOW });
  expect(verified.ok).toBe(true);
  const params = Object.fromEntries(new URLSearchParams(request.query));
  expect(params).toMatchObject({ auth_key: 'app-key', auth_timestamp: String(NOW / 1000), auth_version: '1.0' });
  if (request.body !== '') expect(params.body_md5).toBe(md5Hex(request.body));
  const { auth_key: _k, auth_timestamp: _t, auth_version: _v, auth_signature: _s, body_md5: _m, ...extra } = params;
  const sdkQuery = official.createSignedQueryString({
    method: request.method,
    path: request.path,
    ...(request.body === '' ? {} : { body: request.body }),
    ...(Object.keys(extra).length > 0 ? { params: extra } : {}),
  });
  expect(request.query).toBe(sdkQuery);
}

function envelope(channel: string, n: number): Envelope {
  return { id: `evt-${n}`, channel, event: 'status', data: { n }, seq: n, ts: NOW + n };
}

const grant: ClientGrant = { tenant: 'acme', user: 'ana', info: { name: 'Ana' }, caps: { '*': ['subscribe'] }, expiresAt: NOW + 60_000 };
const signal = () => new AbortController().signal;

describe('hosted Pusher provider: publish', () => {
  it('posts signed batch_events in chunks of 10, in order, with the envelope as data', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const requests = capture('post', `${API}/batch_events`);
    const provider = createPusherProvider(options);
    const messages: ProviderMessage[] = Array.from({ length: 23 }, (_, i) => ({
      tenant: 'acme',
      envelope: envelope(i % 2 === 0 ? 'orders:1' : 'chat:general', i + 1),
      ...(i === 0 ? { excludeSocketId: '123.456' } : {}),
    }));
    await provider.publish(messages, signal());

    expect(requests.map((r) => (JSON.parse(r.body) as { batch: unknown[] }).batch.length)).toEqual([10, 10, 3]);
    const items = requests.flatMap((r) => (JSON.parse(r.body) as { batch: { channel: string; name: string; data: string; socket_id?: string }[] }).batch);
    expect(items[0]).toEqual({ channel: 'private-orders.acme.1', name: 'status', data: JSON.stringify(messages[0]?.envelope), socket_id: '123.456' });
    // chat is a presence namespace in the default config.
    expect(items[1]).toEqual({ channel: 'presence-chat.acme.general', name: 'status', data: JSON.stringify(messages[1]?.envelope) });
    expect(items.map((item) => (JSON.parse(item.data) as Envelope).seq)).toEqual(messages.map((m) => m.envelope.seq));
    for (const request of requests) {
      expect(request.path).toBe('/apps/123/batch_events');
      expect(request.contentType).toBe('application/json');
      expectSigned(request);
    }
  });

  it('classifies failures: 4xx refuses the event for good, 5xx/429/network errors are retryable', async () => {
    const provider = createPusherProvider(options);
    const message: ProviderMessage = { tenant: 'acme', envelope: envelope('orders:1', 1) };
    const cases: Array<[() => Response, boolean]> = [
      [() => new HttpResponse('Over quota', { status: 403 }), true],
      [() => new HttpResponse('Bad', { status: 400 }), true],
      [() => new HttpResponse('Slow down', { status: 429 }), false],
      [() => new HttpResponse('Oops', { status: 503 }), false],
      [() => HttpResponse.error(), false],
    ];
    for (const [answer, permanent] of cases) {
      server.resetHandlers();
      capture('post', `${API}/batch_events`, answer);
      const error: unknown = await provider.publish([message], signal()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ProviderPublishError);
      expect(error).toMatchObject({ taken: 0, permanent });
    }
  });

  it('reports the chunks Pusher took before a later chunk failed, so they are never resent', async () => {
    const provider = createPusherProvider(options);
    const messages = Array.from({ length: 25 }, (_, i): ProviderMessage => ({ tenant: 'acme', envelope: envelope('orders:1', i + 1) }));
    let calls = 0;
    const requests = capture('post', `${API}/batch_events`, () => (++calls === 2 ? new HttpResponse('busy', { status: 502 }) : HttpResponse.json({})));
    const error: unknown = await provider.publish(messages, signal()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ taken: 10, permanent: false });
    expect(requests).toHaveLength(2);
  });

  it('isolates the one event a chunk was refused for and reports its index', async () => {
    const provider = createPusherProvider(options);
    const messages = Array.from({ length: 10 }, (_, i): ProviderMessage => ({ tenant: 'acme', envelope: envelope('orders:1', i + 1) }));
    const requests = capture('post', `${API}/batch_events`, (body) => {
      const { batch } = JSON.parse(body) as { batch: { data: string }[] };
      const poisoned = batch.some((item) => (JSON.parse(item.data) as Envelope).seq === 4);
      return poisoned ? new HttpResponse('Invalid', { status: 400 }) : HttpResponse.json({});
    });
    const error: unknown = await provider.publish(messages, signal()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ taken: 3, permanent: true });
    // The chunk, then events 1..3 alone (taken), then event 4 alone (refused); nothing after it.
    expect(requests).toHaveLength(5);
  });

  it('honours an aborted signal and refuses data over 10 KB without sending', async () => {
    const requests = capture('post', `${API}/batch_events`);
    const provider = createPusherProvider(options);
    const controller = new AbortController();
    controller.abort(new Error('shutdown'));
    await expect(provider.publish([{ tenant: 'acme', envelope: envelope('orders:1', 1) }], controller.signal)).rejects.toThrow('shutdown');
    const big = { ...envelope('orders:1', 2), data: 'x'.repeat(10 * 1024) };
    await expect(provider.publish([{ tenant: 'acme', envelope: big }], signal())).rejects.toMatchObject({ taken: 0, permanent: true });
    expect(requests).toEqual([]);
    // Events before an oversized one still go out; the oversized one is reported as refused.
    await expect(
      provider.publish([{ tenant: 'acme', envelope: envelope('orders:1', 3) }, { tenant: 'acme', envelope: big }], signal()),
    ).rejects.toMatchObject({ taken: 1, permanent: true });
    expect(requests).toHaveLength(1);
    // The BFF refuses it at publish: the same check, for the largest envelope it could travel in.
    expect(provider.payloadProblem?.(big)).toMatch(/over Pusher's 10240-byte limit/);
  });

  it('uses PUSHER_HOST, PUSHER_PORT and PUSHER_USE_TLS from the environment', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const requests = capture('post', 'http://127.0.0.1:4000/apps/123/batch_events');
    const fromEnv = pusherProviderOptionsFromEnv({
      PUSHER_APP_ID: '123',
      PUSHER_KEY: 'app-key',
      PUSHER_SECRET: 'app-secret',
      PUSHER_CLUSTER: 'eu',
      PUSHER_HOST: '127.0.0.1',
      PUSHER_PORT: '4000',
      PUSHER_USE_TLS: 'false',
    });
    expect(fromEnv).toEqual({ appId: '123', key: 'app-key', secret: 'app-secret', cluster: 'eu', host: '127.0.0.1', port: 4000, useTLS: false });
    await createPusherProvider(fromEnv).publish([{ tenant: 'acme', envelope: envelope('orders:1', 1) }], signal());
    expect(requests).toHaveLength(1);
    expectSigned(requests[0] as Captured);
  });
});

describe('hosted Pusher provider: configuration', () => {
  it('requires the credentials and names the missing variable', () => {
    expect(() => pusherProviderOptionsFromEnv({ PUSHER_APP_ID: '1', PUSHER_KEY: 'k', PUSHER_CLUSTER: 'eu' })).toThrow(/PUSHER_SECRET/);
    expect(pusherProviderOptionsFromEnv({ PUSHER_APP_ID: '1', PUSHER_KEY: 'k', PUSHER_SECRET: 's', PUSHER_CLUSTER: 'eu' }).useTLS).toBe(true);
    expect(() => pusherProviderOptionsFromEnv({ PUSHER_APP_ID: '1', PUSHER_KEY: 'k', PUSHER_SECRET: 's', PUSHER_CLUSTER: 'eu', PUSHER_PORT: 'x' })).toThrow(/PUSHER_PORT/);
  });

  it('gives the client its key and cluster', async () => {
    expect(await createPusherProvider(options).clientConfig(grant, { publicUrl: 'https://bff.example' })).toEqual({
      name: 'pusher',
      key: 'app-key',
      cluster: 'eu',
      forceTLS: true,
      authEndpoint: '/v1/auth/pusher',
    });
  });
});

describe('hosted Pusher provider: channel authorization', () => {
  const provider = createPusherProvider(options);

  it('signs private and presence channels exactly like the official SDK', () => {
    const privateName = toPusherChannel('acme', 'orders:1', false);
    const request = { grant, socketId: '1.2', channel: 'orders:1', providerChannel: privateName, presence: false, clientEvents: [] };
    expect(provider.authorizeChannel(request)).toEqual(official.authorizeChannel('1.2', privateName));

    const presenceName = toPusherChannel('acme', 'chat:general', true);
    const presence = provider.authorizeChannel({ ...request, channel: 'chat:general', providerChannel: presenceName, presence: true });
    expect(presence).toEqual(official.authorizeChannel('1.2', presenceName, { user_id: 'ana', user_info: { name: 'Ana' } }));
  });

  it('refuses channels of another tenant and malformed socket ids', () => {
    const other = toPusherChannel('globex', 'orders:1', false);
    expect(() => provider.authorizeChannel({ grant, socketId: '1.2', channel: 'orders:1', providerChannel: other, presence: false, clientEvents: [] })).toThrow(
      expect.objectContaining({ code: 'forbidden' }),
    );
    const own = toPusherChannel('acme', 'orders:1', false);
    expect(() => provider.authorizeChannel({ grant, socketId: 'abc', channel: 'orders:1', providerChannel: own, presence: false, clientEvents: [] })).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    );
  });
});

describe('hosted Pusher provider: presence and occupancy', () => {
  it('lists presence members from the users API', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const requests = capture('get', `${API}/channels/presence-chat.acme.general/users`, () => HttpResponse.json({ users: [{ id: 'ana' }, { id: 7 }] }));
    const members = await createPusherProvider(options).presence('acme', 'chat:general');
    expect(members).toEqual([
      { id: 'ana', info: {} },
      { id: '7', info: {} },
    ]);
    expect(requests).toHaveLength(1);
    expectSigned(requests[0] as Captured);
  });

  it('signs user authentication like the official SDK and sends to and terminates users through the HTTP API', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const provider = createPusherProvider(options);
    expect(provider.authenticateUser({ grant, socketId: '1.2' })).toEqual(official.authenticateUser('1.2', { id: 'acme:ana', user_info: { name: 'Ana' } }));
    const events = capture('post', `${API}/events`);
    await provider.sendToUser('acme', 'ana', 'invoice', { total: 3 });
    expect(JSON.parse(events[0]?.body ?? '')).toEqual({ name: 'invoice', data: '{"total":3}', channels: ['#server-to-user-acme:ana'] });
    expectSigned(events[0] as Captured);
    const terminations = capture('post', `${API}/users/acme:ana/terminate_connections`);
    await provider.terminateUser('acme', 'ana');
    expect(terminations).toHaveLength(1);
    expectSigned(terminations[0] as Captured);
  });

  it('reads occupancy from channel info: user_count for presence, subscription_count otherwise', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const presenceRequests = capture('get', `${API}/channels/presence-chat.acme.general`, () => HttpResponse.json({ occupied: true, user_count: 3 }));
    const privateRequests = capture('get', `${API}/channels/private-orders.acme.1`, () => HttpResponse.json({ occupied: true, subscription_count: 5 }));
    const provider = createPusherProvider(options);
    expect(await provider.occupancy('acme', 'chat:general')).toEqual({ subscribers: 3, presenceMembers: 3 });
    expect(await provider.occupancy('acme', 'orders:1')).toEqual({ subscribers: 5 });
    expect(new URLSearchParams(presenceRequests[0]?.query).get('info')).toBe('user_count');
    expect(new URLSearchParams(privateRequests[0]?.query).get('info')).toBe('subscription_count');
    expectSigned(presenceRequests[0] as Captured);
    expectSigned(privateRequests[0] as Captured);
  });

  it('builds per-tenant stats for the admin page from the channels API, cached briefly', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    let requests = 0;
    server.use(
      http.get(`${API}/channels`, ({ request }) => {
        requests += 1;
        const presence = new URL(request.url).searchParams.get('filter_by_prefix') === 'presence-';
        return HttpResponse.json(
          presence
            ? { channels: { 'presence-chat.acme.lobby': { user_count: 2 } } }
            : { channels: { 'presence-chat.acme.lobby': {}, 'private-orders.acme.1': {}, 'private-orders.globex.9': {}, 'someone-elses-channel': {} } },
        );
      }),
    );
    const provider = createPusherProvider(options);
    const stats = await provider.stats();
    expect(stats).toEqual([
      { tenant: 'acme', channels: [{ channel: 'chat:lobby', subscribers: 2, presenceMembers: 2 }, { channel: 'orders:1' }] },
      { tenant: 'globex', channels: [{ channel: 'orders:9' }] },
    ]);
    expect(requests).toBe(2);
    expect(await provider.stats()).toBe(stats);
    expect(requests).toBe(2);
    vi.setSystemTime(NOW + 6000);
    await provider.stats();
    expect(requests).toBe(4);
  });

  it('rejects when the info API fails or answers nonsense', async () => {
    capture('get', `${API}/channels/private-orders.acme.1`, () => new HttpResponse('nope', { status: 500 }));
    await expect(createPusherProvider(options).occupancy('acme', 'orders:1')).rejects.toMatchObject({ code: 'provider_unavailable' });
    server.resetHandlers();
    capture('get', `${API}/channels/presence-chat.acme.general/users`, () => HttpResponse.json({ people: [] }));
    await expect(createPusherProvider(options).presence('acme', 'chat:general')).rejects.toMatchObject({ code: 'provider_unavailable' });
  });
});

describe('hosted Pusher provider: webhooks', () => {
  const provider = createPusherProvider(options);
  // Fresh: webhooks older than the window (5 min) are refused.
  const body = JSON.stringify({
    time_ms: Date.now(),
    events: [
      { name: 'channel_occupied', channel: 'private-orders.acme.1' },
      { name: 'member_added', channel: 'presence-chat.acme.general', user_id: 'ana' },
      { name: 'member_removed', channel: 'presence-chat.acme.general', user_id: 'bob' },
      { name: 'client_event', channel: 'presence-chat.acme.general', event: 'client-typing', data: '{"on":true}', socket_id: '1.2', user_id: 'ana' },
      { name: 'channel_vacated', channel: 'private-not-ours' },
      { name: 'cache_miss', channel: 'private-orders.acme.1' },
    ],
  });
  const headers = (signature: string, key = 'app-key') => ({ 'X-Pusher-Key': key, 'X-Pusher-Signature': signature, 'Content-Type': 'application/json' });

  it('verifies the signature (as the official SDK does) and normalizes events', () => {
    const signature = signWebhook('app-secret', body);
    expect(official.webhook({ headers: { 'x-pusher-key': 'app-key', 'x-pusher-signature': signature, 'content-type': 'application/json' }, rawBody: body }).isValid()).toBe(true);
    expect(provider.parseWebhook({ headers: headers(signature), rawBody: Buffer.from(body) })).toEqual([
      { kind: 'channel_occupied', tenant: 'acme', channel: 'orders:1' },
      { kind: 'member_added', tenant: 'acme', channel: 'chat:general', userId: 'ana' },
      { kind: 'member_removed', tenant: 'acme', channel: 'chat:general', userId: 'bob' },
      { kind: 'client_event', tenant: 'acme', channel: 'chat:general', event: 'typing', data: { on: true }, userId: 'ana' },
    ]);
  });

  it('throws forbidden for a wrong signature, key or a tampered body', () => {
    const signature = signWebhook('app-secret', body);
    const forbidden = expect.objectContaining({ code: 'forbidden' });
    expect(() => provider.parseWebhook({ headers: headers('0'.repeat(64)), rawBody: Buffer.from(body) })).toThrow(forbidden);
    expect(() => provider.parseWebhook({ headers: headers(signature, 'other-key'), rawBody: Buffer.from(body) })).toThrow(forbidden);
    expect(() => provider.parseWebhook({ headers: headers(signature), rawBody: Buffer.from(`${body} `) })).toThrow(forbidden);
    expect(() => provider.parseWebhook({ headers: {}, rawBody: Buffer.from(body) })).toThrow(forbidden);
  });

  it('rejects genuine but malformed bodies as invalid requests', () => {
    const bad = '{"events":"nope"}';
    expect(() => provider.parseWebhook({ headers: headers(signWebhook('app-secret', bad)), rawBody: Buffer.from(bad) })).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    );
  });
});
