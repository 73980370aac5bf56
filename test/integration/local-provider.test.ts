/**
 * The embedded `local` provider against the official clients: pusher-js (WebSocket) and
 * the `pusher` server SDK (HTTP API), on a real listening HTTP server.
 */
import type { PresenceChannel } from 'pusher-js';
import PusherServer from 'pusher';
import { describe, expect, it } from 'vitest';
import { grant, onCleanup, startLocal, type LocalHarness } from '../helpers/local-harness.js';
import { next, nextWithMeta, Pusher, record, subscribed } from '../helpers/pusher-js.js';
import type { Envelope, JsonValue } from '../../src/core/envelope.js';
import { fromPusherChannel, toPusherChannel } from '../../src/core/provider-names.js';
import { createLocalProvider } from '../../providers/local/index.js';
import type { ClientGrant } from '../../providers/types.js';

const KEY = 'switchboard-key';
const SECRET = 'switchboard-secret';
const APP_ID = 'switchboard';

interface ClientOptions {
  grant: ClientGrant;
  clientEvents?: string[];
}

function connect(harness: LocalHarness, options: ClientOptions): Pusher {
  const pusher = new Pusher(KEY, {
    cluster: 'local',
    wsHost: '127.0.0.1',
    wsPort: harness.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const parsed = fromPusherChannel(channelName);
        if (!parsed) return callback(new Error('not a Switchboard channel'), null);
        try {
          callback(
            null,
            harness.provider.authorizeChannel({
              grant: options.grant,
              socketId,
              channel: parsed.channel,
              providerChannel: channelName,
              presence: parsed.presence,
              clientEvents: options.clientEvents ?? [],
            }),
          );
        } catch (error) {
          callback(error as Error, null);
        }
      },
    },
  });
  onCleanup(() => pusher.disconnect());
  return pusher;
}

let seq = 0;
function envelope(channel: string, event: string, data: JsonValue): Envelope {
  seq += 1;
  return { id: `evt-${seq}`, channel, event, data, seq, ts: 1_700_000_000_000 + seq };
}

function sdk(harness: LocalHarness, secret = SECRET): PusherServer {
  return new PusherServer({ appId: APP_ID, key: KEY, secret, host: '127.0.0.1', port: String(harness.port), useTLS: false });
}

