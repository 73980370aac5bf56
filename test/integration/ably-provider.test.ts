/**
 * The Ably provider against the Ably protocol emulator (test/fixtures/ably-emulator), with
 * the official `ably` SDK on the client side: the exact REST calls the BFF makes (path,
 * auth, body, ids), idempotent resends, refusals, presence/occupancy/stats, the
 * `/v1/auth/ably` route, and capability enforcement — a token for one tenant cannot reach
 * another tenant's channels, and a tampered TokenRequest is refused.
 */
import { createHmac } from 'node:crypto';
import * as Ably from 'ably';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/core/envelope.js';
import { createServerFromEnv } from '../../src/server/from-env.js';
import { listen } from '../../src/server/listen.js';
import { ProviderPublishError } from '../../providers/publish-error.js';
import { ablyProviderOptionsFromEnv, createAblyProvider, type AblyProvider } from '../../providers/ably/index.js';
import type { ClientGrant } from '../../providers/types.js';
import { startAblyEmulator, type AblyEmulator } from '../fixtures/ably-emulator/index.js';
import { emulatorClient } from '../fixtures/ably-emulator/sdk-client.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { waitFor } from '../conformance/suite.js';

const LIMITED_KEY = 'emuApp.limited:limited-secret-0123456789';

let emulator: AblyEmulator;
let provider: AblyProvider;
let bff: TestBff;
const clients: Ably.Realtime[] = [];

function envelope(id: string, channel: string, data: Envelope['data'] = { n: 1 }): Envelope {
  return { id, channel, event: 'status', data, seq: 1, ts: 1_700_000_000_000 };
}

function grant(tenant: string, user: string, caps: ClientGrant['caps'] = { '*': ['subscribe', 'publish', 'presence'] }): ClientGrant {
  return { tenant, user, info: { name: user.toUpperCase() }, caps, expiresAt: Date.now() + 60_000 };
}

/** The official SDK as an app's browser would run it, with TokenRequests from `source`. */
function realtime(source: () => Promise<unknown>): Ably.Realtime {
  const client = emulatorClient(emulator, async () => (await source()) as Ably.TokenRequest);
  clients.push(client);
  return client;
}

const forGrant = (g: ClientGrant) => realtime(() => provider.ablyTokenRequest(g));

beforeAll(async () => {
  emulator = await startAblyEmulator({
    keys: [{ apiKey: 'emuApp.emuKey:emulator-secret-0123456789' }, { apiKey: LIMITED_KEY, capability: { 'orders:*': ['publish'] } }],
  });
  provider = createAblyProvider({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false });
  bff = await startBff({ provider });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  emulator.faults.splice(0);
});
afterAll(async () => {
  await bff?.close();
  await emulator?.close();
});

