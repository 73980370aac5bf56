/**
 * Issue 13: the local server held to what Pusher clients expect, through the official
 * pusher-js client, the `pusher` server SDK and, where pusher-js hides the wire, a raw
 * protocol client. One BFF serves every case of a describe block.
 */
import Echo from 'laravel-echo';
import type { Channel, PresenceChannel } from 'pusher-js';
import PusherServer from 'pusher';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAppConfig } from '../../src/core/config.js';
import type { Envelope } from '../../src/core/envelope.js';
import { createLocalProvider } from '../../providers/local/index.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { bffClient, join, next, Pusher } from '../helpers/pusher-js.js';
import { KEY, RawClient, SECRET } from '../helpers/raw-pusher-client.js';

const config = buildAppConfig({
  namespaces: {
    orders: { history: { size: 10 } },
    chat: { presence: true, clientEvents: ['typing'] },
    room: { presence: true, presenceMaxMembers: 2, presenceMaxInfoBytes: 40 },
    ticker: { cache: true, history: { size: 5 } },
    board: { presence: true, cache: true },
  },
  roles: {
    member: {
      'orders:*': ['subscribe', 'history'],
      'chat:*': ['subscribe', 'publish', 'presence'],
      'room:*': ['subscribe', 'presence'],
      'ticker:*': ['subscribe'],
      'board:*': ['subscribe', 'presence'],
    },
  },
});

let bff: TestBff;
const clients: Pusher[] = [];

beforeAll(async () => {
  bff = await startBff({ provider: createLocalProvider({ clientEventRate: 2, maxFrameBytes: 2048 }), config, logReaders: { stream: { heartbeatMs: 100 } } });
});
afterAll(async () => {
  await bff.close();
});
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

function track(pusher: Pusher): Pusher {
  clients.push(pusher);
  return pusher;
}

async function client(tenant: string, user: string, name = user.toUpperCase()): Promise<Pusher> {
  const { token } = await bff.capabilityToken(tenant, user, { name });
  return track(bffClient(bff, token));
}

/** A pusher-js client whose channel authorization is whatever `authorize` returns (e.g. the `pusher` SDK's). */
function sdkAuthorized(authorize: (socketId: string, channel: string) => unknown): Pusher {
  return track(
    new Pusher(KEY, {
      cluster: 'local',
      wsHost: '127.0.0.1',
      wsPort: bff.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, callback) => callback(null, authorize(socketId, channelName) as { auth: string }),
      },
    }),
  );
}

const sdk = () => new PusherServer({ appId: 'switchboard', key: KEY, secret: SECRET, host: '127.0.0.1', port: String(bff.port), useTLS: false });

function failure(subscription: Channel): Promise<{ type?: string; status: number; error?: string }> {
  return new Promise((resolve) => subscription.bind('pusher:subscription_error', resolve));
}

function channelError(subscription: Channel): Promise<{ code: number; message: string }> {
  return new Promise((resolve) => subscription.bind('pusher:error', resolve));
}

describe('issue 13.1: channel_data null', () => {
  it('treats "channel_data": null like an absent one, from pusher-js and on the wire', async () => {
    const pusher = sdkAuthorized((socketId, channel) => ({ ...sdk().authorizeChannel(socketId, channel), channel_data: null }));
    const subscription = await join(pusher, 'private-orders.acme.null');
    const triggered = next(subscription, 'note');
    await sdk().trigger('private-orders.acme.null', 'note', { ok: true });
    expect(await triggered).toEqual({ ok: true });

    const raw = await RawClient.connected(bff.port);
    const signed = sdk().authorizeChannel(raw.socketId, 'private-x');
    expect(await raw.subscribe('private-x', { ...signed, channel_data: null })).toMatchObject({ event: 'pusher_internal:subscription_succeeded' });
  });

  it('ends every refused subscription in pusher:subscription_error on its channel', async () => {
    const raw = await RawClient.connected(bff.port);
    for (const data of [{ channel: 'private-a', auth: 42 }, { channel: 'private-b', channel_data: { user_id: 1 } }]) {
      raw.send({ event: 'pusher:subscribe', data });
      const refused = await raw.next('pusher:subscription_error', (frame) => frame.channel === data.channel);
      expect(refused.data).toMatchObject({ type: 'InvalidRequest', status: 400 });
    }
    // A wrong signature with null channel_data is refused on the channel, not the connection.
    const pusher = sdkAuthorized(() => ({ auth: `${KEY}:${'0'.repeat(64)}`, channel_data: null }));
    const connectionErrors: unknown[] = [];
    pusher.connection.bind('error', (error: unknown) => connectionErrors.push(error));
    expect(await failure(pusher.subscribe('private-orders.acme.forged'))).toMatchObject({ type: 'AuthError', status: 401 });
    expect(connectionErrors).toEqual([]);
  });
});

