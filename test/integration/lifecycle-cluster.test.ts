/**
 * Lifecycle events with several BFF nodes on one Redis (event log, webhook outbox, local
 * provider scale-out): a channel is occupied / vacated and a user joins / leaves once for
 * the whole cluster; a SIGKILLed node's members leave once, though two survivors reap it.
 * Needs Redis at REDIS_URL (skipped with a notice when unreachable, failing under CI=true).
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { WebhookEvent } from '../../providers/types.js';
import { fromProviderEvent } from '../../src/server/lifecycle/events.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { LifecycleCluster } from '../../src/server/lifecycle/cluster.js';
import { createLogger } from '../../src/server/logger.js';
import { atomicWebhooksFor, type Lifecycle } from '../../src/server/lifecycle/index.js';
import type { OutboxMessage } from '../../src/server/lifecycle/outbox.js';
import { RedisWebhookOutbox } from '../../src/server/lifecycle/redis-outbox.js';
import { LifecycleStream } from '../../src/server/lifecycle/stream.js';
import { grant } from '../helpers/local-harness.js';
import { spawnLifecycleNode, startLifecycleNode, type LifecycleNodeConfig } from '../helpers/lifecycle-node.js';
import { RawClient } from '../helpers/raw-pusher-client.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';
import { testSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = testSecret('cluster');

function fromProvider(event: WebhookEvent) {
  const input = fromProviderEvent(event);
  if (!input) throw new Error(`not a lifecycle event: ${event.kind}`);
  return input;
}
const NODE_TTL_MS = 600;
const LOBBY = toPusherChannel('acme', 'chat:lobby', true);
const runId = `sbtest:lifecycle:${process.pid}:${Date.now()}`;
let testCount = 0;

type Node = Awaited<ReturnType<typeof startLifecycleNode>>;
const nodes: Node[] = [];
const children: ChildProcess[] = [];
let app: WebhookReceiver | undefined;
let config: LifecycleNodeConfig;

function spawnNode(): Promise<{ child: ChildProcess; port: number }> {
  return spawnLifecycleNode(config, (child) => children.push(child));
}

/** Joins `user` to the lobby over a socket on `port`; any node's provider signs (same dev secret). */
async function join(port: number, user: string): Promise<RawClient> {
  const client = await RawClient.connected(port);
  const signer = nodes[0]!.provider;
  await client.subscribe(LOBBY, signer.authorizeChannel({ grant: grant('acme', user), socketId: client.socketId, channel: 'chat:lobby', providerChannel: LOBBY, presence: true, clientEvents: [] }));
  return client;
}

const seen = () => app!.unique().map(({ event }) => `${event.type}${event.data.user ? ` ${event.data.user}` : ''}`);

async function expectSeen(expected: string[]): Promise<void> {
  await app!.waitFor(() => app!.unique().length >= expected.length, 8_000).catch(() => undefined);
  expect(seen()).toEqual(expected);
}

const redisDecision = await redisCheck();

