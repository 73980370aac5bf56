/**
 * The local provider scaled out over Redis: two real listening BFF nodes sharing a Redis
 * event log (so the per-channel delivery lease picks one deliverer) and the provider's
 * pub/sub fan-out, with pusher-js clients connected to different nodes. Needs Redis at
 * REDIS_URL (skipped with a notice when unreachable, failing under CI=true).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Channel, PresenceChannel } from 'pusher-js';
import PusherServer from 'pusher';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildAppConfig } from '../../src/core/config.js';
import type { Envelope } from '../../src/core/envelope.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { RedisRevocations } from '../../src/server/tokens/revocations.js';
import { createServerFromEnv } from '../../src/server/from-env.js';
import { createLocalProvider, localProviderOptionsFromEnv, type LocalProvider, type LocalProviderOptions } from '../../providers/local/index.js';
import type { LocalLogger } from '../../providers/local/options.js';
import { eventually } from '../helpers/eventually.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { bffClient, join, nextWithMeta, Pusher, record } from '../helpers/pusher-js.js';
import { RawClient } from '../helpers/raw-pusher-client.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const config = buildAppConfig({
  roles: { member: { 'orders:*': ['subscribe', 'history'], 'chat:*': ['subscribe', 'publish', 'presence', 'history'] } },
});

const runId = `sbtest:scaleout:${process.pid}:${Date.now()}`;
let testCount = 0;
let prefixes = { store: `${runId}:0:store:`, provider: `${runId}:0:local:` };

interface Node {
  bff: TestBff;
  provider: LocalProvider;
  logs: { level: 'info' | 'error'; message: string }[];
}

const nodes: Node[] = [];
const clients: Pusher[] = [];
const redisClients: Redis[] = [];

function settle(ms = 150): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function startNode(options: Partial<LocalProviderOptions> = {}): Promise<Node> {
  const logs: Node['logs'] = [];
  const logger: LocalLogger = {
    info: (_details, message) => logs.push({ level: 'info', message }),
    error: (_details, message) => logs.push({ level: 'error', message }),
  };
  const provider = createLocalProvider({ redisUrl: REDIS_URL, redisKeyPrefix: prefixes.provider, heartbeatMs: 200, logger, ...options });
  const bff = await startBff({
    provider,
    config,
    store: new RedisEventStore({ url: REDIS_URL, keyPrefix: prefixes.store }),
    // Nodes share terminated users' token revocations, as createServerFromEnv sets up with the redis store.
    revocations: new RedisRevocations(REDIS_URL, `${prefixes.store}revoked:`),
  });
  const node = { bff, provider, logs };
  nodes.push(node);
  await eventually(() => provider.scaleOutStats()?.connected === true);
  return node;
}

async function client(node: Node, tenant: string, user: string): Promise<Pusher> {
  const { token } = await node.bff.capabilityToken(tenant, user, { name: user.toUpperCase() });
  const pusher = bffClient(node.bff, token);
  clients.push(pusher);
  return pusher;
}

function publish(node: Node, tenant: keyof typeof API_KEYS, channel: string, data: unknown): Promise<Response> {
  return node.bff.post('/v1/publish', { channel, event: 'status', data }, API_KEYS[tenant]);
}

/** Member events in the order a presence subscription saw them. */
function memberEvents(channel: Channel): string[] {
  const seen: string[] = [];
  channel.bind('pusher:member_added', (member: { id: string }) => seen.push(`+${member.id}`));
  channel.bind('pusher:member_removed', (member: { id: string }) => seen.push(`-${member.id}`));
  return seen;
}

async function presenceList(node: Node, channel: string): Promise<string[]> {
  const response = await fetch(`${node.bff.url}/v1/channels/${channel}/presence`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } });
  const body = (await response.json()) as { members: { id: string }[] };
  return body.members.map((member) => member.id).sort();
}

function rawRedis(): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redisClients.push(redis);
  return redis;
}