describe('local provider with pusher-js', () => {
  it('delivers envelopes published in-process to private subscribers, with meta', async () => {
    const harness = await startLocal();
    const client = connect(harness, { grant: grant('acme', 'ana') });
    const channel = client.subscribe(toPusherChannel('acme', 'orders:1001', false));
    await subscribed(channel);

    const received = next<Envelope>(channel, 'status');
    const sent = envelope('orders:1001', 'status', { status: 'shipped' });
    await harness.provider.publish([{ tenant: 'acme', envelope: sent }], new AbortController().signal);
    expect(await received).toEqual(sent);
    expect(await harness.provider.occupancy('acme', 'orders:1001')).toEqual({ subscribers: 1 });
  });

  it('delivers a burst in order (frames are coalesced per socket) and reports per-tenant stats', async () => {
    const harness = await startLocal();
    const client = connect(harness, { grant: grant('acme', 'ana') });
    const channel = client.subscribe(toPusherChannel('acme', 'dashboard:sales', false));
    await subscribed(channel);
    const events = record(channel);
    const signal = new AbortController().signal;
    const sent = Array.from({ length: 200 }, (_, i) => envelope('dashboard:sales', 'tick', { i }));
    for (const item of sent.slice(0, 100)) await harness.provider.publish([{ tenant: 'acme', envelope: item }], signal);
    await harness.provider.publish(sent.slice(100).map((item) => ({ tenant: 'acme', envelope: item })), signal);
    await events.waitFor(200);
    expect(events.events.map((e) => e.data)).toEqual(sent);
    expect(harness.provider.stats()).toEqual([{ tenant: 'acme', connections: 1, channels: [{ channel: 'dashboard:sales', subscribers: 1 }] }]);
    expect(harness.provider.serverStats()).toEqual({ connections: 1, channels: 1 });
  });

  it('gives clients a pusher-js configuration pointing at the BFF', async () => {
    const provider = createLocalProvider();
    onCleanup(() => provider.close());
    const g = grant('acme', 'ana');
    expect(await provider.clientConfig(g, { publicUrl: 'https://rt.example.com' })).toEqual({
      name: 'local',
      key: KEY,
      cluster: 'local',
      wsHost: 'rt.example.com',
      wsPort: 443,
      forceTLS: true,
      authEndpoint: '/v1/auth/pusher',
    });
    expect(await provider.clientConfig(g, { publicUrl: 'http://localhost:3000/' })).toMatchObject({ wsHost: 'localhost', wsPort: 3000, forceTLS: false });
  });

  it('keeps tenants apart: same channel name, different tenants, no cross delivery', async () => {
    const harness = await startLocal();
    const acme = connect(harness, { grant: grant('acme', 'ana') });
    const globex = connect(harness, { grant: grant('globex', 'gus') });
    const acmeChannel = acme.subscribe(toPusherChannel('acme', 'orders:1', false));
    const globexChannel = globex.subscribe(toPusherChannel('globex', 'orders:1', false));
    await Promise.all([subscribed(acmeChannel), subscribed(globexChannel)]);
    const acmeEvents = record(acmeChannel);
    const globexEvents = record(globexChannel);

    const forAcme = envelope('orders:1', 'status', 'acme-only');
    const forGlobex = envelope('orders:1', 'status', 'globex-only');
    await harness.provider.publish(
      [
        { tenant: 'acme', envelope: forAcme },
        { tenant: 'globex', envelope: forGlobex },
      ],
      new AbortController().signal,
    );
    await Promise.all([acmeEvents.waitFor(1), globexEvents.waitFor(1)]);
    // Frames to one socket are ordered: had the other tenant's event leaked, it would come first.
    expect(acmeEvents.events[0]?.data).toEqual(forAcme);
    expect(globexEvents.events[0]?.data).toEqual(forGlobex);
  });

  it('refuses a subscription the BFF would not sign for another tenant', async () => {
    const harness = await startLocal();
    const client = connect(harness, { grant: grant('globex', 'gus') });
    const channel = client.subscribe(toPusherChannel('acme', 'orders:1', false));
    await expect(subscribed(channel)).rejects.toThrow(/AuthError/);
  });

  it('honours excludeSocketId', async () => {
    const harness = await startLocal();
    const publisher = connect(harness, { grant: grant('acme', 'ana') });
    const other = connect(harness, { grant: grant('acme', 'bob') });
    const name = toPusherChannel('acme', 'orders:7', false);
    const publisherChannel = publisher.subscribe(name);
    const otherChannel = other.subscribe(name);
    await Promise.all([subscribed(publisherChannel), subscribed(otherChannel)]);
    const publisherEvents = record(publisherChannel);
    const otherEvents = record(otherChannel);

    const skipped = envelope('orders:7', 'status', 'not for the publisher');
    const everyone = envelope('orders:7', 'status', 'for everyone');
    const signal = new AbortController().signal;
    await harness.provider.publish([{ tenant: 'acme', envelope: skipped, excludeSocketId: publisher.connection.socket_id }], signal);
    await harness.provider.publish([{ tenant: 'acme', envelope: everyone }], signal);
    await Promise.all([publisherEvents.waitFor(1), otherEvents.waitFor(2)]);
    expect(publisherEvents.events.map((e) => e.data)).toEqual([everyone]);
    expect(otherEvents.events.map((e) => e.data)).toEqual([skipped, everyone]);
  });

  it('tracks presence by user: join, second socket of the same user, leave on disconnect', async () => {
    const harness = await startLocal();
    const name = toPusherChannel('acme', 'chat:general', true);
    const ana = connect(harness, { grant: grant('acme', 'ana', { name: 'Ana' }) });
    const anaChannel = ana.subscribe(name) as PresenceChannel;
    await subscribed(anaChannel);
    expect(anaChannel.members.count).toBe(1);
    expect(anaChannel.members.me).toEqual({ id: 'ana', info: { name: 'Ana' } });

    const added = next<{ id: string; info: unknown }>(anaChannel, 'pusher:member_added');
    const bob = connect(harness, { grant: grant('acme', 'bob', { name: 'Bob' }) });
    const bobChannel = bob.subscribe(name) as PresenceChannel;
    await subscribed(bobChannel);
    // Peers see user_info only: the signed `sb` extension is stripped.
    expect(await added).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect(bobChannel.members.count).toBe(2);
    expect(bobChannel.members.get('ana')).toEqual({ id: 'ana', info: { name: 'Ana' } });

    const bobAgain = connect(harness, { grant: grant('acme', 'bob', { name: 'Bob' }) });
    const bobAgainChannel = bobAgain.subscribe(name) as PresenceChannel;
    await subscribed(bobAgainChannel);
    expect(bobAgainChannel.members.count).toBe(2);
    expect(await harness.provider.presence('acme', 'chat:general')).toEqual([
      { id: 'ana', info: { name: 'Ana' } },
      { id: 'bob', info: { name: 'Bob' } },
    ]);
    expect(await harness.provider.occupancy('acme', 'chat:general')).toEqual({ subscribers: 3, presenceMembers: 2 });

    // One of bob's two sockets leaving does not remove bob; the last one does.
    const anaEvents = record(anaChannel);
    bobAgain.disconnect();
    bob.disconnect();
    const removed = await next<{ id: string }>(anaChannel, 'pusher:member_removed');
    expect(removed.id).toBe('bob');
    expect(anaChannel.members.count).toBe(1);
    expect(anaEvents.events).toEqual([]);
  });

  it('delivers allowed client events to others only, with user_id on presence channels', async () => {
    const harness = await startLocal();
    const name = toPusherChannel('acme', 'chat:room', true);
    const ana = connect(harness, { grant: grant('acme', 'ana'), clientEvents: ['typing'] });
    const bob = connect(harness, { grant: grant('acme', 'bob'), clientEvents: ['typing'] });
    const anaChannel = ana.subscribe(name);
    const bobChannel = bob.subscribe(name);
    await Promise.all([subscribed(anaChannel), subscribed(bobChannel)]);
    const anaEvents = record(anaChannel);

    const atBob = nextWithMeta(bobChannel, 'client-typing');
    expect(anaChannel.trigger('client-typing', { typing: true })).toBe(true);
    expect(await atBob).toEqual({ data: { typing: true }, metadata: { user_id: 'ana' } });

    const atAna = nextWithMeta(anaChannel, 'client-typing');
    bobChannel.trigger('client-typing', { typing: false });
    expect(await atAna).toEqual({ data: { typing: false }, metadata: { user_id: 'bob' } });
    // Ana's only event is Bob's: her own was not echoed back.
    expect(anaEvents.events).toEqual([{ event: 'client-typing', data: { typing: false } }]);
  });

  it('refuses client events the signed authorization does not allow', async () => {
    const harness = await startLocal();
    const name = toPusherChannel('acme', 'orders:9', false);
    const mallory = connect(harness, { grant: grant('acme', 'mallory'), clientEvents: [] });
    const bob = connect(harness, { grant: grant('acme', 'bob'), clientEvents: ['typing'] });
    const malloryChannel = mallory.subscribe(name);
    const bobChannel = bob.subscribe(name);
    await Promise.all([subscribed(malloryChannel), subscribed(bobChannel)]);
    const bobEvents = record(bobChannel);

    const error = new Promise<{ data: { code: number } }>((resolve) => mallory.connection.bind('error', resolve));
    malloryChannel.trigger('client-typing', { forged: true });
    expect((await error).data.code).toBe(4307);

    bobChannel.trigger('client-typing', { from: 'bob' });
    const server = next(malloryChannel, 'client-typing');
    expect(await server).toEqual({ from: 'bob' });
    await harness.provider.publish([{ tenant: 'acme', envelope: envelope('orders:9', 'status', 'after') }], new AbortController().signal);
    await bobEvents.waitFor(1);
    expect(bobEvents.events.map((e) => e.event)).toEqual(['status']);
  });
});

