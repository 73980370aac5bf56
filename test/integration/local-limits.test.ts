/**
 * The local provider's protocol edges and limits, with raw `ws` clients where pusher-js
 * would hide what is asserted (error codes, close codes, exact frames).
 */
import PusherServer from 'pusher';
import { describe, expect, it } from 'vitest';
import { grant, startLocal } from '../helpers/local-harness.js';
import { WebSocket } from 'ws';
import { KEY, RawClient, SECRET } from '../helpers/raw-pusher-client.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { LocalProvider } from '../../providers/local/index.js';

function authorize(provider: LocalProvider, client: RawClient, tenant: string, channel: string, presence: boolean, options: { user?: string; clientEvents?: string[]; expiresAt?: number } = {}) {
  return provider.authorizeChannel({
    grant: grant(tenant, options.user ?? 'u1', {}, options.expiresAt),
    socketId: client.socketId,
    channel,
    providerChannel: toPusherChannel(tenant, channel, presence),
    presence,
    clientEvents: options.clientEvents ?? [],
  });
}

async function subscribed(provider: LocalProvider, client: RawClient, tenant: string, channel: string, presence: boolean, options: Parameters<typeof authorize>[5] = {}): Promise<string> {
  const name = toPusherChannel(tenant, channel, presence);
  const reply = await client.subscribe(name, authorize(provider, client, tenant, channel, presence, options));
  expect(reply.event).toBe('pusher_internal:subscription_succeeded');
  return name;
}

