/**
 * The local provider's own Redis (its fan-out to the other nodes) through an outage, made by
 * stopping a TCP proxy in front of the shared Redis (never Redis itself): the node is not
 * ready while it cannot reach the others, the admin view says why, and it is ready again
 * once the fan-out reconnects. Needs Redis (skipped with a notice, failing under CI=true).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { ADMIN_KEY, startBff } from '../helpers/bff.js';
import { eventually } from '../helpers/eventually.js';
import { RedisProxy } from '../helpers/redis-proxy.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const prefix = `sbtest:fanout-outage:${process.pid}:${Date.now()}:`;
let decision: Awaited<ReturnType<typeof redisCheck>>;
beforeAll(async () => {
  decision = await redisCheck();
});
afterAll(async () => {
  if (decision === 'run') await deleteRedisKeys(REDIS_URL, prefix);
});

const silent = { info: () => undefined, error: () => undefined };

describe('local provider fan-out through a Redis outage', () => {
  it('makes /readyz name fan-out, with the reason on the admin view, until Redis is back', { timeout: 40_000 }, async (ctx) => {
    requireService(decision, 'Redis');
    if (decision === 'skip') return ctx.skip();
    const proxy = new RedisProxy();
    await proxy.start();
    const provider = createLocalProvider({ redisUrl: proxy.url, redisKeyPrefix: prefix, heartbeatMs: 200, logger: silent });
    const bff = await startBff({ provider });
    const readyz = async () => {
      const response = await fetch(`${bff.url}/readyz`);
      return { status: response.status, body: (await response.json()) as unknown };
    };
    const health = async () => {
      const response = await fetch(`${bff.url}/v1/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      return ((await response.json()) as { health: unknown }).health;
    };
    try {
      await eventually(() => provider.scaleOutStats()?.connected === true, 15_000);
      expect(await readyz()).toEqual({ status: 200, body: { status: 'ready' } });

      await proxy.stop();
      await eventually(async () => (await readyz()).status === 503, 15_000);
      expect((await readyz()).body).toEqual({ status: 'unavailable', failing: ['fan-out'] });
      expect(await health()).toEqual({
        ready: false,
        problems: [
          {
            component: 'fan-out',
            detail: expect.stringMatching(new RegExp(`^the local provider's Redis fan-out at 127\\.0\\.0\\.1:${proxy.port} is unreachable \\(.+\\): events reach this node's clients only$`)),
            since: expect.any(Number),
          },
        ],
      });

      await proxy.start();
      await eventually(async () => (await readyz()).status === 200, 20_000);
      expect(await health()).toEqual({ ready: true, problems: [] });
    } finally {
      await bff.close();
      await proxy.stop();
    }
  });
});