describe('Ably provider: publish through REST batch', () => {
  it('sends one POST /messages with the key, one spec per envelope and the envelope id; subscribers get the envelope', async () => {
    const subscriber = forGrant(grant('acme', 'ana'));
    const channel = subscriber.channels.get('orders:acme:rest');
    const received: Ably.Message[] = [];
    await channel.subscribe((message) => received.push(message));
    const before = emulator.requests.length;
    await provider.publish(
      [
        { tenant: 'acme', envelope: envelope('e-rest-1', 'orders:rest', { status: 'shipped' }) },
        { tenant: 'globex', envelope: envelope('e-rest-2', 'orders:rest') },
      ],
      AbortSignal.timeout(5000),
    );
    const calls = emulator.requests.slice(before);
    expect(calls.map((call) => `${call.method} ${call.path} ${call.auth}`)).toEqual(['POST /messages basic:emuApp.emuKey']);
    expect(calls[0]?.headers['x-ably-version']).toBeDefined();
    expect(calls[0]?.body).toEqual([
      { channels: ['orders:acme:rest'], messages: [{ id: 'e-rest-1', name: 'status', encoding: 'json', data: JSON.stringify(envelope('e-rest-1', 'orders:rest', { status: 'shipped' })) }] },
      { channels: ['orders:globex:rest'], messages: [expect.objectContaining({ id: 'e-rest-2' })] },
    ]);
    await waitFor(() => received.length === 1, 'the envelope');
    expect(received[0]).toMatchObject({ id: 'e-rest-1', name: 'status', data: { id: 'e-rest-1', channel: 'orders:rest', data: { status: 'shipped' } } });
    expect(received[0]?.clientId).toBeUndefined();
  });

  it('resends after a lost answer or a timeout without a duplicate reaching subscribers', async () => {
    const subscriber = forGrant(grant('acme', 'ana'));
    const received: unknown[] = [];
    await subscriber.channels.get('orders:acme:idem').subscribe((message) => received.push(message.id));
    const message = [{ tenant: 'acme', envelope: envelope('e-idem-1', 'orders:idem') }];

    emulator.faults.push({ path: '/messages', status: 500, code: 50000, when: 'after' });
    const lost = await provider.publish(message, AbortSignal.timeout(5000)).catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(Error);
    expect(lost instanceof ProviderPublishError && lost.permanent).toBe(false);
    await provider.publish(message, AbortSignal.timeout(5000));

    emulator.faults.push({ path: '/messages', status: 201, code: 0, when: 'after', delayMs: 400 });
    const second = [{ tenant: 'acme', envelope: envelope('e-idem-2', 'orders:idem') }];
    await expect(provider.publish(second, AbortSignal.timeout(100))).rejects.toThrow();
    await provider.publish(second, AbortSignal.timeout(5000));

    await waitFor(() => received.length === 2, 'both events');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).toEqual(['e-idem-1', 'e-idem-2']);
    const ids = emulator.requests
      .filter((call) => call.path === '/messages')
      .flatMap((call) => (call.body as Array<{ messages: Array<{ id: string }> }>).flatMap((spec) => spec.messages.map((message) => message.id)))
      .filter((id) => id.startsWith('e-idem-'));
    expect(ids).toEqual(['e-idem-1', 'e-idem-1', 'e-idem-2', 'e-idem-2']);
  });

  it('reports what Ably took and a permanent refusal when the key may not publish on a channel', async () => {
    const limited = createAblyProvider({ apiKey: LIMITED_KEY, endpoint: emulator.endpoint, port: emulator.port, tls: false });
    const error = await limited
      .publish(
        ['orders:p1', 'dashboard:p2', 'orders:p3'].map((channel, index) => ({ tenant: 'acme', envelope: envelope(`e-perm-${index}`, channel) })),
        AbortSignal.timeout(5000),
      )
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ProviderPublishError);
    expect(error).toMatchObject({ taken: 1, permanent: true });
    expect((error as Error).message).toContain('40160');
  });

  it('retries a 429 or 5xx answer as a whole, and a revoked key too', async () => {
    emulator.faults.push({ path: '/messages', status: 429, code: 42910 });
    const busy = await provider.publish([{ tenant: 'acme', envelope: envelope('e-429', 'orders:x') }], AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(busy instanceof ProviderPublishError && busy.permanent).toBe(false);
    const revoked = createAblyProvider({ apiKey: 'emuApp.emuKey:wrong-secret', endpoint: emulator.endpoint, port: emulator.port, tls: false });
    const denied = await revoked.publish([{ tenant: 'acme', envelope: envelope('e-401', 'orders:x') }], AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(Error);
    expect(denied instanceof ProviderPublishError && denied.permanent).toBe(false);
  });
});

