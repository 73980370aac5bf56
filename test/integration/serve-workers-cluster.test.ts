/**
 * The cluster behaviours two BFF nodes have (local-scaleout, local-scaleout-terminate,
 * lifecycle-cluster), held by one `switchboard serve` with SWITCHBOARD_WORKERS=2: every case
 * puts clients on BOTH workers (placed with `ss`, see worker-placement.ts), on a serve of its
 * own Redis key prefix and Pusher app. A second serve, under a low open-files limit, refuses
 * connections past each worker's cap cleanly. Needs Redis (skipped with a notice when
 * unreachable, failing under CI=true).
 */
import { Agent } from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Channel, PresenceChannel } from 'pusher-js';
import PusherServer from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROLES } from '../../src/core/config.js';
import type { Envelope } from '../../src/core/envelope.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { signLocally } from '../../bench/lib/pusher-wire.js';
import { eventually, eventuallyValue } from '../helpers/eventually.js';
import { bffClient, join, record, type Pusher } from '../helpers/pusher-js.js';
import { RawClient } from '../helpers/raw-pusher-client.js';
import { servePrimaryWorkers, spawnServe } from '../helpers/serve-process.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';
import { testSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';
import { acceptedSockets, placeOn, pusherLocalPort, workerOf, wsLocalPort, type Placement } from '../helpers/worker-placement.js';

const decision = await redisCheck();
const runId = `wc${process.pid}${Date.now().toString(36)}`;
const APP = { id: runId, key: `k${runId}`, secret: `s${runId}-0123456789abcdef0123456789` };
const ADMIN_KEY = 'workers-cluster-admin-key-01';
const PRESENCE_CAP = 5;
const tenant = (name: string) => `${name}${runId}`;

interface Serve {
  child: ChildProcess;
  port: number;
  url: string;
  /** The workers forked at start-up, in the order `pgrep` listed them. */
  workers: number[];
  prefix: string;
  dataDir: string;
  /** The last of what it printed. */
  output(): string;
}

/** A 2-worker serve on the redis store, its own key prefix; resolves once both workers listen. */
async function startServe(name: string, env: Record<string, string>, openFiles?: number): Promise<Serve> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-workers-cluster-'));
  const prefix = `sbtest:${runId}:${name}:`;
  // The built-in namespaces and roles, plus presence rooms capped at PRESENCE_CAP members.
  const config = path.join(dataDir, 'switchboard.config.json');
  await writeFile(
    config,
    JSON.stringify({
      namespaces: { ...DEFAULT_NAMESPACES, room: { ...DEFAULT_NAMESPACES.chat, presenceMaxMembers: PRESENCE_CAP } },
      roles: { member: { ...DEFAULT_ROLES.member, 'room:*': ['subscribe', 'presence'] } },
    }),
  );
  const child = spawnServe(
    {
      SWITCHBOARD_WORKERS: '2',
      SWITCHBOARD_STORE: 'redis',
      REDIS_URL,
      SWITCHBOARD_REDIS_PREFIX: prefix,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_CONFIG: config,
      SWITCHBOARD_ADMIN_KEYS: ADMIN_KEY,
      SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS: '3',
      LOCAL_APP_ID: APP.id,
      LOCAL_APP_KEY: APP.key,
      LOCAL_APP_SECRET: APP.secret,
      // Every client of this test comes from 127.0.0.1.
      LOCAL_CONNECTION_RATE_PER_ADDRESS: '10000',
      LOCAL_CONNECTION_BURST_PER_ADDRESS: '10000',
      LOG_LEVEL: 'info',
      ...env,
    },
    { openFiles },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const port = await eventuallyValue(() => {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${output}`);
    const match = /"url":"http:\/\/localhost:(\d+)\/".*"workers":2/.exec(output);
    return match ? Number(match[1]) : undefined;
  }, 90_000);
  const workers = servePrimaryWorkers(child.pid!);
  expect(workers).toHaveLength(2);
  return { child, port, url: `http://127.0.0.1:${port}`, workers, prefix, dataDir, output: () => output };
}

async function stopServe(serve: Serve | undefined): Promise<void> {
  if (!serve) return;
  if (serve.child.exitCode === null && serve.child.signalCode === null) {
    const exited = new Promise((resolve) => serve.child.once('exit', resolve));
    serve.child.kill('SIGTERM');
    await exited;
  }
  await rm(serve.dataDir, { recursive: true, force: true });
  await deleteRedisKeys(REDIS_URL, serve.prefix);
}

let main: Serve | undefined;
let limited: Promise<Serve> | undefined;
let webhooks: WebhookReceiver;
const pushers: Pusher[] = [];

const s = () => main!;
const W = (index: 0 | 1) => s().workers[index]!;

function adminCall(serve: Serve, tenantId: string, route: string, body?: unknown): Promise<Response> {
  return fetch(`${serve.url}${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'switchboard-tenant': tenantId, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A capability token for `user` of `tenantId` (dev login, then POST /v1/token). */
async function capability(serve: Serve, tenantId: string, user: string): Promise<string> {
  const post = (route: string, body: unknown, bearer?: string) =>
    fetch(`${serve.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body: JSON.stringify(body) });
  const session = (await (await post('/v1/dev/session', { tenant: tenantId, user, name: user.toUpperCase() })).json()) as { token: string };
  const answer = await post('/v1/token', {}, session.token);
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { token: string }).token;
}

/** The Pusher server SDK against the serve's app; by default a fresh connection per request, so requests go round the workers. */
function sdk(serve: Serve, agent = new Agent({ keepAlive: false })): PusherServer {
  return new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(serve.port), useTLS: false, agent });
}

