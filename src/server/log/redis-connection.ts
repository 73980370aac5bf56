/**
 * Watches the Redis connections of the event store: while Redis is unreachable, store calls
 * fail at once with `provider_unavailable` (503) instead of waiting in ioredis' offline queue,
 * /readyz says so, and the outage is logged once per interval rather than once per reconnect.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { SwitchboardError } from '../../core/errors.js';
import type { ComponentHealth } from '../../core/health.js';
import type { Logger } from '../logger.js';

/** Commands in flight when a connection drops get one retry; reconnects back off to 2 s apart. */
export const REDIS_CLIENT_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 1,
  retryStrategy: (times) => Math.min(times * 100, 2000),
};

export const OUTAGE_LOG_INTERVAL_MS = 30_000;

export class RedisConnectionWatch {
  private readonly down = new Set<Redis>();
  private downSince: number | undefined;
  private lastError = 'connection lost';
  private lastLogged = 0;
  private failedAttempts = 0;

  constructor(
    private readonly where: string,
    private readonly logger: Logger | undefined,
    private readonly logIntervalMs = OUTAGE_LOG_INTERVAL_MS,
  ) {}

  watch(client: Redis): void {
    client.on('ready', () => this.up(client));
    // Without an 'error' listener ioredis prints every failed reconnect to stderr.
    client.on('error', (error: Error) => this.lost(client, error.message));
    client.on('end', () => this.down.delete(client));
  }

  forget(client: Redis): void {
    this.down.delete(client);
  }

  health(): ComponentHealth {
    if (this.downSince === undefined) return { ready: true };
    return { ready: false, detail: `Redis at ${this.where} is unreachable (${this.lastError})`, since: this.downSince };
  }

  /** Store calls start with this: a refusal now beats a wait in the offline queue. */
  assertAvailable(): void {
    if (this.downSince !== undefined) throw new SwitchboardError('provider_unavailable', 'The event log (Redis) is unavailable; retry shortly');
  }

  private lost(client: Redis, reason: string): void {
    this.down.add(client);
    this.lastError = reason;
    this.failedAttempts += 1;
    const now = Date.now();
    this.downSince ??= now;
    if (now - this.lastLogged < this.logIntervalMs) return;
    this.lastLogged = now;
    const seconds = Math.round((now - this.downSince) / 1000);
    this.logger?.error(
      { redis: this.where, reason, failedAttempts: this.failedAttempts, downForSeconds: seconds },
      seconds === 0 ? 'Redis is unreachable: publishes answer 503 and /readyz is not ready until it is back' : 'Redis is still unreachable',
    );
  }

  private up(client: Redis): void {
    this.down.delete(client);
    if (this.down.size > 0 || this.downSince === undefined) return;
    this.logger?.info({ redis: this.where, downForSeconds: Math.round((Date.now() - this.downSince) / 1000) }, 'Redis is reachable again');
    this.downSince = undefined;
    this.failedAttempts = 0;
    this.lastLogged = 0;
  }
}

/** QUIT when connected (bounded), else drop the socket: a client that cannot reach Redis must not hold up shutdown. */
export async function closeRedisClient(client: Redis, timeoutMs = 2000): Promise<void> {
  if (client.status !== 'ready') return client.disconnect();
  const timer = setTimeout(() => client.disconnect(), timeoutMs);
  try {
    await client.quit();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