describe('local provider with the official pusher server SDK', () => {
  it('delivers trigger and triggerBatch to subscribers, honouring socket_id', async () => {
    const harness = await startLocal();
    const name = toPusherChannel('acme', 'orders:1', false);
    const ana = connect(harness, { grant: grant('acme', 'ana') });
    const bob = connect(harness, { grant: grant('acme', 'bob') });
    const anaChannel = ana.subscribe(name);
    const bobChannel = bob.subscribe(name);
    await Promise.all([subscribed(anaChannel), subscribed(bobChannel)]);
    const anaEvents = record(anaChannel);
    const bobEvents = record(bobChannel);

    const server = sdk(harness);
    const first = await server.trigger([name, 'private-unused'], 'created', { n: 1 }, { socket_id: ana.connection.socket_id });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({});
    await server.triggerBatch([
      { channel: name, name: 'updated', data: { n: 2 } },
      { channel: name, name: 'updated', data: 'plain text' },
    ]);
    await Promise.all([anaEvents.waitFor(2), bobEvents.waitFor(3)]);
    expect(anaEvents.events).toEqual([
      { event: 'updated', data: { n: 2 } },
      { event: 'updated', data: 'plain text' },
    ]);
    expect(bobEvents.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, 'plain text']);
  });

  it('answers channel queries: list, info, users', async () => {
    const harness = await startLocal();
    const presenceName = toPusherChannel('acme', 'chat:lobby', true);
    const privateName = toPusherChannel('acme', 'orders:1', false);
    const ana = connect(harness, { grant: grant('acme', 'ana') });
    const bob = connect(harness, { grant: grant('acme', 'bob') });
    await Promise.all([subscribed(ana.subscribe(presenceName)), subscribed(bob.subscribe(presenceName)), subscribed(ana.subscribe(privateName))]);

    const server = sdk(harness);
    const all = await (await server.get({ path: '/channels' })).json();
    expect(all).toEqual({ channels: { [presenceName]: {}, [privateName]: {} } });
    const presence = await (await server.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
    expect(presence).toEqual({ channels: { [presenceName]: { user_count: 2 } } });
    const info = await (await server.get({ path: `/channels/${presenceName}`, params: { info: 'user_count,subscription_count' } })).json();
    expect(info).toEqual({ occupied: true, user_count: 2, subscription_count: 2 });
    const vacant = await (await server.get({ path: '/channels/private-nobody' })).json();
    expect(vacant).toEqual({ occupied: false });
    const users = await (await server.get({ path: `/channels/${presenceName}/users` })).json();
    expect(users).toEqual({ users: [{ id: 'ana' }, { id: 'bob' }] });

    await expect(server.get({ path: '/channels', params: { info: 'user_count' } })).rejects.toMatchObject({ status: 400 });
    await expect(server.get({ path: `/channels/${privateName}/users` })).rejects.toMatchObject({ status: 400 });
  });

  it('refuses bad signatures, unknown apps and oversized data', async () => {
    const harness = await startLocal({ apiMaxDataBytes: 100 });
    const name = toPusherChannel('acme', 'orders:1', false);
    await expect(sdk(harness, 'wrong-secret').trigger(name, 'e', {})).rejects.toMatchObject({ status: 401 });
    await expect(sdk(harness).trigger(name, 'e', 'x'.repeat(101))).rejects.toMatchObject({ status: 413 });
    const otherApp = new PusherServer({ appId: 'other', key: KEY, secret: SECRET, host: '127.0.0.1', port: String(harness.port), useTLS: false });
    await expect(otherApp.trigger(name, 'e', {})).rejects.toMatchObject({ status: 404 });
    await expect(sdk(harness).trigger(name, 'pusher:fake', {})).rejects.toMatchObject({ status: 400 });
    const batch = Array.from({ length: 11 }, () => ({ channel: name, name: 'e', data: {} }));
    await expect(sdk(harness).triggerBatch(batch)).rejects.toMatchObject({ status: 400 });
  });
});