/** A pusher-js client placed on `worker`, connected. */
function pusherOn(worker: number, token: string): Promise<Pusher> {
  const placement: Placement<Pusher> = {
    open: async () => {
      const pusher = bffClient(s(), token, APP.key);
      pushers.push(pusher);
      await eventually(() => pusher.connection.state === 'connected', 10_000);
      return pusher;
    },
    localPort: pusherLocalPort,
    close: (pusher) => pusher.disconnect(),
  };
  return placeOn(s().port, s().workers, worker, placement);
}

const RAW_PATH = `/app/${APP.key}?protocol=7&client=js&version=8.6.0`;

/** A raw protocol client placed on `worker`, connected. */
function rawOn(serve: Serve, worker: number): Promise<RawClient> {
  return placeOn(serve.port, serve.workers, worker, { open: () => RawClient.connected(serve.port, RAW_PATH), localPort: (raw) => wsLocalPort(raw.ws), close: (raw) => raw.ws.terminate() });
}

/** What `POST /v1/auth/pusher` answers for this socket and channel (on whichever worker takes the request). */
async function channelAuth(serve: Serve, token: string, socketId: string, channel: string): Promise<Record<string, string>> {
  const response = await fetch(`${serve.url}/v1/auth/pusher`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ socket_id: socketId, channel_name: channel }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, string>;
}

/** Member events in the order a presence subscription saw them. */
function memberEvents(channel: Channel): string[] {
  const seen: string[] = [];
  channel.bind('pusher:member_added', (member: { id: string }) => seen.push(`+${member.id}`));
  channel.bind('pusher:member_removed', (member: { id: string }) => seen.push(`-${member.id}`));
  return seen;
}

/** Waits until the worker holding `pusher`'s socket has closed it (its close handled, members updated). */
async function disconnected(pusher: Pusher): Promise<void> {
  const port = pusherLocalPort(pusher);
  pusher.disconnect();
  await eventually(() => port === undefined || !acceptedSockets(s().port, s().workers).has(port), 10_000);
}