describe('local provider: connection handshake', () => {
  it('sends socket_id and activity_timeout, and answers pusher:ping', async () => {
    const { port } = await startLocal({ activityTimeoutSeconds: 45 });
    const client = await RawClient.open(port);
    const established = await client.next('pusher:connection_established');
    expect(established.data).toEqual({ socket_id: expect.stringMatching(/^\d+\.\d+$/), activity_timeout: 45 });
    client.send({ event: 'pusher:ping', data: {} });
    expect(await client.next('pusher:pong')).toEqual({ event: 'pusher:pong', data: {} });
  });

  it('refuses unknown app keys with 4001', async () => {
    const { port } = await startLocal();
    const client = await RawClient.open(port, '/app/not-our-key?protocol=7');
    expect((await client.error(4001)).data).toMatchObject({ code: 4001 });
    expect((await client.closed).code).toBe(4001);
  });

  it('leaves other upgrade paths alone, and destroys them when nobody else takes them', async () => {
    const { port, server } = await startLocal();
    const orphan = new WebSocket(`ws://127.0.0.1:${port}/somewhere-else`);
    const failure = await new Promise<Error>((resolve) => orphan.on('error', resolve));
    expect(failure.message).toMatch(/socket hang up|ECONNRESET/);

    let taken = '';
    server.on('upgrade', (request, socket) => {
      if (request.url === '/other') {
        taken = request.url;
        socket.end('HTTP/1.1 418 I am a teapot\r\n\r\n');
      }
    });
    const other = new WebSocket(`ws://127.0.0.1:${port}/other`);
    const response = await new Promise<number>((resolve) => other.on('unexpected-response', (_request, res) => resolve(res.statusCode ?? 0)));
    expect(response).toBe(418);
    expect(taken).toBe('/other');
  });

  it('refuses malformed key encodings like unknown keys', async () => {
    const { port } = await startLocal();
    const client = await RawClient.open(port, '/app/%E0%A4%A?protocol=7');
    expect((await client.closed).code).toBe(4001);
  });

  it('closes connections over the limit with 4100', async () => {
    const { port, provider } = await startLocal({ maxConnections: 2 });
    // Subscribed: connections that have not subscribed or signed in can never fill the cap (see local-admission.test.ts).
    await subscribed(provider, await RawClient.connected(port), 'acme', 'orders:1', false);
    await subscribed(provider, await RawClient.connected(port), 'acme', 'orders:2', false);
    const third = await RawClient.open(port);
    await third.error(4100);
    expect((await third.closed).code).toBe(4100);
  });

  it('pings silent clients and closes those that do not answer with 4201', async () => {
    const { port } = await startLocal({ activityTimeoutSeconds: 0.1, pongTimeoutSeconds: 0.1 });
    const silent = await RawClient.connected(port);
    const polite = await RawClient.connected(port);
    polite.ws.on('message', (raw: Buffer) => {
      if (raw.toString().includes('"pusher:ping"')) polite.send({ event: 'pusher:pong', data: {} });
    });
    await silent.next('pusher:ping');
    expect((await silent.closed).code).toBe(4201);
    // The polite client answered its pings and is still connected.
    await polite.next('pusher:ping');
    await polite.next('pusher:ping');
    expect(polite.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('local provider: subscriptions', () => {
  it('refuses public channels, forged and other-tenant signatures, and expired authorizations', async () => {
    const { port, provider } = await startLocal();
    const client = await RawClient.connected(port);
    const stranger = await RawClient.connected(port);

    const publicReply = await client.subscribe('orders-public', { auth: '' });
    expect(publicReply).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'InvalidChannel', status: 403 } });

    const name = toPusherChannel('acme', 'orders:1', false);
    const forged = await client.subscribe(name, { auth: `${KEY}:${'0'.repeat(64)}` });
    expect(forged).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'AuthError', status: 401 } });

    // A valid signature for tenant globex's channel does not open acme's.
    const globexAuth = authorize(provider, client, 'globex', 'orders:1', false);
    expect(await client.subscribe(name, globexAuth)).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'AuthError' } });

    // A signature for another socket is useless here.
    const stolen = authorize(provider, stranger, 'acme', 'orders:1', false);
    expect(await client.subscribe(name, stolen)).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'AuthError' } });

    // Tampering with the signed channel_data (e.g. granting oneself client events) breaks the signature.
    const genuine = authorize(provider, client, 'acme', 'orders:1', false);
    const widened = genuine.channel_data?.replace('"ce":[]', '"ce":["typing"]');
    expect(widened).not.toBe(genuine.channel_data);
    expect(await client.subscribe(name, { auth: genuine.auth, channel_data: widened })).toMatchObject({ data: { type: 'AuthError' } });

    const expired = authorize(provider, client, 'acme', 'orders:1', false, { expiresAt: Date.now() - 1 });
    expect(await client.subscribe(name, expired)).toMatchObject({ data: { type: 'AuthError', error: expect.stringContaining('expired') } });

    expect(await client.subscribe(name, genuine)).toMatchObject({ event: 'pusher_internal:subscription_succeeded' });
  });

  it('accepts plain Pusher signatures from the official server SDK (no client events then)', async () => {
    const { port } = await startLocal();
    const client = await RawClient.connected(port);
    const other = await RawClient.connected(port);
    const sdk = new PusherServer({ appId: 'switchboard', key: KEY, secret: SECRET, host: '127.0.0.1', useTLS: false });
    const name = 'private-legacy';
    expect(await client.subscribe(name, sdk.authorizeChannel(client.socketId, name))).toMatchObject({ event: 'pusher_internal:subscription_succeeded' });
    expect(await other.subscribe(name, sdk.authorizeChannel(other.socketId, name))).toMatchObject({ event: 'pusher_internal:subscription_succeeded' });
    client.send({ event: 'client-anything', channel: name, data: {} });
    await client.error(4307);

    const presence = 'presence-legacy';
    const auth = sdk.authorizeChannel(client.socketId, presence, { user_id: '42', user_info: { name: 'Zed' } });
    const reply = await client.subscribe(presence, auth);
    expect(reply.data).toEqual({ presence: { ids: ['42'], hash: { '42': { name: 'Zed' } }, count: 1 } });
  });

  it('limits channel name length, channels per connection and presence members', async () => {
    const { port, provider } = await startLocal({ maxChannelsPerConnection: 2, presenceMaxMembers: 2 });
    const client = await RawClient.connected(port);

    const long = `private-${'a'.repeat(157)}`;
    expect(long.length).toBe(165);
    const tooLong = await client.subscribe(long, { auth: 'x' });
    expect(tooLong).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'InvalidChannel', status: 400 } });
    await client.error(4305);

    await subscribed(provider, client, 'acme', 'orders:1', false);
    await subscribed(provider, client, 'acme', 'orders:2', false);
    const third = await client.subscribe(toPusherChannel('acme', 'orders:3', false), authorize(provider, client, 'acme', 'orders:3', false));
    expect(third).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'LimitReached' } });
    await client.error(4304);
    // Unsubscribing frees a slot.
    client.send({ event: 'pusher:unsubscribe', data: { channel: toPusherChannel('acme', 'orders:1', false) } });
    await subscribed(provider, client, 'acme', 'orders:3', false);

    const members = await Promise.all([RawClient.connected(port), RawClient.connected(port), RawClient.connected(port)]);
    const [first, second, third3] = members as [RawClient, RawClient, RawClient];
    await subscribed(provider, first, 'acme', 'chat:full', true, { user: 'a' });
    await subscribed(provider, second, 'acme', 'chat:full', true, { user: 'b' });
    const full = await third3.subscribe(toPusherChannel('acme', 'chat:full', true), authorize(provider, third3, 'acme', 'chat:full', true, { user: 'c' }));
    expect(full).toMatchObject({ event: 'pusher:subscription_error', data: { type: 'LimitReached', status: 4100 } });
    // Another socket of a user already present still fits.
    await subscribed(provider, third3, 'acme', 'chat:full', true, { user: 'a' });
    expect(await provider.occupancy('acme', 'chat:full')).toEqual({ subscribers: 3, presenceMembers: 2 });
  });

  it('sends member_added and member_removed to the others, once per user', async () => {
    const { port, provider } = await startLocal();
    const ana = await RawClient.connected(port);
    const bob = await RawClient.connected(port);
    const name = await subscribed(provider, ana, 'acme', 'chat:x', true, { user: 'ana' });
    await subscribed(provider, bob, 'acme', 'chat:x', true, { user: 'bob' });
    expect((await ana.next('pusher_internal:member_added')).data).toEqual({ user_id: 'bob', user_info: {} });
    bob.ws.close();
    expect(await ana.next('pusher_internal:member_removed')).toEqual({ event: 'pusher_internal:member_removed', channel: name, data: { user_id: 'bob' } });
  });
});

