/**
 * One contract, every EventStore: memory, sqlite and redis (real Redis at REDIS_URL,
 * skipped with a notice when unreachable unless CI=true).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/envelope.js';
import { createEventStore } from '../../src/server/log/index.js';
import { MemoryEventStore } from '../../src/server/log/memory-store.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import type { AppendNotice, AppendRequest, EventStore, Retention } from '../../src/server/log/store.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

interface Harness {
  /** A store on the same data (a second node for redis, a reopened file for sqlite). */
  open(): Promise<EventStore>;
  cleanup(): Promise<void>;
}

interface StoreKind {
  name: string;
  /** Survives a close and reopen. */
  persistent: boolean;
  /** Several open stores can share the data at once (several BFF nodes). */
  shared: boolean;
  create(): Promise<Harness>;
}

const runPrefix = `sbtest:${process.pid}:${Date.now()}:`;
let harnessCount = 0;

const kinds: StoreKind[] = [
  {
    name: 'memory',
    persistent: false,
    shared: false,
    async create() {
      const store = new MemoryEventStore();
      return { open: async () => store, cleanup: async () => {} };
    },
  },
  {
    name: 'sqlite',
    persistent: true,
    shared: false,
    async create() {
      const dir = await mkdtemp(path.join(tmpdir(), 'sb-store-'));
      return {
        open: async () => createEventStore({ kind: 'sqlite', dataDir: path.join(dir, 'data'), redisUrl: REDIS_URL }),
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
      const keyPrefix = `${runPrefix}${++harnessCount}:`;
      return {
        open: async () => new RedisEventStore({ url: REDIS_URL, keyPrefix }),
        cleanup: () => deleteRedisKeys(REDIS_URL, keyPrefix),
      };
    },
  });
}

const KEEP_ALL: Retention = { size: 100_000 };

