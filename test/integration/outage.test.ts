/**
 * Operating through outages: `switchboard serve` pointed at a Redis that is not there (an
 * unused port; the shared Redis is never touched) is not ready, answers publishes 503 with
 * Retry-After at once, logs the outage once instead of every reconnect, and stops on
 * SIGTERM. A provider that never takes an event shows in /readyz and on the admin view.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, publishAsTenant, startBff } from '../helpers/bff.js';
import { createFakeProvider } from '../helpers/fake-provider.js';
import { spawnServe } from '../helpers/serve-process.js';

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('Redis unreachable', () => {
  it('serve is not ready, answers publishes 503 + Retry-After at once, logs the outage once and stops on SIGTERM', { timeout: 60_000 }, async () => {
    const child = spawnServe({
      SWITCHBOARD_STORE: 'redis',
      // One process: with the redis store `auto` would start a worker per core, each logging its own outage.
      SWITCHBOARD_WORKERS: '1',
      REDIS_URL: `redis://127.0.0.1:${await unusedPort()}`,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await eventually(async () => /"url":"http:\/\/localhost:(\d+)\/"/.exec(stdout)?.[1]).then((port) => `http://127.0.0.1:${port}`);
      const ready = await eventually(async () => {
        const response = await fetch(`${url}/readyz`);
        return response.status === 503 ? response : undefined;
      });
      // The local provider's fan-out uses the same Redis: it is down too.
      expect(await ready.json()).toEqual({ status: 'unavailable', failing: ['store', 'fan-out'] });

      const started = Date.now();
      const publish = await fetch(`${url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: 'Bearer dev-admin-key-change-me', 'switchboard-tenant': 'acme', 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'orders:1', event: 'status', data: {} }),
      });
      // Generous for a loaded machine; before, this took 8 s and answered 500.
      expect(Date.now() - started).toBeLessThan(4000);
      expect(publish.status).toBe(503);
      expect(publish.headers.get('retry-after')).toBe('5');
      expect(await publish.json()).toMatchObject({ code: 'provider_unavailable' });

      // ioredis reconnects every 100 ms to 2 s: before, each failed attempt printed a stack to stderr.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      expect(stderr).not.toContain('ioredis');
      const outageLines = stdout.split('\n').filter((line) => line.includes('Redis is unreachable') || line.includes('Redis is still unreachable'));
      expect(outageLines).toHaveLength(1);
      // Nothing else repeats itself per reconnect attempt or per heartbeat either.
      const errors = stdout.split('\n').flatMap((line) => (line.includes('"level":50') ? [(JSON.parse(line) as { msg: string }).msg] : []));
      expect(errors.length).toBe(new Set(errors).size);
      expect(stdout).not.toContain('request failed');
    } finally {
      child.kill('SIGTERM');
    }
    // serve's own limit is 10 s; the test waits a little longer than that.
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code).toBe(0);
  });
});

describe('provider health', () => {
  it('a provider that never takes an event makes /readyz unavailable and shows the reason on the admin view, until it recovers', async () => {
    const provider = createFakeProvider();
    provider.failing = true;
    const bff = await startBff({ provider, delivery: { backoff: { baseMs: 10, capMs: 50 }, breaker: { failureThreshold: 5, openMs: 100 } } });
    try {
      expect((await fetch(`${bff.url}/readyz`)).status).toBe(200);
      await publishAsTenant(bff, 'acme', 'orders:1', 'status', { status: 'placed' });
      const readyz = await eventually(async () => {
        const response = await fetch(`${bff.url}/readyz`);
        return response.status === 503 ? response : undefined;
      });
      expect(await readyz.json()).toEqual({ status: 'unavailable', failing: ['provider'] });
      const stats = (await (await fetch(`${bff.url}/v1/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()) as { health: unknown };
      expect(stats.health).toEqual({
        ready: false,
        problems: [{ component: 'provider', detail: expect.stringMatching(/has not taken an event in \d+ attempts in a row; last: provider down/), since: expect.any(Number) }],
      });
      provider.failing = false;
      await eventually(async () => ((await fetch(`${bff.url}/readyz`)).status === 200 ? true : undefined));
    } finally {
      await bff.close();
    }
  });
});