describe('local provider: client events and frames', () => {
  it('rate-limits client events per connection with 4301', async () => {
    const { port, provider } = await startLocal({ clientEventRate: 3 });
    const sender = await RawClient.connected(port);
    const receiver = await RawClient.connected(port);
    const name = await subscribed(provider, sender, 'acme', 'chat:r', false, { clientEvents: ['typing'] });
    await subscribed(provider, receiver, 'acme', 'chat:r', false);
    for (let i = 0; i < 5; i++) sender.send({ event: 'client-typing', channel: name, data: { i } });
    await sender.error(4301);
    sender.send({ event: 'pusher:ping', data: {} });
    await sender.next('pusher:pong');
    const received = receiver.frames.filter((frame) => frame.event === 'client-typing');
    // The burst allowance is the rate; with time passing between sends a fourth may slip through.
    expect(received.length).toBeGreaterThanOrEqual(3);
    expect(received.length).toBeLessThan(5);
    expect(received[0]).toEqual({ event: 'client-typing', channel: name, data: { i: 0 } });
    expect(sender.frames.some((frame) => frame.event === 'client-typing')).toBe(false);
  });

  it('refuses client events on channels the client is not subscribed to', async () => {
    const { port } = await startLocal();
    const client = await RawClient.connected(port);
    client.send({ event: 'client-typing', channel: toPusherChannel('acme', 'chat:r', true), data: {} });
    await client.error(4307);
  });

  it('answers oversized frames with 4303 and keeps the connection', async () => {
    const { port } = await startLocal({ maxFrameBytes: 1024 });
    const client = await RawClient.connected(port);
    client.send({ event: 'client-big', channel: 'private-x', data: 'x'.repeat(2000) });
    await client.error(4303);
    client.send({ event: 'not json' });
    client.ws.send('{');
    await client.error(4300);
    client.send({ event: 'pusher:ping', data: {} });
    await client.next('pusher:pong');
    client.ws.send('x'.repeat(8000));
    expect((await client.closed).code).toBe(1009);
  });

  it('closes slow consumers with 4200 instead of buffering without bound', async () => {
    const { port, provider } = await startLocal({ maxBufferedBytes: 256 * 1024 });
    const slow = await RawClient.connected(port);
    await subscribed(provider, slow, 'acme', 'dashboard:big', false);
    slow.ws.pause();
    const data = 'y'.repeat(32 * 1024);
    const signal = new AbortController().signal;
    let rounds = 0;
    while ((await provider.occupancy('acme', 'dashboard:big')).subscribers > 0) {
      expect(rounds++).toBeLessThan(5_000);
      const messages = Array.from({ length: 4 }, (_, i) => ({
        tenant: 'acme',
        envelope: { id: `e${rounds}-${i}`, channel: 'dashboard:big', event: 'tick', data, seq: rounds * 4 + i + 1, ts: 1 },
      }));
      await provider.publish(messages, signal);
      await new Promise((resolve) => setImmediate(resolve));
    }
    slow.ws.resume();
    expect(await slow.closed).toEqual({ code: 4200, reason: expect.stringContaining('Slow consumer') });
  });
});