describe('issue 13.5: errors where Pusher clients look for them', () => {
  it('scopes client-event refusals (not granted, name too long, frame size, rate) to their channel', async () => {
    const ana = await client('acme', 'ana');
    const lobby = await join(ana, 'presence-chat.acme.errors');
    const errors: { code: number }[] = [];
    lobby.bind('pusher:error', (error: { code: number }) => errors.push(error));
    const refused = channelError(lobby);
    lobby.trigger('client-shout', {});
    expect(await refused).toMatchObject({ code: 4307, message: expect.stringContaining('client-shout') });

    const tooLarge = channelError(lobby);
    lobby.trigger('client-typing', { text: 'x'.repeat(3000) });
    expect(await tooLarge).toMatchObject({ code: 4303 });

    const tooLong = channelError(lobby);
    lobby.trigger(`client-${'x'.repeat(200)}`, {});
    expect(await tooLong).toMatchObject({ code: 4307, message: expect.stringContaining('over the limit of 200') });

    const limited = new Promise<{ code: number }>((resolve) => lobby.bind('pusher:error', (error: { code: number }) => error.code === 4301 && resolve(error)));
    for (let i = 0; i < 5; i++) lobby.trigger('client-typing', { i });
    expect(await limited).toMatchObject({ code: 4301 });
    expect(errors.map((error) => error.code)).toEqual([4307, 4303, 4307, ...errors.slice(3).map(() => 4301)]);
  });

  it('answers Pusher HTTP API errors as JSON {error} that the pusher SDK hands over', async () => {
    const error = await sdk()
      .trigger('private-orders.acme.1', 'pusher:reserved', {})
      .then(
        () => undefined,
        (caught: { status: number; body: string }) => caught,
      );
    expect(error?.status).toBe(400);
    expect(JSON.parse(error?.body ?? '')).toEqual({ error: expect.stringContaining('reserved') });

    const unsigned = await fetch(`${bff.url}/apps/switchboard/events`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await unsigned.json()).toEqual({ error: expect.any(String) });
    const missing = await fetch(`${bff.url}/apps/switchboard/nothing-here`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: 'Not found' }]);
  });
});

describe('issue 13.6: presence limits per namespace', () => {
  it('refuses the member over the namespace limit with 4100 (Pusher "Over capacity") in subscription_error', async () => {
    await join(await client('acme', 'a1', 'A'), 'presence-room.acme.full');
    await join(await client('acme', 'a2', 'B'), 'presence-room.acme.full');
    const third = (await client('acme', 'a3', 'C')).subscribe('presence-room.acme.full');
    expect(await failure(third)).toMatchObject({ type: 'LimitReached', status: 4100, error: expect.stringContaining('2 members') });
    // Namespaces without a setting get Pusher's 100.
    const lobby = (await join(await client('acme', 'a3', 'C'), 'presence-chat.acme.big')) as PresenceChannel;
    expect(lobby.members.count).toBe(1);
  });

  it('refuses member info over the namespace limit at the BFF, and over 1 KB on the server', async () => {
    const verbose = await client('acme', 'verbose', 'a name far longer than forty bytes of JSON');
    expect(await failure(verbose.subscribe('presence-room.acme.info'))).toMatchObject({ status: 413 });

    // Signed by the `pusher` SDK directly: the server's own default (Pusher: 1 KB) applies.
    const big = sdkAuthorized((socketId, channel) => sdk().authorizeChannel(socketId, channel, { user_id: 'big', user_info: { bio: 'x'.repeat(1100) } }));
    const subscription = big.subscribe('presence-anything');
    const scoped = channelError(subscription);
    expect(await failure(subscription)).toMatchObject({ type: 'LimitReached', status: 413 });
    expect(await scoped).toMatchObject({ code: 4308 });
    const small = sdkAuthorized((socketId, channel) => sdk().authorizeChannel(socketId, channel, { user_id: 'small', user_info: { bio: 'x'.repeat(900) } }));
    await join(small, 'presence-anything');
  });
});

