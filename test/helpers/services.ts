/**
 * Tests that need a real service (Redis, …) run when it is reachable. Locally an
 * unreachable service skips them with a one-line notice; on CI (`CI=true`) they are
 * kept and fail at once, so a missing service is never mistaken for a pass.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

/** `fail`: unreachable on CI; call {@link requireService} where the tests start so they fail at once. */
export type ServiceDecision = 'run' | 'skip' | 'fail';

export async function serviceCheck(name: string, probe: () => Promise<void>): Promise<ServiceDecision> {
  try {
    await probe();
    return 'run';
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI === 'true') {
      console.warn(`[services] ${name} is not reachable (${reason}); CI=true, so its tests fail`);
      return 'fail';
    }
    console.warn(`[services] skipping ${name} tests: not reachable (${reason})`);
    return 'skip';
  }
}

/** Throws (failing the calling test or hook) when the service was found unreachable on CI. */
export function requireService(decision: ServiceDecision, name: string): void {
  if (decision === 'fail') throw new Error(`${name} is required on CI (CI=true) but is not reachable`);
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** PING with a short connect timeout and no retries. */
export async function pingRedis(url: string = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

export function redisCheck(url: string = REDIS_URL): Promise<ServiceDecision> {
  return serviceCheck(`Redis at ${url}`, () => pingRedis(url));
}

/** Deletes every key under `prefix` (a per-run prefix, never a bare wildcard). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  if (prefix.length < 4) throw new Error('refusing to delete keys under a short prefix');
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A server where each test run creates (and drops) its own database; trust auth on 127.0.0.1 by default. */
export const POSTGRES_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function postgresCheck(url: string = POSTGRES_URL): Promise<ServiceDecision> {
  return serviceCheck(`PostgreSQL at ${url.replace(/\/\/[^@/]*@/, '//')}`, async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
    try {
      await client.connect();
      await client.query('select 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}