describe('Ably provider: presence, occupancy and the admin view from REST', () => {
  it('lists one member per user with the info they entered, counts subscribers, groups stats by tenant', async () => {
    const ana = forGrant(grant('acme', 'ana'));
    const anaAgain = forGrant(grant('acme', 'ana'));
    const bo = forGrant(grant('acme', 'bo'));
    const rival = forGrant(grant('globex', 'ana'));
    for (const [client, info] of [[ana, { name: 'Ana' }], [anaAgain, { name: 'Ana' }], [bo, { name: 'Bo' }]] as const) {
      await client.channels.get('chat:acme:room').presence.enter(info);
    }
    await rival.channels.get('chat:globex:room').presence.enter({ name: 'Rival' });
    expect(await provider.presence('acme', 'chat:room')).toEqual([
      { id: 'ana', info: { name: 'Ana' } },
      { id: 'bo', info: { name: 'Bo' } },
    ]);
    expect(await provider.occupancy('acme', 'chat:room')).toEqual({ subscribers: 3, presenceMembers: 2 });
    expect(await provider.occupancy('acme', 'orders:nobody')).toEqual({ subscribers: 0 });
    // The admin view lists active channels by id; its counts come from webhooks (ably-lifecycle.test.ts).
    const stats = await provider.stats();
    expect(stats.find((row) => row.tenant === 'acme')?.channels).toContainEqual({ channel: 'chat:room' });
    expect(stats.find((row) => row.tenant === 'globex')?.channels).toContainEqual({ channel: 'chat:room' });
    // Names only: enumerating with details keeps Ably's channels from closing.
    expect(emulator.requests.filter((call) => call.path === '/channels').map((call) => new URLSearchParams(call.url.split('?')[1]).get('by'))).toEqual(['id']);

    const key = API_KEYS.acme;
    const members = await fetch(`${bff.url}/v1/channels/chat:room/presence`, { headers: { authorization: `Bearer ${key}` } });
    expect(await members.json()).toEqual({ channel: 'chat:room', members: [{ id: 'ana', info: { name: 'Ana' } }, { id: 'bo', info: { name: 'Bo' } }] });
    const occupancy = await fetch(`${bff.url}/v1/channels/chat:room/occupancy`, { headers: { authorization: `Bearer ${key}` } });
    expect(await occupancy.json()).toEqual({ channel: 'chat:room', subscribers: 3, presenceMembers: 2 });
  });
});

describe('Ably capabilities, enforced by the emulator as Ably does', () => {
  async function bffTokenRequest(tenant: string, user: string): Promise<unknown> {
    const { token } = await bff.capabilityToken(tenant, user);
    const response = await bff.post('/v1/auth/ably', {}, token);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return response.json();
  }

  it('serves TokenRequests only for a valid capability token', async () => {
    expect((await bff.post('/v1/auth/ably', {})).status).toBe(401);
    expect((await bff.post('/v1/auth/ably', {}, 'not-a-token')).status).toBe(401);
    const request = (await bffTokenRequest('acme', 'ana')) as { clientId: string; capability: string };
    expect(request.clientId).toBe('acme:ana');
    for (const resource of Object.keys(JSON.parse(request.capability) as object)) expect(resource.split(':')[1]).toBe('acme');
  });

  it('lets a tenant\'s client attach to its own channels only, and publish or enter presence only where the namespace allows', async () => {
    const client = realtime(() => bffTokenRequest('acme', 'ana'));
    await client.channels.get('chat:acme:lobby').attach();
    await expect(client.channels.get('chat:globex:lobby').attach()).rejects.toMatchObject({ code: 40160 });
    await expect(client.channels.get('orders:globex:1001').attach()).rejects.toMatchObject({ code: 40160 });
    await expect(client.channels.get('notifications:acme:bo').attach()).rejects.toMatchObject({ code: 40160 });
    await client.channels.get('chat:acme:lobby').publish('client-typing', { on: true });
    const orders = client.channels.get('orders:acme:1001');
    await orders.attach();
    await expect(orders.publish('status', { forged: true })).rejects.toMatchObject({ code: 40160 });
    await expect(orders.presence.enter({})).rejects.toMatchObject({ code: 40160 });
  });

  it('refuses a TokenRequest whose capability was changed after signing', async () => {
    const signed = (await bffTokenRequest('acme', 'ana')) as Record<string, unknown> & { keyName: string; capability: string };
    const tampered = { ...signed, capability: signed.capability.replaceAll(':acme:', ':globex:') };
    const response = await fetch(`http://${emulator.endpoint}:${emulator.port}/keys/${signed.keyName}/requestToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tampered),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 40101 } });
    const replay = await fetch(`http://${emulator.endpoint}:${emulator.port}/keys/${signed.keyName}/requestToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signed),
    });
    expect(replay.status).toBe(200);
  });
});