describe('issue 13.7: Laravel event names at /v1/publish', () => {
  it('publishes App\\Events\\OrderShipped to pusher-js subscribers, and still refuses reserved prefixes', async () => {
    const orders = await join(await client('acme', 'ana'), 'private-orders.acme.77');
    const shipped = next<Envelope>(orders, 'App\\Events\\OrderShipped');
    const response = await bff.post('/v1/publish', { channel: 'orders:77', event: 'App\\Events\\OrderShipped', data: { order: 77 } }, API_KEYS.acme);
    expect(response.status).toBe(200);
    expect(await shipped).toMatchObject({ event: 'App\\Events\\OrderShipped', data: { order: 77 } });

    for (const event of ['pusher:fake', 'pusher_internal:member_added', 'client-typing', 'x'.repeat(201), 'line\nbreak']) {
      const refused = await bff.post('/v1/publish', { channel: 'orders:77', event, data: {} }, API_KEYS.acme);
      expect(refused.status).toBe(400);
    }
  });
});

/** A pusher-js client that signs in through the BFF's user authentication endpoint. */
async function signedIn(tenant: string, user: string): Promise<{ pusher: Pusher; token: string }> {
  const { token } = await bff.capabilityToken(tenant, user, { name: user.toUpperCase() });
  const pusher = track(
    new Pusher(KEY, {
      cluster: 'local',
      wsHost: '127.0.0.1',
      wsPort: bff.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { endpoint: `${bff.url}/v1/auth/pusher`, transport: 'ajax', headers: { Authorization: `Bearer ${token}` } },
      userAuthentication: { endpoint: `${bff.url}/v1/auth/pusher/user`, transport: 'ajax', headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  pusher.signin();
  await pusher.user.signinDonePromise;
  // The #server-to-user channel is subscribed right after sign-in succeeded.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => pusher.user.serverToUserChannel?.subscribed && (clearInterval(poll), resolve()), 5);
  });
  return { pusher, token };
}

function userEvent(pusher: Pusher, event: string): Promise<unknown> {
  return new Promise((resolve) => pusher.user.bind(event, resolve));
}

function closed(pusher: Pusher): Promise<{ code?: number }> {
  return new Promise((resolve) => pusher.connection.bind('error', (error: { data?: { code?: number } }) => error.data?.code === 4009 && resolve(error.data)));
}

describe('issue 13.2: user authentication', () => {
  it('signs pusher-js in as the tenant-scoped user; events reach it through the BFF and the pusher SDK', async () => {
    const { pusher } = await signedIn('acme', 'ana');
    // `sb`: the capability token's expiry and issuance stamp, so the sign-in cannot outlive it or a terminate.
    expect(pusher.user.user_data).toEqual({ id: 'acme:ana', user_info: { name: 'ANA' }, sb: { exp: expect.any(Number), iat: expect.any(Number) } });
    const other = await signedIn('globex', 'ana');

    const viaBff = userEvent(pusher, 'App\\Notifications\\Invoice');
    const response = await bff.post('/v1/users/ana/events', { event: 'App\\Notifications\\Invoice', data: { total: 12 } }, API_KEYS.acme);
    expect(response.status).toBe(200);
    expect(await viaBff).toEqual({ total: 12 });

    const viaSdk = userEvent(pusher, 'hello');
    await sdk().sendToUser('acme:ana', 'hello', { from: 'sdk' });
    expect(await viaSdk).toEqual({ from: 'sdk' });

    // globex's ana is another user: nothing of acme's reached her.
    const globexSaw: unknown[] = [];
    other.pusher.user.bind_global((event: string, data: unknown) => globexSaw.push({ event, data }));
    const last = userEvent(other.pusher, 'mine');
    await bff.post('/v1/users/ana/events', { event: 'mine', data: 1 }, API_KEYS.globex);
    await last;
    expect(globexSaw).toEqual([{ event: 'mine', data: 1 }]);
  });

  it('refuses forged sign-ins, another user id on a signed-in connection, and foreign #server-to-user channels', async () => {
    const raw = await RawClient.connected(bff.port);
    raw.send({ event: 'pusher:signin', data: { auth: `${KEY}:${'0'.repeat(64)}`, user_data: '{"id":"acme:ana"}' } });
    expect((await raw.error(4009)).data).toMatchObject({ message: expect.stringContaining('signature') });
    raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-acme:ana', auth: '' } });
    expect((await raw.next('pusher:subscription_error')).data).toMatchObject({ type: 'AuthError', status: 403 });

    const mallory = sdk().authenticateUser(raw.socketId, { id: 'mallory' });
    raw.send({ event: 'pusher:signin', data: mallory });
    expect((await raw.next('pusher:signin_success')).data).toEqual({ user_data: '{"id":"mallory"}' });
    raw.send({ event: 'pusher:signin', data: sdk().authenticateUser(raw.socketId, { id: 'acme:ana' }) });
    await raw.error(4009);
    raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-acme:ana', auth: '' } });
    expect((await raw.next('pusher:subscription_error')).data).toMatchObject({ status: 403 });
    // Users cannot send client events to a user channel.
    raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-mallory', auth: '' } });
    await raw.next('pusher_internal:subscription_succeeded');
    raw.send({ event: 'client-x', channel: '#server-to-user-mallory', data: {} });
    await raw.error(4307);

    const token = (await bff.capabilityToken('acme', 'ana')).token;
    const unauthenticated = await fetch(`${bff.url}/v1/auth/pusher/user`, { method: 'POST', body: new URLSearchParams({ socket_id: '1.2' }) });
    expect(unauthenticated.status).toBe(401);
    const bad = await bff.post('/v1/auth/pusher/user', { socket_id: 'nope' }, token);
    expect(bad.status).toBe(400);
  });

  it('terminates a user of the key tenant: connections close with 4009 and the capability tokens stop working', async () => {
    const { pusher: signedInAna, token } = await signedIn('acme', 'ana');
    // Ana's second connection never signed in: her channel authorization identifies her.
    const subscriber = await client('acme', 'ana');
    await join(subscriber, 'private-orders.acme.kick');
    const globexAna = await signedIn('globex', 'ana');
    const bo = await signedIn('acme', 'bo');

    const closings = [closed(signedInAna), closed(subscriber)];
    const stream = await fetch(`${bff.url}/v1/stream?channels=orders:kick`, { headers: { authorization: `Bearer ${token}` } });
    expect(stream.status).toBe(200);
    const streamEnded = stream.text();
    const response = await bff.post('/v1/users/ana/terminate', {}, API_KEYS.acme);
    expect(await response.json()).toEqual({ user: 'ana', terminated: true });
    for (const closing of await Promise.all(closings)) expect(closing).toMatchObject({ code: 4009 });
    // An open SSE stream of the user ends at once.
    expect(await streamEnded).toContain(': token no longer valid');

    const history = await fetch(`${bff.url}/v1/history?channel=orders:kick`, { headers: { authorization: `Bearer ${token}` } });
    expect(history.status).toBe(401);
    expect((await bff.post('/v1/auth/pusher/user', { socket_id: '1.2' }, token)).status).toBe(401);
    expect(['connected', 'connecting']).toContain(globexAna.pusher.connection.state);
    expect(bo.pusher.connection.state).toBe('connected');

    // The app decides about signing in again: a fresh token works, even in the second of the terminate.
    const fresh = await bff.capabilityToken('acme', 'ana');
    expect((await fetch(`${bff.url}/v1/history?channel=orders:kick`, { headers: { authorization: `Bearer ${fresh.token}` } })).status).toBe(200);
  });

  it('terminates through the pusher SDK by Pusher user id', async () => {
    const { pusher } = await signedIn('acme', 'zed');
    const closing = closed(pusher);
    await sdk().terminateUserConnections('acme:zed');
    expect(await closing).toMatchObject({ code: 4009 });
  });
});

describe('issue 13.3: cache namespaces', () => {
  /** Every event a channel gets, protocol ones included, in order. */
  function everything(subscription: Channel): { event: string; data: unknown }[] {
    const events: { event: string; data: unknown }[] = [];
    subscription.bind_global((event: string, data: unknown) => events.push({ event, data }));
    return events;
  }

  it('answers pusher:cache_miss before the first publish, then replays the last event from the log first', async () => {
    const first = (await client('acme', 'ana')).subscribe('private-ticker.acme.eur');
    const firstSaw = everything(first);
    await next(first, 'pusher:cache_miss');
    expect(firstSaw.map((entry) => entry.event)).toEqual(['pusher:subscription_succeeded', 'pusher:cache_miss']);

    for (const price of [1, 2]) {
      expect((await bff.post('/v1/publish', { channel: 'ticker:eur', event: 'price', data: { price } }, API_KEYS.acme)).status).toBe(200);
    }
    const late = (await client('acme', 'bo')).subscribe('private-ticker.acme.eur');
    const lateSaw = everything(late);
    expect(await next<Envelope>(late, 'price')).toMatchObject({ data: { price: 2 }, seq: 2 });
    expect(lateSaw.map((entry) => entry.event)).toEqual(['pusher:subscription_succeeded', 'price']);

    // Another tenant's channel of the same name has its own (empty) cache.
    await next((await client('globex', 'gil')).subscribe('private-ticker.globex.eur'), 'pusher:cache_miss');
  });

  it('replays on presence cache channels too, and never on other namespaces', async () => {
    expect((await bff.post('/v1/publish', { channel: 'board:1', event: 'state', data: { open: true } }, API_KEYS.acme)).status).toBe(200);
    const board = (await client('acme', 'ana')).subscribe('presence-board.acme.1') as PresenceChannel;
    expect(await next<Envelope>(board, 'state')).toMatchObject({ data: { open: true } });
    expect(board.members.count).toBe(1);

    expect((await bff.post('/v1/publish', { channel: 'orders:cache', event: 'status', data: {} }, API_KEYS.acme)).status).toBe(200);
    const orders = await join(await client('acme', 'ana'), 'private-orders.acme.cache');
    const saw = everything(orders);
    const live = next(orders, 'status');
    await bff.post('/v1/publish', { channel: 'orders:cache', event: 'status', data: { live: true } }, API_KEYS.acme);
    await live;
    expect(saw.map((entry) => entry.event)).toEqual(['status']);
  });
});

describe('issue 13.7: Laravel Echo end to end', () => {
  async function echo(tenant: string, user: string): Promise<Echo<'pusher'>> {
    return new Echo({ broadcaster: 'pusher', key: KEY, client: await client(tenant, user) });
  }

  it('receives what a Laravel backend publishes through /v1/publish with default event names', async () => {
    const ana = await echo('acme', 'ana');
    const shipped = new Promise<Envelope>((resolve) => ana.private('orders.acme.echo').listen('OrderShipped', resolve));
    const subscribed = new Promise<void>((resolve) => ana.private('orders.acme.echo').subscribed(() => resolve()));
    await subscribed;
    await bff.post('/v1/publish', { channel: 'orders:echo', event: 'App\\Events\\OrderShipped', data: { order: 1 } }, API_KEYS.acme);
    expect(await shipped).toMatchObject({ event: 'App\\Events\\OrderShipped', data: { order: 1 } });

    const refused = new Promise<{ status: number }>((resolve) => ana.private('orders.globex.echo').error(resolve));
    expect((await refused).status).toBe(403);
  });

  it('runs presence (here, joining, leaving) and whispers', async () => {
    const ana = await echo('acme', 'ana');
    // Echo hands over members' user_info.
    const here = new Promise<unknown[]>((resolve) => ana.join('chat.acme.echo').here(resolve));
    expect(await here).toEqual([{ name: 'ANA' }]);
    const joining = new Promise<unknown>((resolve) => ana.join('chat.acme.echo').joining(resolve));
    const whisper = new Promise<unknown>((resolve) => ana.join('chat.acme.echo').listenForWhisper('typing', resolve));

    const bo = await echo('acme', 'bo');
    const boHere = new Promise<unknown>((resolve) => bo.join('chat.acme.echo').here(resolve));
    expect(await joining).toEqual({ name: 'BO' });
    await boHere;
    bo.join('chat.acme.echo').whisper('typing', { on: true });
    expect(await whisper).toEqual({ on: true });

    const leaving = new Promise<unknown>((resolve) => ana.join('chat.acme.echo').leaving(resolve));
    bo.leave('chat.acme.echo');
    expect(await leaving).toEqual({ name: 'BO' });
  });
});