async function connectionIds(redis: Redis, node: LocalProvider): Promise<string[]> {
  const list = String(await redis.client('LIST'));
  const name = `sb-local:${node.scaleOutStats()?.node ?? 'none'}:`;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name}`))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? '')
    .filter((id) => id !== '');
}

const redisDecision = await redisCheck();

describe.skipIf(redisDecision === 'skip')('local provider scale-out over Redis', () => {
  beforeAll(() => requireService(redisDecision, 'Redis'));

  afterEach(async () => {
    for (const pusher of clients.splice(0)) pusher.disconnect();
    await Promise.all(nodes.splice(0).map((node) => node.bff.close()));
    for (const redis of redisClients.splice(0)) redis.disconnect();
    await deleteRedisKeys(REDIS_URL, prefixes.store);
    // Presence admission keys live under the provider's prefix.
    await deleteRedisKeys(REDIS_URL, prefixes.provider);
  });

  // A fresh event log and pub/sub namespace per test: nothing carries over between tests or runs.
  beforeEach(() => {
    testCount++;
    prefixes = { store: `${runId}:${testCount}:store:`, provider: `${runId}:${testCount}:local:` };
  });

  it('delivers /v1/publish and Pusher HTTP API events to subscribers on both nodes exactly once', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const onA = record(await join(await client(a, 'acme', 'ana'), 'private-orders.acme.1001'));
    const onB = record(await join(await client(b, 'acme', 'bo'), 'private-orders.acme.1001'));

    // 202: accepted while the other node holds the channel's delivery lease.
    for (let index = 0; index < 3; index++) expect([200, 202]).toContain((await publish(a, 'acme', 'orders:1001', { index })).status);
    for (let index = 3; index < 5; index++) expect([200, 202]).toContain((await publish(b, 'acme', 'orders:1001', { index })).status);
    await onA.waitFor(5);
    await onB.waitFor(5);
    await settle();
    for (const seen of [onA, onB]) {
      expect(seen.events.map((event) => (event.data as Envelope).seq)).toEqual([1, 2, 3, 4, 5]);
      expect(seen.events.map((event) => (event.data as Envelope).data)).toEqual([0, 1, 2, 3, 4].map((index) => ({ index })));
    }

    const sdk = new PusherServer({ appId: 'switchboard', key: 'switchboard-key', secret: 'switchboard-secret', host: '127.0.0.1', port: String(b.bff.port), useTLS: false });
    await sdk.trigger('private-orders.acme.1001', 'note', { via: 'sdk on B' });
    await onA.waitFor(6);
    await onB.waitFor(6);
    await settle();
    expect(onA.events.slice(5)).toEqual([{ event: 'note', data: { via: 'sdk on B' } }]);
    expect(onB.events.slice(5)).toEqual([{ event: 'note', data: { via: 'sdk on B' } }]);
  });

  it('counts cluster-wide: subscription_count, user_count, channel listings, the admin page and LOCAL_MAX_CONNECTIONS', async () => {
    const [a, b] = [await startNode({ maxConnections: 3 }), await startNode({ maxConnections: 3 })];
    await join(await client(a, 'acme', 'ana'), 'private-orders.acme.7');
    await join(await client(b, 'acme', 'bo'), 'private-orders.acme.7');
    await join(await client(b, 'acme', 'cy'), 'presence-chat.acme.lobby');
    const sdkOn = (node: Node) =>
      new PusherServer({ appId: 'switchboard', key: 'switchboard-key', secret: 'switchboard-secret', host: '127.0.0.1', port: String(node.bff.port), useTLS: false });
    const query = async (node: Node, path: string, params?: Record<string, string>) => (await sdkOn(node).get({ path, ...(params ? { params } : {}) })).json();

    // A hears of B's subscribers within a report interval.
    await eventually(async () => Object.keys(((await query(a, '/channels')) as { channels: object }).channels).length === 2);
    expect(await query(a, '/channels/presence-chat.acme.lobby', { info: 'user_count,subscription_count' })).toEqual({ occupied: true, user_count: 1, subscription_count: 1 });
    expect(await query(a, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' })).toEqual({ channels: { 'presence-chat.acme.lobby': { user_count: 1 } } });
    expect(Object.keys(((await query(a, '/channels')) as { channels: object }).channels).sort()).toEqual(['presence-chat.acme.lobby', 'private-orders.acme.7']);
    expect(await a.provider.occupancy('acme', 'orders:7')).toEqual({ subscribers: 2 });

    const admin = (await (await fetch(`${a.bff.url}/v1/admin/stats?tenant=acme`, { headers: { authorization: `Bearer ${API_KEYS.acme}` } })).json()) as {
      tenants: { connections: number; channels: { channel: string; subscribers: number }[] }[];
    };
    expect(admin.tenants[0]?.connections).toBe(3);
    expect(admin.tenants[0]?.channels.map((row) => [row.channel, row.subscribers]).sort()).toEqual([
      ['chat:lobby', 1],
      ['orders:7', 2],
    ]);

    // Three connections in the cluster: a fourth is refused on either node (4100 over capacity).
    const extra = await RawClient.open(a.bff.port);
    expect((await extra.closed).code).toBe(4100);

    // A node that leaves takes its counts along.
    const bNode = nodes.splice(nodes.indexOf(b), 1)[0] as Node;
    await bNode.bff.close();
    await eventually(async () => ((await query(a, '/channels/private-orders.acme.7', { info: 'subscription_count' })) as { subscription_count: number }).subscription_count === 1);
    expect(await query(a, '/channels/presence-chat.acme.lobby')).toEqual({ occupied: false });
  });

  it('reaches signed-in users and terminates a user on every node', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const { token } = await b.bff.capabilityToken('acme', 'ana');
    const onB = new Pusher('switchboard-key', {
      cluster: 'local',
      wsHost: '127.0.0.1',
      wsPort: b.bff.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { endpoint: `${b.bff.url}/v1/auth/pusher`, transport: 'ajax', headers: { Authorization: `Bearer ${token}` } },
      userAuthentication: { endpoint: `${b.bff.url}/v1/auth/pusher/user`, transport: 'ajax', headers: { Authorization: `Bearer ${token}` } },
    });
    clients.push(onB);
    onB.signin();
    await eventually(() => onB.user.serverToUserChannel?.subscribed === true);
    const anaOnA = await client(a, 'acme', 'ana');
    await join(anaOnA, 'private-orders.acme.9');

    const received = new Promise((resolve) => onB.user.bind('notice', resolve));
    expect((await a.bff.post('/v1/users/ana/events', { event: 'notice', data: { from: 'A' } }, API_KEYS.acme)).status).toBe(200);
    expect(await received).toEqual({ from: 'A' });

    const closedCodes: number[] = [];
    for (const pusher of [onB, anaOnA]) {
      pusher.connection.bind('error', (error: { data?: { code?: number } }) => error.data?.code === 4009 && closedCodes.push(4009));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
    expect((await b.bff.post('/v1/users/ana/terminate', {}, API_KEYS.acme)).status).toBe(200);
    await eventually(() => closedCodes.length === 2);
    // The token minted on B is refused on A as well.
    const refused = await fetch(`${a.bff.url}/v1/history?channel=orders:9`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(401);
  });

  it('keeps tenants apart across nodes', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const acmeOnB = record(await join(await client(b, 'acme', 'ana'), 'private-orders.acme.1'));
    const globexOnB = record(await join(await client(b, 'globex', 'ana'), 'private-orders.globex.1'));
    const globexOnA = record(await join(await client(a, 'globex', 'gus'), 'private-orders.globex.1'));
    const refused = (await client(b, 'globex', 'gus')).subscribe('private-orders.acme.1');
    expect(await new Promise<{ status: number }>((resolve) => refused.bind('pusher:subscription_error', resolve))).toMatchObject({ status: 403 });

    for (let index = 0; index < 10; index++) {
      await publish(a, 'acme', 'orders:1', { tenant: 'acme', index });
      await publish(a, 'globex', 'orders:1', { tenant: 'globex', index });
    }
    await Promise.all([acmeOnB.waitFor(10), globexOnB.waitFor(10), globexOnA.waitFor(10)]);
    await settle();
    const expected = (tenant: string) => Array.from({ length: 10 }, (_, index) => ({ tenant, index }));
    expect(acmeOnB.events.map((event) => (event.data as Envelope).data)).toEqual(expected('acme'));
    expect(globexOnB.events.map((event) => (event.data as Envelope).data)).toEqual(expected('globex'));
    expect(globexOnA.events.map((event) => (event.data as Envelope).data)).toEqual(expected('globex'));
  });

  it('carries whispers between sockets on different nodes, once, not back to the sender', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const anaLobby = await join(await client(a, 'acme', 'ana'), 'presence-chat.acme.lobby');
    const boLobby = await join(await client(b, 'acme', 'bo'), 'presence-chat.acme.lobby');
    const anaSaw = record(anaLobby);
    const boSaw = record(boLobby);

    const typing = nextWithMeta(boLobby, 'client-typing');
    anaLobby.trigger('client-typing', { on: true });
    expect(await typing).toEqual({ data: { on: true }, metadata: { user_id: 'ana' } });
    boLobby.trigger('client-typing', { on: false });
    await anaSaw.waitFor(1);
    await settle();
    expect(anaSaw.events).toEqual([{ event: 'client-typing', data: { on: false } }]);
    expect(boSaw.events).toEqual([{ event: 'client-typing', data: { on: true } }]);
  });

  it('shares presence members across nodes: one entry per user, joins and leaves announced once', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const anaLobby = (await join(await client(a, 'acme', 'ana'), 'presence-chat.acme.lobby')) as PresenceChannel;
    const anaEvents = memberEvents(anaLobby);
    const cyLobby = (await join(await client(b, 'acme', 'cy'), 'presence-chat.acme.lobby')) as PresenceChannel;
    const cyEvents = memberEvents(cyLobby);
    expect(Object.keys(cyLobby.members.members as Record<string, unknown>).sort()).toEqual(['ana', 'cy']);
    expect(cyLobby.members.get('ana')).toEqual({ id: 'ana', info: { name: 'ANA' } });
    await eventually(() => anaEvents.length === 1);

    const boOnA = await client(a, 'acme', 'bo');
    await join(boOnA, 'presence-chat.acme.lobby');
    await eventually(() => anaEvents.length === 2 && cyEvents.length === 1);
    const boOnB = await client(b, 'acme', 'bo');
    const boLobbyOnB = (await join(boOnB, 'presence-chat.acme.lobby')) as PresenceChannel;
    expect(boLobbyOnB.members.count).toBe(3);
    await settle();
    expect(await presenceList(a, 'chat:lobby')).toEqual(['ana', 'bo', 'cy']);
    expect(await presenceList(b, 'chat:lobby')).toEqual(['ana', 'bo', 'cy']);
    expect(await b.provider.occupancy('acme', 'chat:lobby')).toEqual({ subscribers: 4, presenceMembers: 3 });

    boOnA.disconnect(); // bo is still on B: nobody hears of a leave
    await settle();
    expect(anaEvents).toEqual(['+cy', '+bo']);
    expect(cyEvents).toEqual(['+bo']);
    boOnB.disconnect();
    await eventually(() => anaEvents.length === 3 && cyEvents.length === 2);
    await settle();
    expect(anaEvents).toEqual(['+cy', '+bo', '-bo']);
    expect(cyEvents).toEqual(['+bo', '-bo']);
    expect(anaLobby.members.count).toBe(2);
    expect(await presenceList(a, 'chat:lobby')).toEqual(['ana', 'cy']);
  });

  it('drops the members of a node that stops sending heartbeats, and ignores malformed messages', async () => {
    const a = await startNode();
    const anaLobby = await join(await client(a, 'acme', 'ana'), 'presence-chat.acme.lobby');
    const anaEvents = memberEvents(anaLobby);
    const anaSaw = record(anaLobby);
    const redis = rawRedis();
    const topic = `${prefixes.provider}switchboard:events`;
    const ghost = (message: Record<string, unknown>) => redis.publish(topic, JSON.stringify({ node: 'ghost-node', ...message }));

    await ghost({ kind: 'join', pseq: 1, channel: 'presence-chat.acme.lobby', userId: 'ghost', info: { name: 'GHOST' } });
    await ghost({ kind: 'alive', pseq: 1 });
    await eventually(() => anaEvents.length === 1);
    expect(await presenceList(a, 'chat:lobby')).toEqual(['ana', 'ghost']);

    const malformedBefore = a.provider.scaleOutStats()?.malformed ?? 0;
    await redis.publish(topic, 'not json');
    await ghost({ kind: 'event', channel: 'presence-chat.acme lobby', event: 'x', data: '{}' });
    await ghost({ kind: 'client', channel: 'presence-chat.acme.lobby', event: 'client-typing', data: '{broken' });
    await ghost({ kind: 'envelope', channel: 'presence-chat.acme.lobby', event: 'x', data: '{}' });
    await eventually(() => (a.provider.scaleOutStats()?.malformed ?? 0) === malformedBefore + 4);

    // A heartbeat showing a presence message this node never got: it asks the ghost for a snapshot.
    const listener = rawRedis();
    const heard: unknown[] = [];
    listener.on('message', (_topic: string, text: string) => heard.push(JSON.parse(text)));
    await listener.subscribe(topic);
    await ghost({ kind: 'alive', pseq: 2 });
    await eventually(() => heard.some((message) => JSON.stringify(message).includes('"kind":"sync","target":"ghost-node"')));
    // As a node sends it: with each member's info (a different info would show as an info change).
    const members = [{ channel: 'presence-chat.acme.lobby', userId: 'ghost', info: { name: 'GHOST' } }, { channel: 'presence-chat.acme.lobby', userId: 'ghost2' }];
    await ghost({ kind: 'snapshot', pseq: 3, members });
    await eventually(() => anaEvents.length === 2);

    // Silence: after three missed heartbeats the ghost's members leave.
    await eventually(() => anaEvents.length === 4, 3000);
    expect(anaEvents).toEqual(['+ghost', '+ghost2', '-ghost', '-ghost2']);
    expect(anaSaw.events).toEqual([]);
    expect(await presenceList(a, 'chat:lobby')).toEqual(['ana']);
  });

  it('keeps delivering locally through a Redis connection loss and resumes fan-out after reconnecting', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const onA = record(await join(await client(a, 'acme', 'ana'), 'private-orders.acme.7'));
    const onB = record(await join(await client(b, 'acme', 'bo'), 'private-orders.acme.7'));
    const cyLobby = (await join(await client(b, 'acme', 'cy'), 'presence-chat.acme.lobby')) as PresenceChannel;
    await join(await client(a, 'acme', 'ana'), 'presence-chat.acme.lobby');
    await eventually(() => cyLobby.members.count === 2);

    const admin = rawRedis();
    const ids = await connectionIds(admin, a.provider);
    expect(ids).toHaveLength(2);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    const sdk = new PusherServer({ appId: 'switchboard', key: 'switchboard-key', secret: 'switchboard-secret', host: '127.0.0.1', port: String(a.bff.port), useTLS: false });
    await sdk.trigger('private-orders.acme.7', 'note', { during: 'outage' });
    await onA.waitFor(1);
    expect(onA.events).toEqual([{ event: 'note', data: { during: 'outage' } }]);

    await eventually(() => a.provider.scaleOutStats()?.connected === true && (a.provider.scaleOutStats()?.remoteNodes ?? 0) === 1);
    expect(a.logs.map((log) => log.level)).toEqual(['error', 'info']);
    expect([200, 202]).toContain((await publish(b, 'acme', 'orders:7', { after: 'outage' })).status);
    await onA.waitFor(2);
    expect((onA.events[1]?.data as Envelope).data).toEqual({ after: 'outage' });
    await eventually(() => onB.events.some((event) => event.event === 'status'));
    expect(cyLobby.members.count).toBe(2);
  });

  it('close() says goodbye, unsubscribes and quits its Redis connections', async () => {
    const a = await startNode({ heartbeatMs: 60_000 });
    const b = await startNode({ heartbeatMs: 60_000 });
    const anaLobby = await join(await client(a, 'acme', 'ana'), 'presence-chat.acme.lobby');
    const anaEvents = memberEvents(anaLobby);
    await join(await client(b, 'acme', 'bo'), 'presence-chat.acme.lobby');
    await eventually(() => anaEvents.length === 1);

    const admin = rawRedis();
    expect(await connectionIds(admin, b.provider)).toHaveLength(2);
    const stats = b.provider.scaleOutStats();
    nodes.splice(nodes.indexOf(b), 1);
    await b.bff.close();
    // Far sooner than three missed heartbeats of a minute.
    await eventually(() => anaEvents.length === 2, 2000);
    expect(anaEvents).toEqual(['+bo', '-bo']);
    expect(b.provider.scaleOutStats()?.connected).toBe(false);
    const names = String(await admin.client('LIST'));
    expect(names).not.toContain(`sb-local:${stats?.node ?? 'none'}:`);
  });

  it('is configured from the environment: LOCAL_REDIS_URL, else REDIS_URL with the redis store, else single node', async () => {
    expect(localProviderOptionsFromEnv({ LOCAL_REDIS_URL: 'redis://cache:6380/2' }).redisUrl).toBe('redis://cache:6380/2');
    expect(() => localProviderOptionsFromEnv({ LOCAL_REDIS_URL: 'http://cache' })).toThrow(/LOCAL_REDIS_URL/);

    const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-scaleout-'));
    try {
      for (const [store, scaledOut] of [['redis', true], ['memory', false]] as const) {
        const { app } = await createServerFromEnv({
          NODE_ENV: 'test',
          SWITCHBOARD_PROVIDER: 'local',
          SWITCHBOARD_STORE: store,
          SWITCHBOARD_DATA_DIR: dataDir,
          REDIS_URL,
          LOG_LEVEL: 'silent',
        });
        const provider = app.switchboard.provider as LocalProvider;
        expect(provider.scaleOutStats() !== undefined).toBe(scaledOut);
        await app.shutdown();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