describe('Ably webhooks', () => {
  const secret = 'emulator-secret-0123456789';
  const body = JSON.stringify({
    items: [
      { webhookId: 'w', serial: 'w:0', source: 'channel.lifecycle', name: 'channel.opened', timestamp: 1, data: { channelId: 'chat:acme:lobby', status: { isActive: true, occupancy: { metrics: { connections: 0, subscribers: 0 } } } } },
      { webhookId: 'w', serial: 'w:1', source: 'channel.occupancy', name: 'channel.occupancy', timestamp: 2, data: { channelId: 'chat:acme:lobby', status: { isActive: true, occupancy: { metrics: { connections: 1, subscribers: 1 } } } } },
      { webhookId: 'w', serial: 'w:2', source: 'channel.presence', name: 'presence.message', timestamp: 3, data: { channelId: 'chat:acme:lobby', presence: [{ clientId: 'acme:ana', connectionId: 'c1', action: 2 }, { clientId: 'acme:ana', connectionId: 'c2', action: 2 }, { clientId: 'acme:bo', connectionId: 'c3', action: 2 }, { clientId: 'acme:bo', connectionId: 'c3', action: 3 }, { clientId: 'acme:ana', connectionId: 'c1', action: 3 }] } },
      { webhookId: 'w', serial: 'w:3', source: 'channel.message', name: 'channel.message', timestamp: 4, data: { channelId: 'chat:acme:lobby', messages: [{ name: 'client-typing', clientId: 'acme:ana', data: '{"on":true}', encoding: 'json' }, { name: 'status', data: '{}' }] } },
      { webhookId: 'w', serial: 'w:4', source: 'channel.lifecycle', name: 'channel.closed', timestamp: 5, data: { channelId: 'someone-else' } },
    ],
  });
  const sign = (raw: string, key = secret) => createHmac('sha256', key).update(raw).digest('base64');

  it('verifies the signature over the raw body and normalizes events like Pusher\'s', async () => {
    const headers = { 'content-type': 'application/json', 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(body) };
    const expected = [
      { kind: 'channel_occupied', tenant: 'acme', channel: 'chat:lobby' },
      // Ana is one member on two connections: one join, and still present when one of them leaves.
      { kind: 'member_added', tenant: 'acme', channel: 'chat:lobby', userId: 'ana' },
      { kind: 'member_added', tenant: 'acme', channel: 'chat:lobby', userId: 'bo' },
      { kind: 'member_removed', tenant: 'acme', channel: 'chat:lobby', userId: 'bo' },
      { kind: 'client_event', tenant: 'acme', channel: 'chat:lobby', event: 'typing', data: { on: true }, userId: 'ana' },
    ];
    expect(provider.parseWebhook({ headers, rawBody: Buffer.from(body) })).toEqual(expected);
    // Ably retries a batch the BFF failed to record: the same items give the same events again.
    expect(provider.parseWebhook({ headers, rawBody: Buffer.from(body) })).toEqual(expected);
    const response = await fetch(`${bff.url}/v1/webhooks/ably`, { method: 'POST', headers, body });
    expect(await response.json()).toEqual({ received: 5 });
  });

  it('survives hostile data from members: deep nesting, __proto__ keys, malformed bodies', async () => {
    const deep = `${'['.repeat(30_000)}1${']'.repeat(30_000)}`;
    const hostile = JSON.stringify({
      items: [
        { source: 'channel.message', data: { channelId: 'chat:acme:lobby', messages: [{ name: 'client-typing', clientId: 'acme:eve', data: deep, encoding: 'json' }] } },
        { source: 'channel.message', data: { channelId: 'chat:acme:lobby', messages: [{ name: 'client-typing', clientId: 'acme:eve', data: '{"__proto__":{"admin":true},"on":1}', encoding: 'json' }] } },
      ],
    });
    const events = provider.parseWebhook({ headers: { 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(hostile) }, rawBody: Buffer.from(hostile) });
    const [tooDeep, withProtoKey] = events.map((event) => (event.kind === 'client_event' ? event.data : undefined));
    expect(tooDeep).toBeNull();
    // `__proto__` stays an own key of the data, as JSON.parse made it: data, never a prototype.
    expect(JSON.stringify(withProtoKey)).toBe('{"__proto__":{"admin":true},"on":1}');
    expect(Object.getPrototypeOf(withProtoKey)).toBe(Object.prototype);
    expect(({} as { admin?: boolean }).admin).toBeUndefined();
    for (const raw of ['not json', '{"items":"nope"}', JSON.stringify({ items: Array.from({ length: 1001 }, () => ({})) })]) {
      expect(() => provider.parseWebhook({ headers: { 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(raw) }, rawBody: Buffer.from(raw) })).toThrow(
        expect.objectContaining({ code: 'invalid_request' }),
      );
    }

    const eve = forGrant(grant('acme', 'eve'));
    // 3,000 levels: within what the SDK can encode, past what a recursive schema survives.
    await eve.channels.get('chat:acme:hostile').presence.enter(JSON.parse(`{"nested":${'['.repeat(3000)}1${']'.repeat(3000)}}`));
    expect(await provider.presence('acme', 'chat:hostile')).toEqual([{ id: 'eve', info: {} }]);
  });

  it('rejects a wrong signature, another key or a modified body', async () => {
    const cases = [
      { 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(body, 'wrong') },
      { 'x-ably-key': 'emuApp.other', 'x-ably-signature': sign(body) },
      { 'x-ably-key': 'emuApp.emuKey' },
    ];
    for (const headers of cases) {
      expect(() => provider.parseWebhook({ headers, rawBody: Buffer.from(body) })).toThrow(expect.objectContaining({ code: 'forbidden' }));
    }
    const modified = body.replace('ana', 'eve');
    expect(() => provider.parseWebhook({ headers: { 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': sign(body) }, rawBody: Buffer.from(modified) })).toThrow(
      expect.objectContaining({ code: 'forbidden' }),
    );
    const response = await fetch(`${bff.url}/v1/webhooks/ably`, { method: 'POST', headers: { 'x-ably-key': 'emuApp.emuKey', 'x-ably-signature': 'AAAA' }, body });
    expect(response.status).toBe(403);
  });
});

describe('Ably configuration from the environment', () => {
  it('names the variable and never echoes the key', () => {
    expect(() => ablyProviderOptionsFromEnv({})).toThrow('Invalid ABLY_API_KEY: required when SWITCHBOARD_PROVIDER=ably');
    let message = '';
    try {
      ablyProviderOptionsFromEnv({ ABLY_API_KEY: 'not a key with secret-value' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('ABLY_API_KEY');
    expect(message).not.toContain('secret-value');
    expect(() => ablyProviderOptionsFromEnv({ ABLY_API_KEY: 'a.b:c', ABLY_PORT: '99999' })).toThrow('ABLY_PORT');
    expect(ablyProviderOptionsFromEnv({ ABLY_API_KEY: 'a.b:c', ABLY_ENDPOINT: '127.0.0.1', ABLY_PORT: '8081', ABLY_TLS: 'false' })).toEqual({
      apiKey: 'a.b:c',
      endpoint: '127.0.0.1',
      port: 8081,
      tls: false,
    });
  });

  it('switches a server to Ably with SWITCHBOARD_PROVIDER=ably and ABLY_API_KEY alone', async () => {
    const { app } = await createServerFromEnv({
      NODE_ENV: 'test',
      SWITCHBOARD_PROVIDER: 'ably',
      SWITCHBOARD_STORE: 'memory',
      ABLY_API_KEY: emulator.apiKey,
      ABLY_ENDPOINT: emulator.endpoint,
      ABLY_PORT: String(emulator.port),
      ABLY_TLS: 'false',
      LOG_LEVEL: 'silent',
    });
    const running = await listen(app, { host: '127.0.0.1' });
    try {
      const session = await fetch(`${running.url}/v1/dev/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"tenant":"acme","user":"ana","name":"Ana"}' });
      const { token } = (await session.json()) as { token: string };
      const answer = (await (await fetch(`${running.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).json()) as { provider: Record<string, unknown> };
      expect(answer.provider).toEqual({
        name: 'ably',
        authEndpoint: '/v1/auth/ably',
        endpoint: emulator.endpoint,
        port: emulator.port,
        tls: false,
        clientId: 'acme:ana',
        presenceData: { name: 'Ana' },
        clientEvents: expect.objectContaining({ chat: ['typing'], orders: [] }),
      });
      expect(JSON.stringify(answer)).not.toContain('emulator-secret');
    } finally {
      await running.close();
      await app.shutdown();
    }
  });
});