describe.skipIf(redisDecision === 'skip')('lifecycle events across BFF nodes on Redis', () => {
  beforeAll(() => requireService(redisDecision, 'Redis'));

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(nodes.splice(0).map((node) => node.running.close()));
    await app?.close();
    await deleteRedisKeys(REDIS_URL, `${runId}:${testCount}:`);
  });

  async function setUp(): Promise<void> {
    testCount++;
    app = await WebhookReceiver.start(SECRET);
    config = {
      redisUrl: REDIS_URL,
      storePrefix: `${runId}:${testCount}:store:`,
      providerPrefix: `${runId}:${testCount}:local:`,
      webhookUrl: app.url,
      secret: SECRET,
      nodeTtlMs: NODE_TTL_MS,
    };
  }

  it('reports occupancy and presence once for the cluster, whichever node the sockets are on', async () => {
    await setUp();
    const [a, b] = [await startLifecycleNode(config), await startLifecycleNode(config)];
    nodes.push(a, b);
    const anaOnA = await join(a.running.port, 'ana');
    await expectSeen(['channel.occupied', 'presence.joined ana']);
    const anaOnB = await join(b.running.port, 'ana');
    const boOnB = await join(b.running.port, 'bo');
    await expectSeen(['channel.occupied', 'presence.joined ana', 'presence.joined bo']);
    anaOnA.ws.terminate(); // ana is still on B
    boOnB.ws.terminate();
    await expectSeen(['channel.occupied', 'presence.joined ana', 'presence.joined bo', 'presence.left bo']);
    anaOnB.ws.terminate();
    await expectSeen(['channel.occupied', 'presence.joined ana', 'presence.joined bo', 'presence.left bo', 'presence.left ana', 'channel.vacated']);
    expect(app!.rejected).toBe(0);
  });

  it("a SIGKILLed node's members leave once, though two survivors reap it; the channel stays occupied while a survivor has a subscriber", async () => {
    await setUp();
    nodes.push(await startLifecycleNode(config), await startLifecycleNode(config));
    const [a] = nodes as [Node, Node];
    const killed = await spawnNode();
    await join(killed.port, 'carol');
    await expectSeen(['channel.occupied', 'presence.joined carol']);
    await join(killed.port, 'dave');
    await expectSeen(['channel.occupied', 'presence.joined carol', 'presence.joined dave']);
    const daveOnA = await join(a.running.port, 'dave');

    killed.child.kill('SIGKILL');
    await expectSeen(['channel.occupied', 'presence.joined carol', 'presence.joined dave', 'presence.left carol']);
    // Both survivors have had several reaping rounds: still nothing twice.
    await new Promise((resolve) => setTimeout(resolve, NODE_TTL_MS * 2));
    expect(seen()).toEqual(['channel.occupied', 'presence.joined carol', 'presence.joined dave', 'presence.left carol']);

    daveOnA.ws.terminate();
    await expectSeen(['channel.occupied', 'presence.joined carol', 'presence.joined dave', 'presence.left carol', 'presence.left dave', 'channel.vacated']);
  });

  it("a channel's webhooks are queued in the order Redis decided, however slowly each node records them", async () => {
    testCount++;
    const keyPrefix = `${runId}:${testCount}:store:`;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const logger = createLogger('silent');
    const outbox = new RedisWebhookOutbox(redis, keyPrefix);
    /** A node whose own outbox writes are slow (a loaded process): its stream waits before each enqueue. */
    const node = (nodeId: string, delayMs: number) => {
      const slow = Object.assign(Object.create(outbox) as RedisWebhookOutbox, {
        enqueue: async (messages: OutboxMessage[]) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          await outbox.enqueue(messages);
        },
      });
      const stream = new LifecycleStream({ outbox: slow, logger });
      const lifecycle: Lifecycle = { stream, outbox: slow, sender: undefined, close: async () => {} };
      const cluster = new LifecycleCluster({ redis, keyPrefix, nodeId, nodeTtlMs: 60_000, logger });
      cluster.start(async (event) => void (await stream.publish([fromProvider(event)])), atomicWebhooksFor(lifecycle));
      return cluster;
    };
    const [a, b] = [node('a', 300), node('b', 0)];
    try {
      const lobby = { tenant: 'acme', channel: 'chat:lobby' };
      a.report({ kind: 'member_added', ...lobby, userId: 'ana' });
      await a.tick();
      // ana's last tab closes on a, and she opens one on b right after.
      a.report({ kind: 'member_removed', ...lobby, userId: 'ana' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      b.report({ kind: 'member_added', ...lobby, userId: 'ana' });
      await Promise.all([a.tick(), b.tick()]);
      const order: string[] = [];
      for (let now = 1; order.length < 3 && now < 20; now++) {
        for (const head of await outbox.claimDue(Date.now() + now, 10, 1)) {
          order.push((JSON.parse(head.payload) as { type: string }).type);
          await outbox.delivered(head.id);
        }
      }
      expect(order).toEqual(['presence.joined', 'presence.left', 'presence.joined']);
      await a.close();
      await b.close();
    } finally {
      redis.disconnect();
    }
  });

  it('a node reaped during a stall adds its members back at its next heartbeat; every change is reported once', async () => {
    testCount++;
    const keyPrefix = `${runId}:${testCount}:store:`;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const seenEvents: string[] = [];
    const record = (node: string) => (event: WebhookEvent) => seenEvents.push(`${node} ${event.kind}${'userId' in event ? ` ${event.userId}` : ''}`);
    // Long TTLs: the test drives every heartbeat itself.
    const [a, b] = ['a', 'b'].map((nodeId) => new LifecycleCluster({ redis, keyPrefix, nodeId, nodeTtlMs: 60_000, logger: createLogger('silent') })) as [LifecycleCluster, LifecycleCluster];
    try {
      a.start(record('a'));
      b.start(record('b'));
      const channel = { tenant: 'acme', channel: 'chat:lobby' };
      a.report({ kind: 'channel_occupied', ...channel });
      a.report({ kind: 'member_added', ...channel, userId: 'ana' });
      b.report({ kind: 'channel_occupied', ...channel });
      await Promise.all([a.tick(), b.tick()]);
      expect(seenEvents).toEqual(['a channel_occupied', 'a member_added ana']);

      await redis.del(`${keyPrefix}lc:alive:a`); // a stalls past its TTL
      await b.tick();
      expect(seenEvents.slice(2)).toEqual(['b member_removed ana']);
      await a.tick(); // a lives on: ana is back, the channel never stopped being occupied
      await b.tick();
      expect(seenEvents.slice(3)).toEqual(['a member_added ana']);

      await a.close();
      await b.close();
      expect(seenEvents.slice(4)).toEqual(['a member_removed ana', 'b channel_vacated']);
    } finally {
      redis.disconnect();
    }
  });
});
