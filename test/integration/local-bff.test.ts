/**
 * The embedded local provider inside a real listening BFF, driven by the official
 * clients: pusher-js subscribes through POST /v1/auth/pusher with a capability token,
 * events come from /v1/publish and from the official `pusher` server SDK.
 */
import type { Channel, PresenceChannel } from 'pusher-js';
import PusherServer from 'pusher';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { buildAppConfig } from '../../src/core/config.js';
import type { Envelope } from '../../src/core/envelope.js';
import { createLocalProvider, type LocalProviderOptions } from '../../providers/local/index.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { bffClient, join, next, nextWithMeta, Pusher, record } from '../helpers/pusher-js.js';

const config = buildAppConfig({
  roles: {
    member: { 'orders:*': ['subscribe', 'history'], 'chat:*': ['subscribe', 'publish', 'presence', 'history'] },
    viewer: { 'chat:*': ['subscribe', 'presence'] },
  },
});

let bff: TestBff | undefined;
const clients: Pusher[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await bff?.close();
  bff = undefined;
});

async function start(options: Partial<LocalProviderOptions> = {}): Promise<TestBff> {
  bff = await startBff({ provider: createLocalProvider(options), config });
  return bff;
}

async function client(tenant: string, user: string, roles?: string[]): Promise<Pusher> {
  const { token } = await bff!.capabilityToken(tenant, user, { name: user.toUpperCase(), ...(roles ? { roles } : {}) });
  const pusher = bffClient(bff!, token);
  clients.push(pusher);
  return pusher;
}

function failure(subscription: Channel): Promise<{ status: number }> {
  return new Promise((resolve) => subscription.bind('pusher:subscription_error', resolve));
}

const sdk = (server: TestBff) =>
  new PusherServer({ appId: 'switchboard', key: 'switchboard-key', secret: 'switchboard-secret', host: '127.0.0.1', port: String(server.port), useTLS: false });

describe('local provider behind the BFF', () => {
  it('delivers /v1/publish and official-SDK events to private subscribers authorized by the BFF', async () => {
    const server = await start();
    const orders = await join(await client('acme', 'ana'), 'private-orders.acme.1001');
    const published = next<Envelope>(orders, 'status');
    expect((await server.post('/v1/publish', { channel: 'orders:1001', event: 'status', data: { status: 'shipped' } }, API_KEYS.acme)).status).toBe(200);
    expect(await published).toMatchObject({ channel: 'orders:1001', event: 'status', data: { status: 'shipped' }, seq: 1 });

    const triggered = next(orders, 'note');
    await sdk(server).trigger('private-orders.acme.1001', 'note', { via: 'sdk' });
    expect(await triggered).toEqual({ via: 'sdk' });
  });

  it('shows presence joins and leaves to other members, one entry per user', async () => {
    await start();
    const ana = await client('acme', 'ana');
    const lobby = (await join(ana, 'presence-chat.acme.lobby')) as PresenceChannel;
    const added = next<{ id: string; info: unknown }>(lobby, 'pusher:member_added');
    const bo = await client('acme', 'bo');
    await join(bo, 'presence-chat.acme.lobby');
    expect(await added).toEqual({ id: 'bo', info: { name: 'BO' } });
    expect(lobby.members.count).toBe(2);
    const removed = next<{ id: string }>(lobby, 'pusher:member_removed');
    bo.disconnect();
    expect((await removed).id).toBe('bo');
  });

  it('delivers allowed whispers to others only, and refuses the rest', async () => {
    await start();
    const ana = await client('acme', 'ana');
    const bo = await client('acme', 'bo');
    const viewer = await client('acme', 'vic', ['viewer']);
    const anaLobby = await join(ana, 'presence-chat.acme.lobby');
    const boLobby = await join(bo, 'presence-chat.acme.lobby');
    const vicLobby = await join(viewer, 'presence-chat.acme.lobby');
    const anaSaw = record(anaLobby);
    const vicSaw = record(vicLobby);

    const typing = nextWithMeta(boLobby, 'client-typing');
    anaLobby.trigger('client-typing', { on: true });
    expect(await typing).toEqual({ data: { on: true }, metadata: { user_id: 'ana' } });
    await vicSaw.waitFor(1);

    const refusals: unknown[] = [];
    viewer.connection.bind('error', (error: unknown) => refusals.push(error));
    ana.connection.bind('error', (error: unknown) => refusals.push(error));
    vicLobby.trigger('client-typing', { on: true }); // viewer role has no publish
    anaLobby.trigger('client-shout', { loud: true }); // not in the namespace's clientEvents
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => refusals.length >= 2 && (clearInterval(poll), resolve()), 10);
    });
    expect(refusals).toHaveLength(2);
    const boSaw = record(boLobby);
    anaLobby.trigger('client-typing', { on: false });
    await boSaw.waitFor(1);
    expect(boSaw.events).toEqual([{ event: 'client-typing', data: { on: false } }]);
    expect(anaSaw.events).toEqual([]);
  });

  it('refuses other tenants, forged signatures and channels outside the caps', async () => {
    await start();
    const ana = await client('acme', 'ana');
    expect((await failure(ana.subscribe('private-orders.globex.1001'))).status).toBe(403);
    expect((await failure(ana.subscribe('private-notifications.acme.bo'))).status).toBeGreaterThanOrEqual(400);

    const forger = new Pusher('switchboard-key', {
      cluster: 'local',
      wsHost: '127.0.0.1',
      wsPort: bff!.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { customHandler: (_params, callback) => callback(null, { auth: `switchboard-key:${'0'.repeat(64)}` }) },
    });
    clients.push(forger);
    expect(await failure(forger.subscribe('private-orders.acme.1001'))).toMatchObject({ status: 401 });
  });

  it('never lets an event of one tenant reach another on the same server', async () => {
    const server = await start();
    const acme = record(await join(await client('acme', 'ana'), 'private-orders.acme.1'));
    const globex = record(await join(await client('globex', 'ana'), 'private-orders.globex.1'));
    for (let index = 0; index < 20; index++) {
      await server.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { tenant: 'acme', index } }, API_KEYS.acme);
      await server.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { tenant: 'globex', index } }, API_KEYS.globex);
    }
    await acme.waitFor(20);
    await globex.waitFor(20);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(acme.events.map((event) => (event.data as Envelope).data)).toEqual(Array.from({ length: 20 }, (_, index) => ({ tenant: 'acme', index })));
    expect(globex.events.map((event) => (event.data as Envelope).data)).toEqual(Array.from({ length: 20 }, (_, index) => ({ tenant: 'globex', index })));
  });

  it('enforces limits and closes idle connections on the BFF port', async () => {
    const server = await start({ maxChannelsPerConnection: 1, activityTimeoutSeconds: 0.2, pongTimeoutSeconds: 0.2 });
    const ana = await client('acme', 'ana');
    await join(ana, 'private-orders.acme.1');
    expect((await failure(ana.subscribe('private-orders.acme.2'))).status).toBe(429);

    const idle = new WebSocket(`ws://127.0.0.1:${server.port}/app/switchboard-key?protocol=7&client=js&version=8.6.0`, { autoPong: false });
    const closed = new Promise<number>((resolve) => idle.on('close', (code) => resolve(code)));
    idle.on('message', () => undefined); // never answers pusher:ping
    expect(await closed).toBe(4201);

    const stranger = new WebSocket(`ws://127.0.0.1:${server.port}/app/unknown-key?protocol=7`);
    expect(await new Promise<number>((resolve) => stranger.on('close', (code) => resolve(code)))).toBe(4001);
  });
});