/** Lifecycle webhooks about `tenantId`, as an app deduplicating by id keeps them. */
const hooks = (tenantId: string) =>
  webhooks
    .unique()
    .filter(({ event }) => event.data.tenant === tenantId)
    .map(({ event }) => `${event.type}${event.data.user ? ` ${event.data.user}` : ''}`);

/** A raw client that either got in (connection_established) or was refused (closed with a code). */
async function attempt(port: number): Promise<{ raw: RawClient; refused?: number }> {
  const raw = await RawClient.open(port, RAW_PATH);
  const outcome = await Promise.race([raw.next('pusher:connection_established').then((frame) => frame), raw.closed]);
  if ('code' in outcome) return { raw, refused: outcome.code };
  raw.socketId = (outcome.data as { socket_id: string }).socket_id;
  return { raw };
}

/** The second serve: 400 open files with 360 reserved leave each worker 40 WebSocket connections; 50 in the cluster. */
const LIMITED = { openFiles: 400, connectionCap: 40, clusterCap: 50 };

describe.skipIf(decision === 'skip')('serve with two workers', () => {
  beforeAll(async () => {
    requireService(decision, 'Redis');
    webhooks = await WebhookReceiver.start(testSecret(runId));
    // Both serves start at once: start-up under tsx is the slow part.
    limited = startServe(
      'limited',
      {
        SWITCHBOARD_RESERVED_DESCRIPTORS: String(LIMITED.openFiles - LIMITED.connectionCap),
        LOCAL_MAX_CONNECTIONS: String(LIMITED.clusterCap),
        // Raw clients answer no pusher:ping: no idle check while the test holds them.
        LOCAL_ACTIVITY_TIMEOUT_SECONDS: '3600',
      },
      LIMITED.openFiles,
    );
    limited.catch(() => undefined);
    main = await startServe('main', { SWITCHBOARD_WEBHOOK_URL: webhooks.url, SWITCHBOARD_WEBHOOK_SECRET: testSecret(runId) });
  }, 120_000);

  afterAll(async () => {
    for (const pusher of pushers.splice(0)) pusher.disconnect();
    await Promise.all([stopServe(main), limited?.then(stopServe, () => undefined)]);
    await webhooks?.close();
  }, 40_000);

  describe('holds the cluster behaviours of two nodes', () => {

    it('counts cluster-wide: subscription_count, user_count and channel listings answer the same on both workers', async () => {
      const t = tenant('c');
      await join(await pusherOn(W(0), await capability(s(), t, 'ana')), `private-orders.${t}.7`);
      await join(await pusherOn(W(1), await capability(s(), t, 'bo')), `private-orders.${t}.7`);
      await join(await pusherOn(W(1), await capability(s(), t, 'cy')), `presence-chat.${t}.lobby`);
      const api = sdk(s());
      const query = async (route: string, params?: Record<string, string>) => (await api.get({ path: route, ...(params ? { params } : {}) })).json() as Promise<unknown>;
      const expected = async () =>
        JSON.stringify([
          await query('/channels'),
          await query(`/channels/presence-chat.${t}.lobby`, { info: 'user_count,subscription_count' }),
          await query(`/channels/private-orders.${t}.7`, { info: 'subscription_count' }),
          await query('/channels', { filter_by_prefix: 'presence-', info: 'user_count' }),
        ]);
      const want = JSON.stringify([
        { channels: { [`private-orders.${t}.7`]: {}, [`presence-chat.${t}.lobby`]: {} } },
        { occupied: true, user_count: 1, subscription_count: 1 },
        { occupied: true, subscription_count: 2 },
        { channels: { [`presence-chat.${t}.lobby`]: { user_count: 1 } } },
      ]);
      const sorted = (text: string) => JSON.stringify(JSON.parse(text), (_key, value: unknown) => (value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort()) : value));
      // Each worker hears of the other's subscribers within a report interval; then every answer (fresh connections, both workers) agrees.
      await eventually(async () => {
        for (let round = 0; round < 4; round++) if (sorted(await expected()) !== sorted(want)) return false;
        return true;
      }, 20_000);
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('delivers /v1/publish and Pusher HTTP API events to subscribers on both workers exactly once, in order', async () => {
      const t = tenant('p');
      const onA = record(await join(await pusherOn(W(0), await capability(s(), t, 'ana')), `private-orders.${t}.1001`));
      const onB = record(await join(await pusherOn(W(1), await capability(s(), t, 'bo')), `private-orders.${t}.1001`));
      for (let index = 0; index < 4; index++) expect([200, 202]).toContain((await adminCall(s(), t, '/v1/publish', { channel: 'orders:1001', event: 'status', data: { index } })).status);
      await Promise.all([onA.waitFor(4), onB.waitFor(4)]);
      // Pusher HTTP API triggers through one connection (one worker): in order everywhere; the last marks the end.
      const oneConnection = sdk(s(), new Agent({ keepAlive: true, maxSockets: 1 }));
      for (const n of [1, 2, 3]) await oneConnection.trigger(`private-orders.${t}.1001`, 'note', { n });
      await Promise.all([onA.waitFor(7), onB.waitFor(7)]);
      for (const seen of [onA, onB]) {
        expect(seen.events.slice(0, 4).map((event) => (event.data as Envelope).seq)).toEqual([1, 2, 3, 4]);
        expect(seen.events.slice(0, 4).map((event) => (event.data as Envelope).data)).toEqual([0, 1, 2, 3].map((index) => ({ index })));
        expect(seen.events.slice(4)).toEqual([1, 2, 3].map((n) => ({ event: 'note', data: { n } })));
      }
      // Triggers on fresh connections, so on each worker in turn: once each everywhere. Not necessarily in order: a
      // tab gets a trigger taken by its own worker at once and the other worker's over Redis, as with two nodes.
      for (const n of [4, 5, 6, 7]) await sdk(s()).trigger(`private-orders.${t}.1001`, 'note', { n });
      await Promise.all([onA.waitFor(11), onB.waitFor(11)]);
      for (const seen of [onA, onB]) expect(seen.events.slice(7).map((event) => (event.data as { n: number }).n).sort()).toEqual([4, 5, 6, 7]);
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('reaches a signed-in user on both workers; terminate closes her sockets on every worker and the authorizations she fetched ahead', async () => {
      const t = tenant('u');
      const token = await capability(s(), t, 'ana');
      const tabs = [await pusherOn(W(0), token), await pusherOn(W(1), token)];
      for (const tab of tabs) tab.signin();
      await eventually(() => tabs.every((tab) => tab.user.serverToUserChannel?.subscribed === true), 10_000);
      const notices = tabs.map((tab) => {
        const got: unknown[] = [];
        tab.user.bind('notice', (data: unknown) => got.push(data));
        return got;
      });
      for (const n of [1, 2]) expect((await adminCall(s(), t, '/v1/users/ana/events', { event: 'notice', data: { n } })).status).toBe(200);
      await eventually(() => notices.every((got) => got.length >= 2), 10_000);
      // Once each. (Not necessarily in order: two requests taken by different workers reach a tab by different paths, as with two nodes.)
      for (const got of notices) expect(got.map((notice) => JSON.stringify(notice)).sort()).toEqual([JSON.stringify({ n: 1 }), JSON.stringify({ n: 2 })]);

      // Raw sockets on each worker with an authorization fetched ahead (from whichever worker took the request), not used yet.
      const ahead = [await rawOn(s(), W(0)), await rawOn(s(), W(1))];
      for (const raw of ahead) await channelAuth(s(), token, raw.socketId, `private-orders.${t}.1`);
      const closedCodes: number[] = [];
      for (const tab of tabs) tab.connection.bind('error', (error: { data?: { code?: number } }) => error.data?.code === 4009 && closedCodes.push(4009));
      // Revocations count in whole seconds from the token's issue time.
      const minted = Math.floor(Date.now() / 1000);
      await eventually(() => Math.floor(Date.now() / 1000) > minted, 2_000);
      expect((await adminCall(s(), t, '/v1/users/ana/terminate', {})).status).toBe(200);
      await eventually(() => closedCodes.length === 2, 10_000);
      for (const raw of ahead) expect((await raw.closed).code).toBe(4009);
      const refused = await fetch(`${s().url}/v1/history?channel=orders:1`, { headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(401);
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('keeps tenants apart across workers', async () => {
      const [a, b] = [tenant('ta'), tenant('tb')];
      const aOn1 = record(await join(await pusherOn(W(1), await capability(s(), a, 'ana')), `private-orders.${a}.1`));
      const bOn1 = record(await join(await pusherOn(W(1), await capability(s(), b, 'ana')), `private-orders.${b}.1`));
      const bOn0 = record(await join(await pusherOn(W(0), await capability(s(), b, 'gus')), `private-orders.${b}.1`));
      const intruder = (await pusherOn(W(0), await capability(s(), b, 'gus'))).subscribe(`private-orders.${a}.1`);
      expect(await new Promise<{ status: number }>((resolve) => intruder.bind('pusher:subscription_error', resolve))).toMatchObject({ status: 403 });
      for (let index = 0; index < 5; index++) {
        await adminCall(s(), a, '/v1/publish', { channel: 'orders:1', event: 'status', data: { tenant: 'a', index } });
        await adminCall(s(), b, '/v1/publish', { channel: 'orders:1', event: 'status', data: { tenant: 'b', index } });
      }
      await Promise.all([aOn1.waitFor(5), bOn1.waitFor(5), bOn0.waitFor(5)]);
      const expected = (name: string) => Array.from({ length: 5 }, (_, index) => ({ tenant: name, index }));
      expect(aOn1.events.map((event) => (event.data as Envelope).data)).toEqual(expected('a'));
      expect(bOn1.events.map((event) => (event.data as Envelope).data)).toEqual(expected('b'));
      expect(bOn0.events.map((event) => (event.data as Envelope).data)).toEqual(expected('b'));
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('carries whispers between workers once, not back to the sender', async () => {
      const t = tenant('w');
      const anaLobby = await join(await pusherOn(W(0), await capability(s(), t, 'ana')), `presence-chat.${t}.lobby`);
      const boLobby = await join(await pusherOn(W(1), await capability(s(), t, 'bo')), `presence-chat.${t}.lobby`);
      const [anaSaw, boSaw] = [record(anaLobby), record(boLobby)];
      anaLobby.trigger('client-typing', { on: true });
      await boSaw.waitFor(1);
      boLobby.trigger('client-typing', { on: false });
      await anaSaw.waitFor(1);
      // Each side's own whisper, echoed, would have come before the other's answer.
      expect(anaSaw.events).toEqual([{ event: 'client-typing', data: { on: false } }]);
      expect(boSaw.events).toEqual([{ event: 'client-typing', data: { on: true } }]);
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('shares presence across workers: one entry per user (tabs on both), joins and leaves announced once', async () => {
      const t = tenant('m');
      const channel = `presence-chat.${t}.lobby`;
      const lobby = async (worker: number, user: string) => (await join(await pusherOn(worker, await capability(s(), t, user)), channel)) as PresenceChannel;
      const ana = await lobby(W(0), 'ana');
      const anaEvents = memberEvents(ana);
      const cy = await lobby(W(1), 'cy');
      const cyEvents = memberEvents(cy);
      expect(Object.keys(cy.members.members as Record<string, unknown>).sort()).toEqual(['ana', 'cy']);
      expect(cy.members.get('ana')).toEqual({ id: 'ana', info: { name: 'ANA' } });
      await eventually(() => anaEvents.length === 1);
      const boTabs = [await pusherOn(W(0), await capability(s(), t, 'bo'))];
      await join(boTabs[0]!, channel);
      await eventually(() => anaEvents.length === 2 && cyEvents.length === 1);
      boTabs.push(await pusherOn(W(1), await capability(s(), t, 'bo')));
      expect(((await join(boTabs[1]!, channel)) as PresenceChannel).members.count).toBe(3);
      const members = async () => ((await (await adminCall(s(), t, '/v1/channels/chat:lobby/presence')).json()) as { members: { id: string }[] }).members.map((m) => m.id).sort();
      expect(await members()).toEqual(['ana', 'bo', 'cy']);

      // bo's tab on worker 0 goes (bo stays on worker 1): nobody hears of it. A join on that worker after it marks the end.
      await disconnected(boTabs[0]!);
      await lobby(W(0), 'dee');
      await eventually(() => anaEvents.length === 3 && cyEvents.length === 2);
      expect(anaEvents).toEqual(['+cy', '+bo', '+dee']);
      expect(cyEvents).toEqual(['+bo', '+dee']);
      // Its last tab goes: one leave, everywhere; a join on that worker after it marks the end.
      await disconnected(boTabs[1]!);
      await lobby(W(1), 'eve');
      await eventually(() => anaEvents.length === 5 && cyEvents.length === 4);
      expect(anaEvents).toEqual(['+cy', '+bo', '+dee', '-bo', '+eve']);
      expect(cyEvents).toEqual(['+bo', '+dee', '-bo', '+eve']);
      await eventually(async () => JSON.stringify(await members()) === JSON.stringify(['ana', 'cy', 'dee', 'eve']));
      for (const pusher of pushers.splice(0)) pusher.disconnect();
    }, 40_000);

    it('admits at most the presence cap of distinct users under a burst split between the workers, each user once across tabs', async () => {
      const t = tenant('b');
      const channel = `presence-room.${t}.burst`;
      const users = Array.from({ length: 10 }, (_, index) => `u${index}`);
      const tokens = await Promise.all(users.map((user) => capability(s(), t, user)));
      // Sockets until each worker has six: five users there, and the first user of the other half as a second tab.
      const byWorker = new Map<number, RawClient[]>(s().workers.map((worker) => [worker, []]));
      while ([...byWorker.values()].some((list) => list.length < 6)) {
        const raw = await RawClient.connected(s().port, RAW_PATH);
        const list = byWorker.get(await workerOf(s().port, s().workers, wsLocalPort(raw.ws)!))!;
        if (list.length < 6) list.push(raw);
        else raw.ws.terminate();
      }
      const [on0, on1] = [byWorker.get(W(0))!, byWorker.get(W(1))!];
      const tabs = [
        ...users.slice(0, 5).map((user, index) => ({ user, raw: on0[index]! })),
        ...users.slice(5).map((user, index) => ({ user, raw: on1[index]! })),
        { user: users[5]!, raw: on0[5]! },
        { user: users[0]!, raw: on1[5]! },
      ];
      const auths = await Promise.all(tabs.map(({ user, raw }) => channelAuth(s(), tokens[users.indexOf(user)]!, raw.socketId, channel)));
      const answers = await Promise.all(tabs.map(({ raw }, index) => raw.subscribe(channel, auths[index]!)));
      const admitted = new Set(tabs.filter((_, index) => answers[index]?.event === 'pusher_internal:subscription_succeeded').map((tab) => tab.user));
      expect(admitted.size).toBe(PRESENCE_CAP);
      for (const [index, answer] of answers.entries()) {
        if (admitted.has(tabs[index]!.user)) expect(answer?.event).toBe('pusher_internal:subscription_succeeded');
        else expect(answer?.data).toMatchObject({ status: 4100 });
      }
      const presenceMembers = async () => ((await (await adminCall(s(), t, '/v1/channels/room:burst/occupancy')).json()) as { presenceMembers?: number }).presenceMembers;
      await eventually(async () => (await presenceMembers()) === PRESENCE_CAP, 10_000);
      for (const { raw } of tabs) raw.ws.terminate();
    }, 40_000);

    it('sends lifecycle webhooks once per cluster: channel occupied / vacated, members joined / left, whichever worker the sockets are on', async () => {
      const t = tenant('h');
      const channel = `presence-chat.${t}.lobby`;
      const anaToken = await capability(s(), t, 'ana');
      const anaOn0 = await pusherOn(W(0), anaToken);
      await join(anaOn0, channel);
      await webhooks.waitFor(() => hooks(t).length >= 2);
      const anaOn1 = await pusherOn(W(1), anaToken);
      await join(anaOn1, channel);
      const bo = await pusherOn(W(1), await capability(s(), t, 'bo'));
      await join(bo, channel);
      await webhooks.waitFor(() => hooks(t).length >= 3);
      await disconnected(anaOn0); // ana is still on worker 1
      await disconnected(bo);
      await webhooks.waitFor(() => hooks(t).length >= 4);
      await disconnected(anaOn1);
      await webhooks.waitFor(() => hooks(t).includes('channel.vacated'));
      // One queue per channel: a duplicate of any of them would be ahead of the last.
      expect(hooks(t)).toEqual(['channel.occupied', 'presence.joined ana', 'presence.joined bo', 'presence.left bo', 'presence.left ana', 'channel.vacated']);
      expect(webhooks.rejected).toBe(0);
    }, 40_000);

    it("reaps a SIGKILLed worker's presence members once (client events and webhooks), and its replacement serves", async () => {
      const t = tenant('k');
      const channel = `presence-chat.${t}.lobby`;
      const [victim, survivor] = [W(0), W(1)];
      const watcher = (await join(await pusherOn(survivor, await capability(s(), t, 'obs')), channel)) as PresenceChannel;
      const seen = memberEvents(watcher);
      // Raw sockets on the victim: they do not reconnect (pusher-js would, and join again).
      const joinRaw = async (worker: number, user: string) => {
        const raw = await rawOn(s(), worker);
        const answer = await raw.subscribe(channel, await channelAuth(s(), await capability(s(), t, user), raw.socketId, channel));
        expect(answer.event).toBe('pusher_internal:subscription_succeeded');
        return raw;
      };
      await joinRaw(victim, 'carol');
      await joinRaw(victim, 'dave');
      const daveOnSurvivor = await joinRaw(survivor, 'dave');
      await eventually(() => seen.length === 2);
      await webhooks.waitFor(() => hooks(t).length >= 4);

      process.kill(victim, 'SIGKILL');
      const replacement = eventuallyValue(() => servePrimaryWorkers(s().child.pid!).find((pid) => !s().workers.includes(pid)), 60_000);
      // carol leaves after the victim misses its heartbeats (5 s each); dave is still on the survivor.
      await eventually(() => seen.length === 3, 40_000);
      // The lifecycle ledger reaps the victim on its own clock: dave leaves after that, so his leave is the survivor's.
      await webhooks.waitFor(() => hooks(t).includes('presence.left carol'), 40_000);
      daveOnSurvivor.ws.close();
      await eventually(() => seen.length === 4, 10_000);
      expect(seen).toEqual(['+carol', '+dave', '-carol', '-dave']);
      await webhooks.waitFor(() => hooks(t).includes('presence.left dave'), 40_000);
      expect(hooks(t)).toEqual(['channel.occupied', 'presence.joined obs', 'presence.joined carol', 'presence.joined dave', 'presence.left carol', 'presence.left dave']);

      const fresh = await replacement;
      const workers = [survivor, fresh];
      const late = await placeOn(s().port, workers, fresh, {
        open: async () => {
          const pusher = bffClient(s(), await capability(s(), t, 'late'), APP.key);
          pushers.push(pusher);
          await eventually(() => pusher.connection.state === 'connected', 30_000);
          return pusher;
        },
        localPort: pusherLocalPort,
        close: (pusher) => pusher.disconnect(),
      });
      const onFresh = record(await join(late, `private-orders.${t}.2`));
      expect([200, 202]).toContain((await adminCall(s(), t, '/v1/publish', { channel: 'orders:2', event: 'status', data: { after: 'kill' } })).status);
      await onFresh.waitFor(1);
      expect((onFresh.events[0]?.data as Envelope).data).toEqual({ after: 'kill' });
    }, 90_000);
  });

  describe('under a low open-files limit', () => {
    it('refuses WebSockets past one worker its descriptor cap with 4100 while the other still admits up to LOCAL_MAX_CONNECTIONS, cluster-wide; /healthz keeps answering', async () => {
      const serve = await limited!;
      const t = tenant('d');
      const channel = `presence-chat.${t}.lobby`;
      let users = 0;
      /** Subscribed, so that it counts as a signed-in connection (not against the unauthenticated share). */
      const member = async (raw: RawClient) => {
        const answer = await raw.subscribe(channel, signLocally({ appKey: APP.key, appSecret: APP.secret }, raw.socketId, channel, { userId: `u${users++}`, info: {}, clientEvents: [] }));
        expect(answer.event).toBe('pusher_internal:subscription_succeeded');
      };
      const [first, second] = serve.workers as [number, number];
      const held: RawClient[] = [];
      // Fill the first worker to its cap; what lands on the second is closed.
      let refusedOnFirst: number | undefined;
      while (refusedOnFirst === undefined) {
        const { raw, refused } = await attempt(serve.port);
        if (refused !== undefined) {
          refusedOnFirst = refused;
          break;
        }
        const worker = await workerOf(serve.port, serve.workers, wsLocalPort(raw.ws)!);
        if (worker === first) {
          await member(raw);
          held.push(raw);
          expect(held.length).toBeLessThanOrEqual(LIMITED.connectionCap);
        } else {
          raw.ws.terminate();
        }
      }
      // Refused by the first worker (the second had at most one connection at a time), cleanly, for being at its cap
      // (presence members, subscribed, no longer count against the unauthenticated share of cap/4: they used to until a sweep).
      expect(refusedOnFirst).toBe(4100);
      await eventually(() => serve.output().includes('"refused":{"websocket:over_capacity":1}'));
      expect(serve.output()).not.toContain('unauthenticated_limit');
      expect(held).toHaveLength(LIMITED.connectionCap);
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
      // The second worker, with the first's 40 in the cluster, still admits: the cap is each worker's own.
      const onSecond = await eventuallyValue(async () => {
        const { raw, refused } = await attempt(serve.port);
        if (refused !== undefined) return undefined;
        if ((await workerOf(serve.port, serve.workers, wsLocalPort(raw.ws)!)) === second) return raw;
        raw.ws.terminate();
        throw new Error('the first worker admitted past its cap');
      });
      await member(onSecond);
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
      // LOCAL_MAX_CONNECTIONS counts the cluster: the second worker, far under its own cap, stops at 50 in all.
      const onSecondAll = [onSecond];
      while (held.length + onSecondAll.length < LIMITED.clusterCap) {
        const { raw, refused } = await attempt(serve.port);
        if (refused !== undefined) continue; // landed on the full first worker
        expect(await workerOf(serve.port, serve.workers, wsLocalPort(raw.ws)!)).toBe(second);
        await member(raw);
        onSecondAll.push(raw);
      }
      const secondRefusal = new RegExp(`"pid":${second},[^\n]*"websocket:over_capacity"`);
      await eventuallyValue(async () => {
        const { raw, refused } = await attempt(serve.port);
        if (refused === undefined) {
          raw.ws.terminate();
          throw new Error(`admitted past LOCAL_MAX_CONNECTIONS=${LIMITED.clusterCap}`);
        }
        expect(refused).toBe(4100);
        return secondRefusal.test(serve.output());
      });
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
      for (const raw of [...held, ...onSecondAll]) raw.ws.terminate();
    }, 120_000);
  });
});