describe.each(kinds)('EventStore contract: $name', (kind) => {
  let harness: Harness | undefined;
  let opened: EventStore[];
  let store: EventStore;

  async function open(): Promise<EventStore> {
    if (!harness) throw new Error('no harness');
    const next = await harness.open();
    opened.push(next);
    return next;
  }

  function request(overrides: Partial<AppendRequest> & { id: string }): AppendRequest {
    return { tenant: 'acme', channel: 'orders:1', event: 'status', data: { n: 1 }, ts: Date.now(), retention: KEEP_ALL, ...overrides };
  }

  beforeEach(async () => {
    harness = undefined;
    opened = [];
    harness = await kind.create();
    store = await open();
  });

  afterEach(async () => {
    if (!harness) return;
    for (const each of new Set(opened)) await each.close();
    await harness.cleanup();
  });

  it('assigns seq 1, 2, 3… per channel and reads events back in order, data intact', async () => {
    const data: JsonValue[] = [{ status: 'paid', items: [1, 2, { sku: 'ä-€-😀' }] }, 'plain', null, 42.5, [true, false]];
    for (const [index, value] of data.entries()) {
      const { envelope, duplicate } = await store.append(request({ id: `e${index}`, data: value, event: `ev-${index}`, ts: 1_700_000_000_000 + index }));
      expect(duplicate).toBe(false);
      expect(envelope).toEqual({ id: `e${index}`, channel: 'orders:1', event: `ev-${index}`, data: value, seq: index + 1, ts: 1_700_000_000_000 + index });
    }
    const events = await store.read('acme', 'orders:1', 0, 100);
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((event) => event.data)).toEqual(data);
    expect(await store.lastSeq('acme', 'orders:1')).toBe(5);
    expect(await store.lastSeq('acme', 'orders:2')).toBe(0);
    expect(await store.read('acme', 'orders:2', 0, 10)).toEqual([]);
  });

  it('gives 200 parallel appends to one channel dense, unique seqs (across nodes where the store is shared)', async () => {
    const nodes = kind.shared ? [store, await open(), await open()] : [store];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) => (nodes[index % nodes.length] as EventStore).append(request({ id: `p${index}` }))),
    );
    const seqs = results.map((result) => result.envelope.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, index) => index + 1));
    const events = await store.read('acme', 'orders:1', 0, 1000);
    expect(events.map((event) => event.seq)).toEqual(seqs);
    const bySeq = new Map(results.map((result) => [result.envelope.seq, result.envelope.id]));
    expect(events.every((event) => bySeq.get(event.seq) === event.id)).toBe(true);
  });

  it('dedupes on id: a repeat returns the original envelope and appends nothing, also under concurrency', async () => {
    const first = await store.append(request({ id: 'order-1-paid', data: { v: 1 } }));
    const again = await store.append(request({ id: 'order-1-paid', data: { v: 2 }, event: 'other' }));
    expect(again).toEqual({ envelope: first.envelope, duplicate: true });
    expect(await store.lastSeq('acme', 'orders:1')).toBe(1);

    const nodes = kind.shared ? [store, await open()] : [store];
    const racing = await Promise.all(
      Array.from({ length: 20 }, (_, index) => (nodes[index % nodes.length] as EventStore).append(request({ id: 'race', data: index }))),
    );
    expect(racing.filter((result) => !result.duplicate)).toHaveLength(1);
    expect(new Set(racing.map((result) => result.envelope.seq))).toEqual(new Set([2]));
    expect(await store.lastSeq('acme', 'orders:1')).toBe(2);
  });

  it('scopes dedupe and seq to (tenant, channel): same names in two tenants are separate logs', async () => {
    await store.append(request({ id: 'a', data: 'acme-1' }));
    await store.append(request({ id: 'b', data: 'acme-2' }));
    const other = await store.append(request({ tenant: 'globex', id: 'a', data: 'globex-1' }));
    expect(other).toMatchObject({ duplicate: false, envelope: { seq: 1, data: 'globex-1' } });
    expect((await store.read('globex', 'orders:1', 0, 10)).map((event) => event.data)).toEqual(['globex-1']);
    expect((await store.read('acme', 'orders:1', 0, 10)).map((event) => event.data)).toEqual(['acme-1', 'acme-2']);
    const otherChannel = await store.append(request({ channel: 'orders:2', id: 'a' }));
    expect(otherChannel).toMatchObject({ duplicate: false, envelope: { seq: 1 } });
  });

  it('pages with afterSeq and limit', async () => {
    for (let index = 1; index <= 25; index += 1) await store.append(request({ id: `e${index}`, data: index }));
    expect((await store.read('acme', 'orders:1', 0, 10)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await store.read('acme', 'orders:1', 10, 10)).map((event) => event.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect((await store.read('acme', 'orders:1', 20, 10)).map((event) => event.seq)).toEqual([21, 22, 23, 24, 25]);
    expect(await store.read('acme', 'orders:1', 25, 10)).toEqual([]);
    expect((await store.read('acme', 'orders:1', 23, 1)).map((event) => event.seq)).toEqual([24]);
  });

  it('keeps at most history.size delivered events; dropped ids leave the dedupe window', async () => {
    const retention = { size: 5 };
    for (let index = 1; index <= 8; index += 1) await store.append(request({ id: `e${index}`, retention }));
    await store.markDelivered('acme', 'orders:1', 8);
    await store.append(request({ id: 'e9', retention }));
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.seq)).toEqual([5, 6, 7, 8, 9]);
    const readded = await store.append(request({ id: 'e1', retention }));
    expect(readded).toMatchObject({ duplicate: false, envelope: { seq: 10 } });
    const kept = await store.append(request({ id: 'e9', retention }));
    expect(kept).toMatchObject({ duplicate: true, envelope: { seq: 9 } });
  });

  it('never drops an event the provider has not taken, and trims it once delivered', async () => {
    const retention = { size: 3 };
    for (let index = 1; index <= 10; index += 1) await store.append(request({ id: `e${index}`, retention }));
    expect(await store.read('acme', 'orders:1', 0, 100)).toHaveLength(10);
    await store.markDelivered('acme', 'orders:1', 6);
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.seq)).toEqual([7, 8, 9, 10]);
    await store.markDelivered('acme', 'orders:1', 10);
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.seq)).toEqual([8, 9, 10]);
  });

  it('drops delivered events older than ttlSeconds', async () => {
    const retention = { size: 100, ttlSeconds: 60 };
    const now = Date.now();
    await store.append(request({ id: 'old-1', ts: now - 3_600_000, retention }));
    await store.append(request({ id: 'old-2', ts: now - 120_000, retention }));
    await store.append(request({ id: 'fresh', ts: now - 1000, retention }));
    await store.markDelivered('acme', 'orders:1', 3);
    await store.append(request({ id: 'new', ts: now, retention }));
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.id)).toEqual(['fresh', 'new']);
    expect(await store.lastSeq('acme', 'orders:1')).toBe(4);
  });

  it('keeps expired events the provider has not taken, and drops them once delivered', async () => {
    const retention = { size: 100, ttlSeconds: 60 };
    const now = Date.now();
    await store.append(request({ id: 'old-1', ts: now - 3_600_000, retention }));
    await store.append(request({ id: 'old-2', ts: now - 3_600_000, retention }));
    await store.markDelivered('acme', 'orders:1', 1);
    await store.append(request({ id: 'new', ts: now, retention }));
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.id)).toEqual(['old-2', 'new']);
    await store.markDelivered('acme', 'orders:1', 3);
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.id)).toEqual(['new']);
  });

  it('trims by ttl from the oldest event only, so kept seqs stay contiguous', async () => {
    const retention = { size: 100, ttlSeconds: 60 };
    const now = Date.now();
    await store.append(request({ id: 'old', ts: now - 3_600_000, retention }));
    // Not expired, followed by an expired one (clock skew between publishers): the oldest
    // unexpired event ends the trim, the expired one behind it waits its turn.
    await store.append(request({ id: 'fresh', ts: now - 1000, retention }));
    await store.append(request({ id: 'late', ts: now - 3_600_000, retention }));
    await store.markDelivered('acme', 'orders:1', 3);
    await store.append(request({ id: 'new', ts: now, retention }));
    expect((await store.read('acme', 'orders:1', 0, 100)).map((event) => event.seq)).toEqual([2, 3, 4]);
  });

  it('tracks the delivery cursor per channel: forward only, clamped, pending channels listed', async () => {
    await store.append(request({ id: 'a1' }));
    await store.append(request({ id: 'a2' }));
    await store.append(request({ channel: 'orders:2', id: 'b1' }));
    await store.append(request({ tenant: 'globex', id: 'g1' }));
    expect(await store.deliveredSeq('acme', 'orders:1')).toBe(0);
    const sorted = async () => (await store.pendingChannels()).map((ref) => `${ref.tenant}/${ref.channel}`).sort();
    expect(await sorted()).toEqual(['acme/orders:1', 'acme/orders:2', 'globex/orders:1']);
    await store.markDelivered('acme', 'orders:1', 1);
    expect(await sorted()).toEqual(['acme/orders:1', 'acme/orders:2', 'globex/orders:1']);
    await store.markDelivered('acme', 'orders:1', 99);
    expect(await store.deliveredSeq('acme', 'orders:1')).toBe(2);
    await store.markDelivered('acme', 'orders:1', 1);
    expect(await store.deliveredSeq('acme', 'orders:1')).toBe(2);
    await store.markDelivered('globex', 'orders:1', 1);
    expect(await sorted()).toEqual(['acme/orders:2']);
    await store.append(request({ id: 'a3' }));
    expect(await sorted()).toEqual(['acme/orders:1', 'acme/orders:2']);
  });

  if (kind.persistent) {
    it('keeps seq, events, dedupe and the delivery cursor across a restart', async () => {
      for (let index = 1; index <= 5; index += 1) await store.append(request({ id: `e${index}`, data: index }));
      await store.markDelivered('acme', 'orders:1', 3);
      await store.close();
      opened = opened.filter((each) => each !== store);
      const reopened = await open();
      expect((await reopened.read('acme', 'orders:1', 0, 10)).map((event) => event.data)).toEqual([1, 2, 3, 4, 5]);
      expect(await reopened.deliveredSeq('acme', 'orders:1')).toBe(3);
      expect(await reopened.pendingChannels()).toEqual([{ tenant: 'acme', channel: 'orders:1' }]);
      expect(await reopened.append(request({ id: 'e2' }))).toMatchObject({ duplicate: true, envelope: { seq: 2 } });
      expect(await reopened.append(request({ id: 'e6' }))).toMatchObject({ duplicate: false, envelope: { seq: 6 } });
    });
  }

  if (!kind.shared) {
    it('always grants the delivery lease: one process owns the data', async () => {
      expect(await store.claimDelivery('acme', 'orders:1', 'a', 1000)).toBe(true);
      expect(await store.claimDelivery('acme', 'orders:1', 'b', 1000)).toBe(true);
    });
  }

  if (kind.shared) {
    it('grants the delivery lease to one owner at a time when nodes share the store', async () => {
      const other = await open();
      expect(await store.claimDelivery('acme', 'orders:1', 'node-a', 5000)).toBe(true);
      expect(await other.claimDelivery('acme', 'orders:1', 'node-b', 5000)).toBe(false);
      expect(await store.claimDelivery('acme', 'orders:1', 'node-a', 5000)).toBe(true);
      expect(await other.claimDelivery('acme', 'orders:2', 'node-b', 5000)).toBe(true);
      await other.releaseDelivery('acme', 'orders:1', 'node-b');
      expect(await other.claimDelivery('acme', 'orders:1', 'node-b', 5000)).toBe(false);
      await store.releaseDelivery('acme', 'orders:1', 'node-a');
      expect(await other.claimDelivery('acme', 'orders:1', 'node-b', 5000)).toBe(true);
    });
  }

  if (kind.shared) {
    it('tells other nodes about appends when the store is shared', async () => {
      expect(store.watchAppends).toBeTypeOf('function');
      const other = await open();
      const heard = new Promise<AppendNotice>((resolve) => {
        void other.watchAppends?.(resolve).then(async () => {
          await store.append(request({ id: 'notify-me' }));
        });
      });
      expect(await heard).toEqual({ tenant: 'acme', channel: 'orders:1', seq: 1 });
    });
  }
});

