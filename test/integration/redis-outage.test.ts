/**
 * The Redis event log through an outage, made by stopping a TCP proxy in front of the shared
 * Redis (never Redis itself): store calls fail at once with provider_unavailable while it is
 * gone, health says so, the outage is logged once, and all of it recovers when it is back.
 * Needs Redis at REDIS_URL (skipped with a notice when unreachable, failing under CI=true).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/core/errors.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { createLogger } from '../../src/server/logger.js';
import { RedisProxy } from '../helpers/redis-proxy.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const prefix = `sbtest:outage:${process.pid}:${Date.now()}:`;
let decision: Awaited<ReturnType<typeof redisCheck>>;
beforeAll(async () => {
  decision = await redisCheck();
});
afterAll(async () => {
  if (decision === 'run') await deleteRedisKeys(REDIS_URL, prefix);
});

const request = (id: string) => ({ tenant: 'acme', id, channel: 'orders:1', event: 'status', data: { id }, ts: Date.now(), retention: { size: 10 } });

describe('Redis event log through an outage', () => {
  it('fails fast and reports while Redis is gone, logs it once, and recovers', async (ctx) => {
    requireService(decision, 'Redis');
    if (decision === 'skip') return ctx.skip();
    const proxy = new RedisProxy();
    await proxy.start();
    const lines: { msg: string }[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as { msg: string });
          done();
        },
      }),
    );
    const store = new RedisEventStore({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: prefix, logger });
    try {
      expect((await store.append(request('before'))).envelope.seq).toBe(1);
      expect(store.health()).toEqual({ ready: true });

      await proxy.stop();
      await eventually(() => !store.health().ready);
      expect(store.health()).toMatchObject({ ready: false, detail: expect.stringMatching(/^Redis at 127\.0\.0\.1:\d+ is unreachable/), since: expect.any(Number) });
      const refused = await store.append(request('during')).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(SwitchboardError);
      expect(refused).toMatchObject({ code: 'provider_unavailable', status: 503 });
      // Several reconnect attempts fail meanwhile (100 ms apart, growing); the log says it once.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(lines.filter((line) => /Redis is (still )?unreachable/.test(line.msg))).toHaveLength(1);

      await proxy.start();
      await eventually(() => store.health().ready);
      expect(lines.at(-1)?.msg).toBe('Redis is reachable again');
      expect((await store.append(request('after'))).envelope.seq).toBe(2);
    } finally {
      await proxy.stop();
      await store.close();
    }
  }, 30_000);
});
