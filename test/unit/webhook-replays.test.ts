/**
 * Inbound Pusher webhooks: a signed `time_ms` outside the window is refused whatever it
 * holds, and a body already taken is remembered for the window (in memory, bounded; in
 * Redis, shared by every node).
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../providers/pusher-protocol/webhook.js';
import { parsePusherWebhook } from '../../providers/pusher/webhook.js';
import { MemoryWebhookReplays, RedisWebhookReplays } from '../../src/server/routes/webhook-replays.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const credentials = { key: 'hosted-key', secret: 'hosted-secret' };
const NOW = 1_800_000_000_000;
const WINDOW = 300_000;
const redisDecision = await redisCheck();

function signed(timeMs: number) {
  const body = JSON.stringify({ time_ms: timeMs, events: [{ name: 'channel_occupied', channel: 'private-orders.acme.1' }] });
  return {
    headers: { 'content-type': 'application/json', 'x-pusher-key': credentials.key, 'x-pusher-signature': signWebhook(credentials.secret, body) },
    rawBody: Buffer.from(body),
  };
}

describe('Pusher webhook freshness', () => {
  it('takes a signed time_ms within the window either side of now and refuses every other number (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -WINDOW, max: WINDOW }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -1e308, 1e308, WINDOW + 1, -WINDOW - 1)), (offset) => {
        const fresh = Math.abs(offset) <= WINDOW;
        const parse = () => parsePusherWebhook(credentials, signed(NOW + offset), { maxAgeMs: WINDOW, now: NOW });
        if (fresh) expect(parse()).toHaveLength(1);
        else expect(parse).toThrow(/time_ms/);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a year-old webhook although its signature is genuine', () => {
    expect(() => parsePusherWebhook(credentials, signed(NOW - 365 * 24 * 3600_000), { maxAgeMs: WINDOW, now: NOW })).toThrow(/time_ms/);
  });
});

describe('remembered webhook bodies', () => {
  it('memory: a body is taken once within its time, again after it, or after a release; the oldest go beyond the capacity', async () => {
    let now = 0;
    const replays = new MemoryWebhookReplays(() => now, 3);
    expect(await replays.claim('a', 100)).toBe(true);
    expect(await replays.claim('a', 100)).toBe(false);
    await replays.release('a');
    expect(await replays.claim('a', 100)).toBe(true);
    now = 100;
    expect(await replays.claim('a', 100)).toBe(true);
    for (const key of ['b', 'c', 'd', '__proto__']) expect(await replays.claim(key, 100)).toBe(true);
    expect(await replays.claim('__proto__', 100)).toBe(false);
    // Capacity 3: 'a' and 'b' were forgotten to make room.
    expect(await replays.claim('a', 100)).toBe(true);
  });

  describe.skipIf(redisDecision === 'skip')('redis', () => {
    const prefix = `sbtest:whin:${process.pid}:${Date.now()}:`;
    const clients: Redis[] = [];
    beforeAll(() => requireService(redisDecision, 'Redis'));
    afterAll(async () => {
      for (const client of clients) client.disconnect();
      await deleteRedisKeys(REDIS_URL, prefix);
    });

    it('a body taken on one node is refused on another until it expires or is released', async () => {
      const [one, two] = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
      clients.push(one, two);
      const [a, b] = [new RedisWebhookReplays(one, prefix), new RedisWebhookReplays(two, prefix)];
      expect(await a.claim('body', 60_000)).toBe(true);
      expect(await b.claim('body', 60_000)).toBe(false);
      await b.release('body');
      expect(await b.claim('body', 200)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await a.claim('body', 60_000)).toBe(true);
    });
  });
});
