/**
 * One contract, every webhook outbox: memory, sqlite (in the event log's file) and redis
 * (in the event log's Redis; skipped with a notice when unreachable unless CI=true).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookOutbox } from '../../src/server/lifecycle/create-outbox.js';
import { clipError, type OutboxMessage, type WebhookOutbox } from '../../src/server/lifecycle/outbox.js';
import { createEventStore, type EventStoreOptions } from '../../src/server/log/index.js';
import type { EventStore } from '../../src/server/log/store.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

interface Opened {
  outbox: WebhookOutbox;
  store: EventStore;
}

interface Harness {
  /** An outbox on the same data (a second node for redis, a reopened file for sqlite). */
  open(): Promise<Opened>;
  cleanup(): Promise<void>;
}

interface OutboxKind {
  name: string;
  persistent: boolean;
  shared: boolean;
  create(): Promise<Harness>;
}

async function openWith(options: EventStoreOptions): Promise<Opened> {
  const store = await createEventStore(options);
  return { store, outbox: createWebhookOutbox(options, store) };
}

const runPrefix = `sbtest:wh:${process.pid}:${Date.now()}:`;
let harnessCount = 0;

const kinds: OutboxKind[] = [
  {
    name: 'memory',
    persistent: false,
    shared: false,
    async create() {
      const opened = await openWith({ kind: 'memory', dataDir: '', redisUrl: REDIS_URL });
      return { open: async () => opened, cleanup: async () => {} };
    },
  },
  {
    name: 'sqlite',
    persistent: true,
    shared: false,
    async create() {
      const dir = await mkdtemp(path.join(tmpdir(), 'sb-outbox-'));
      return {
        open: () => openWith({ kind: 'sqlite', dataDir: path.join(dir, 'data'), redisUrl: REDIS_URL }),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
];

const redisDecision = await redisCheck();
if (redisDecision !== 'skip') {
  kinds.push({
    name: 'redis',
    persistent: true,
    shared: true,
    async create() {
      requireService(redisDecision, 'Redis');
      const redisKeyPrefix = `${runPrefix}${++harnessCount}:`;
      return {
        open: () => openWith({ kind: 'redis', dataDir: '', redisUrl: REDIS_URL, redisKeyPrefix }),
        cleanup: () => deleteRedisKeys(REDIS_URL, redisKeyPrefix),
      };
    },
  });
}

const LEASE = 10_000;

function message(id: string, orderKey = 'acme\u0000orders:1', tenant = 'acme', queuedAt = 1_000): OutboxMessage {
  return { id, orderKey, tenant, payload: JSON.stringify({ id, type: 'channel.occupied', data: { tenant, n: '\u00e9/"' } }), queuedAt };
}

describe.each(kinds)('WebhookOutbox contract: $name', (kind) => {
  let harness: Harness | undefined;
  let opened: Opened[];
  let outbox: WebhookOutbox;

  async function open(): Promise<WebhookOutbox> {
    if (!harness) throw new Error('no harness');
    const next = await harness.open();
    opened.push(next);
    return next.outbox;
  }

  beforeEach(async () => {
    harness = undefined;
    opened = [];
    harness = await kind.create();
    outbox = await open();
  });

  afterEach(async () => {
    if (!harness) return;
    for (const each of new Set(opened)) {
      await each.outbox.close();
      await each.store.close();
    }
    await harness.cleanup();
  });

  const ids = (messages: { id: string }[]) => messages.map((m) => m.id);

  it('hands out only the head of each queue, payload intact, and leases it', async () => {
    await outbox.enqueue([message('a1'), message('a2'), message('b1', 'acme\u0000b'), message('a3')]);
    const first = await outbox.claimDue(2_000, 10, LEASE);
    expect(ids(first).sort()).toEqual(['a1', 'b1']);
    expect(first.find((m) => m.id === 'a1')).toEqual({ ...message('a1'), attempts: 0 });
    // Leased: nobody gets them again before the lease runs out, then they come back.
    expect(await outbox.claimDue(2_000 + LEASE - 1, 10, LEASE)).toEqual([]);
    expect(ids(await outbox.claimDue(2_000 + LEASE, 10, LEASE)).sort()).toEqual(['a1', 'b1']);
  });

  it('makes the next of a queue due at once when its head was delivered; limit caps a claim', async () => {
    await outbox.enqueue([message('a1'), message('a2'), message('b1', 'acme\u0000b')]);
    expect(await outbox.claimDue(2_000, 1, LEASE)).toHaveLength(1);
    await outbox.delivered('a2'); // not a head: ignored
    await outbox.delivered('a1');
    const next = ids(await outbox.claimDue(2_001, 10, LEASE));
    expect(next).toContain('a2');
    await outbox.delivered('a2');
    await outbox.delivered('b1');
    expect(await outbox.claimDue(1e15, 10, LEASE)).toEqual([]);
  });

  it('ignores an id that is already pending', async () => {
    await outbox.enqueue([message('a1'), message('a1'), message('a2')]);
    await outbox.enqueue([message('a1')]);
    const seen: string[] = [];
    for (let now = 2_000; seen.length < 5 && now < 2_010; now++) {
      for (const head of await outbox.claimDue(now, 10, LEASE)) {
        seen.push(head.id);
        await outbox.delivered(head.id);
      }
    }
    expect(seen).toEqual(['a1', 'a2']);
  });

  it('retryLater counts the attempt, keeps the error and holds the head until retryAt', async () => {
    await outbox.enqueue([message('a1'), message('a2')]);
    await outbox.claimDue(2_000, 10, LEASE);
    await outbox.retryLater('a1', 50_000, 'HTTP 500');
    expect(await outbox.claimDue(49_999, 10, LEASE)).toEqual([]);
    const [again] = await outbox.claimDue(50_000, 10, LEASE);
    expect(again).toMatchObject({ id: 'a1', attempts: 1, lastError: 'HTTP 500' });
    await outbox.retryLater('a2', 0, 'not a head'); // ignored
    await outbox.retryLater('a1', 60_000, 'x'.repeat(5_000));
    const [third] = await outbox.claimDue(60_000, 10, LEASE);
    expect(third?.attempts).toBe(2);
    expect(third?.lastError?.length).toBeLessThan(400);
  });

  it('a claim hands out at most each tenant\'s room and skips tenants without room (__proto__ too)', async () => {
    const slow = Array.from({ length: 6 }, (_, index) => message(`s${index}`, `slow\u0000c${index}`, 'slow'));
    await outbox.enqueue([...slow, message('p1', '__proto__\u0000x', '__proto__'), message('a1'), message('b1', 'acme\u0000b')]);
    const room = { perTenant: 2, tenants: new Map([['__proto__', 0]]) };
    const claimed = await outbox.claimDue(2_000, 10, LEASE, room);
    const slowClaimed = ids(claimed).filter((id) => id.startsWith('s'));
    expect(ids(claimed).sort()).toEqual(['a1', 'b1', ...slowClaimed].sort());
    expect(slowClaimed).toHaveLength(2);
    // The rest of the slow tenant, one more each time; __proto__ still without room.
    const third = await outbox.claimDue(2_001, 10, LEASE, { perTenant: 1, tenants: new Map([['__proto__', 0]]) });
    expect(third).toHaveLength(1);
    expect(ids(await outbox.claimDue(2_002, 10, LEASE))).toHaveLength(4);
    expect(await outbox.claimDue(2_003, 10, LEASE)).toEqual([]);
  });

  it('a claim never exceeds the limit or any tenant\'s room, and takes every due head it has room for, whatever the tenant ids (property)', async () => {
    let round = 0;
    const tenantIds = fc.constantFrom('acme', '__proto__', 'constructor', 'toString', 'a-b_c', 'x'.repeat(64));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(tenantIds, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 20 }),
        fc.dictionary(tenantIds, fc.integer({ min: 0, max: 3 }), { noNullPrototype: false }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 12 }),
        async (queues, rooms, perTenant, limit) => {
          round++;
          const now = round * 10 * LEASE;
          await outbox.enqueue(queues.map(([tenant, channel], index) => message(`p${round}-${index}`, `${tenant}\u0000c${channel}:${round}`, tenant)));
          const room = { perTenant, tenants: new Map(Object.entries(rooms)) };
          const claimed = await outbox.claimDue(now, limit, LEASE, room);
          const perClaim = new Map<string, number>();
          for (const head of claimed) perClaim.set(head.tenant, (perClaim.get(head.tenant) ?? 0) + 1);
          expect(claimed.length).toBeLessThanOrEqual(limit);
          for (const [tenant, count] of perClaim) expect(count).toBeLessThanOrEqual(room.tenants.get(tenant) ?? perTenant);
          // Heads of this round, one per queue: a claim short of its limit skipped only tenants without room.
          const heads = new Map<string, string>();
          for (const [tenant, channel] of queues) heads.set(`${tenant}\u0000c${channel}:${round}`, tenant);
          if (claimed.length < limit) {
            for (const tenant of new Set(heads.values())) {
              const available = [...heads.values()].filter((owner) => owner === tenant).length;
              expect(perClaim.get(tenant) ?? 0).toBe(Math.min(available, room.tenants.get(tenant) ?? perTenant));
            }
          }
          // Leave nothing due for later rounds.
          for (const head of claimed) await outbox.delivered(head.id);
          for (let later = now + LEASE; ; later += LEASE) {
            const rest = await outbox.claimDue(later, 100, LEASE);
            if (rest.length === 0) break;
            for (const head of rest) await outbox.delivered(head.id);
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('releaseRetries makes a tenant\'s heads waiting for a retry due at once, not leased ones nor other tenants\'', async () => {
    await outbox.enqueue([message('a1'), message('a2', 'acme\u0000b'), message('a3', 'acme\u0000c'), message('g1', 'globex\u0000x', 'globex')]);
    await outbox.claimDue(2_000, 10, LEASE);
    await outbox.retryLater('a1', 1e12, 'HTTP 500');
    await outbox.retryLater('a2', 1e12, 'HTTP 500');
    await outbox.retryLater('g1', 1e12, 'HTTP 500');
    // a3 stays leased (a request in flight).
    expect(await outbox.releaseRetries('acme', 3_000)).toBe(2);
    expect(ids(await outbox.claimDue(3_000, 10, LEASE)).sort()).toEqual(['a1', 'a2']);
    // Claimed again: leased, no longer waiting.
    expect(await outbox.releaseRetries('acme', 3_001)).toBe(0);
    expect(await outbox.claimDue(3_001, 10, LEASE)).toEqual([]);
  });

  it('dead-letters the head, moves its queue on, lists letters newest first per tenant', async () => {
    await outbox.enqueue([message('a1'), message('a2'), message('g1', 'globex\u0000x', 'globex')]);
    await outbox.claimDue(2_000, 10, LEASE);
    await outbox.retryLater('a1', 3_000, 'HTTP 500');
    await outbox.claimDue(3_000, 10, LEASE);
    await outbox.deadLetter('a1', 'HTTP 503', 4_000);
    await outbox.deadLetter('g1', 'timeout', 5_000);
    await outbox.deadLetter('a2', 'not claimed yet but head now', 6_000);
    expect(await outbox.claimDue(1e15, 10, LEASE)).toEqual([]);

    const all = await outbox.deadLetters(undefined, 10);
    expect(all.total).toBe(3);
    expect(ids(all.letters)).toEqual(['a2', 'g1', 'a1']);
    expect(all.letters[2]).toEqual({ ...message('a1'), attempts: 2, lastError: 'HTTP 503', deadAt: 4_000 });
    const acme = await outbox.deadLetters('acme', 1);
    expect(acme.total).toBe(2);
    expect(ids(acme.letters)).toEqual(['a2']);
    expect(await outbox.deadLetters('nobody', 10)).toEqual({ total: 0, letters: [] });
  });

  it('redelivers dead letters with the same id to the tail of their queue, only within the tenant asked for', async () => {
    await outbox.enqueue([message('a1'), message('g1', 'globex\u0000x', 'globex')]);
    await outbox.deadLetter('a1', 'HTTP 500', 3_000);
    await outbox.deadLetter('g1', 'HTTP 500', 3_000);
    await outbox.enqueue([message('a2')]);

    expect(await outbox.redeliver('acme', ['g1', 'unknown'], 9_000)).toBe(0);
    expect(await outbox.redeliver('acme', undefined, 9_000)).toBe(1);
    const [head] = await outbox.claimDue(9_000, 10, LEASE);
    expect(head).toMatchObject({ id: 'a2', attempts: 0 });
    await outbox.delivered('a2');
    const [redelivered] = await outbox.claimDue(9_001, 10, LEASE);
    expect(redelivered).toEqual({ ...message('a1'), queuedAt: 9_000, attempts: 0 });
    expect((await outbox.deadLetters(undefined, 10)).total).toBe(1);
    expect(await outbox.redeliver(undefined, ['g1'], 9_500)).toBe(1);
    expect(await outbox.redeliver(undefined, ['g1'], 9_500)).toBe(0);
    expect((await outbox.deadLetters(undefined, 10)).total).toBe(0);
  });

  it('drains any interleaving of channels in enqueue order per channel (property)', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 4 }), async (keys, limit) => {
        round++;
        const messages = keys.map((key, index) => message(`r${round}-${index}`, `acme\u0000c${key}:${round}`));
        await outbox.enqueue(messages);
        const drained = new Map<string, string[]>();
        for (let now = 0; now < 200; now++) {
          const heads = await outbox.claimDue(now, limit, LEASE);
          if (heads.length === 0) break;
          for (const head of heads) {
            drained.set(head.orderKey, [...(drained.get(head.orderKey) ?? []), head.id]);
            await outbox.delivered(head.id);
          }
        }
        const expected = new Map<string, string[]>();
        for (const m of messages) expected.set(m.orderKey, [...(expected.get(m.orderKey) ?? []), m.id]);
        expect(drained).toEqual(expected);
      }),
      { numRuns: 15 },
    );
  });

  it('keeps payloads exactly and error texts well-formed whatever a user id holds: any unicode, lone surrogates, quotes, __proto__ (property)', async () => {
    let round = 0;
    const hostile = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom('__proto__', 'constructor', '"\\', '\ud800', 'a\u0000b'));
    const channelName = fc.stringMatching(/^[a-z]{1,5}:[A-Za-z0-9_\-=@,.;:]{1,20}$/);
    await fc.assert(
      fc.asyncProperty(hostile, channelName, async (user, channel) => {
        const id = `h${++round}`;
        const payload = JSON.stringify({ id, type: 'presence.joined', data: { tenant: 'acme', channel, user } });
        const sent: OutboxMessage = { id, orderKey: `acme\u0000${channel}`, tenant: 'acme', payload, queuedAt: 1_700_000_000_123 };
        await outbox.enqueue([sent]);
        const [head] = await outbox.claimDue(round, 1, 0);
        expect(head).toEqual({ ...sent, attempts: 0 });
        await outbox.retryLater(id, 0, user);
        await outbox.deadLetter(id, user, 5);
        const [letter] = (await outbox.deadLetters('acme', 1)).letters;
        expect(letter).toEqual({ ...sent, attempts: 2, lastError: clipError(user), deadAt: 5 });
        expect(await outbox.redeliver('acme', [id], 7)).toBe(1);
        const [again] = await outbox.claimDue(round, 1, 0);
        expect(again).toEqual({ ...sent, queuedAt: 7, attempts: 0 });
        await outbox.delivered(id);
      }),
      { numRuns: 30 },
    );
  });

  it.runIf(kind.persistent)('keeps pending messages, attempts and dead letters across a restart', async () => {
    await outbox.enqueue([message('a1'), message('a2'), message('b1', 'acme\u0000b')]);
    await outbox.claimDue(2_000, 10, LEASE);
    await outbox.retryLater('a1', 3_000, 'HTTP 500');
    await outbox.deadLetter('b1', 'HTTP 410', 2_500);
    const [first] = opened;
    await first?.outbox.close();
    await first?.store.close();
    opened = [];

    const reopened = await open();
    expect(await reopened.claimDue(3_000, 10, LEASE)).toEqual([{ ...message('a1'), attempts: 1, lastError: 'HTTP 500' }]);
    expect(ids((await reopened.deadLetters(undefined, 10)).letters)).toEqual(['b1']);
  });

  it.runIf(kind.shared)('never hands one head to two nodes at once', async () => {
    const other = await open();
    await outbox.enqueue([message('a1'), message('a2')]);
    const [mine, theirs] = await Promise.all([outbox.claimDue(2_000, 10, LEASE), other.claimDue(2_000, 10, LEASE)]);
    expect([...ids(mine), ...ids(theirs)]).toEqual(['a1']);
  });
});
