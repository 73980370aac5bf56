/**
 * Issue 18: the cluster-wide presence admission script against real Redis. Whatever
 * sequence of joins and leaves two nodes make, concurrently, a channel never holds more
 * distinct users than its cap, a user counts once however many nodes hold it, and a node
 * that stops heartbeating is reaped (its places freed), re-registering if it was only stalled.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceAdmission } from '../../providers/local/presence-admission.js';
import { eventually } from '../helpers/eventually.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const prefix = `sbtest:admission:${process.pid}:${Date.now()}:`;
const redisDecision = await redisCheck();
let redis: Redis;
let run = 0;

describe.skipIf(redisDecision === 'skip')('presence admission in Redis', () => {
  beforeAll(() => {
    requireService(redisDecision, 'Redis');
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    redis.disconnect();
    await deleteRedisKeys(REDIS_URL, prefix);
  });

  it('never admits more distinct users than the cap, counting each user once across nodes (property)', async () => {
    const op = fc.record({ node: fc.constantFrom(0, 1), join: fc.boolean(), user: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), async (cap, batches) => {
        const keys = `${prefix}${++run}:`;
        const nodes = [new PresenceAdmission(redis, keys, 'n0'), new PresenceAdmission(redis, keys, 'n1')];
        const held = [new Set<string>(), new Set<string>()];
        for (const batch of batches) {
          // Each batch runs concurrently, as joins on two nodes do.
          await Promise.all(
            batch.map(async ({ node, join, user }) => {
              const admission = nodes[node] as PresenceAdmission;
              if (!join) {
                await admission.release('presence-x', user);
                held[node]?.delete(user);
              } else if (await admission.admit('presence-x', user, cap)) {
                held[node]?.add(user);
              }
            }),
          );
          const members = await redis.hgetall(`${keys}pm:presence-x`);
          const expected = new Set([...(held[0] ?? []), ...(held[1] ?? [])]);
          expect(Object.keys(members).sort()).toEqual([...expected].sort());
          expect(expected.size).toBeLessThanOrEqual(cap);
          for (const user of expected) expect(Number(members[user])).toBe([0, 1].filter((node) => held[node]?.has(user)).length);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
  });

  it('reaps a silent node, freeing its places, and a stalled node registers its members again', async () => {
    const keys = `${prefix}reap:`;
    const [stalled, survivor] = [new PresenceAdmission(redis, keys, 'stalled'), new PresenceAdmission(redis, keys, 'survivor')];
    expect(await stalled.admit('presence-x', 'ana', 1)).toBe(true);
    expect(await survivor.admit('presence-x', 'bo', 1)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 120));
    await survivor.heartbeat(100, () => []);
    expect(await survivor.admit('presence-x', 'bo', 1)).toBe(true);
    // The stalled node comes back and still has ana: she is a member again, even past the cap.
    await stalled.heartbeat(100, () => [{ channel: 'presence-x', userId: 'ana' }]);
    expect(Object.keys(await redis.hgetall(`${keys}pm:presence-x`)).sort()).toEqual(['ana', 'bo']);
    await stalled.releaseAll();
    await survivor.releaseAll();
    expect(await redis.exists(`${keys}pm:presence-x`, `${keys}nodes`, `${keys}node:stalled`)).toBe(0);
  });

  it('makes good, at the next heartbeat, a leave that could not reach Redis', async () => {
    const keys = `${prefix}lost:`;
    const flaky = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await flaky.connect();
    const node = new PresenceAdmission(flaky, keys, 'flaky');
    try {
      expect(await node.admit('presence-x', 'ana', 5)).toBe(true);
      expect(await node.admit('presence-x', 'bo', 5)).toBe(true);
      flaky.disconnect();
      await node.release('presence-x', 'bo');
      expect(Object.keys(await redis.hgetall(`${keys}pm:presence-x`)).sort()).toEqual(['ana', 'bo']);
      await eventually(() => flaky.status === 'end');
      await flaky.connect();
      await node.heartbeat(60_000, () => [{ channel: 'presence-x', userId: 'ana' }]);
      expect(await redis.hgetall(`${keys}pm:presence-x`)).toEqual({ ana: '1' });
      await node.releaseAll();
    } finally {
      flaky.disconnect();
    }
  });
});
