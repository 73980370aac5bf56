/**
 * Remembers inbound provider webhooks already taken, by the hash of their signed body, so a
 * captured request sent again is not taken twice. A body is remembered as long as the
 * provider's signed time keeps it fresh (`webhookMaxAgeMs`); after that it is refused as
 * stale anyway. Shared by every node on the Redis store, per process otherwise (bounded).
 */
import type { Redis } from 'ioredis';
import type { EventStore } from '../log/store.js';
import { RedisEventStore } from '../log/redis-store.js';

export interface WebhookReplays {
  /** True when `key` was not taken within `ttlMs`; it is taken from now on. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** Forgets a claim whose processing failed, so the provider's retry is taken. */
  release(key: string): Promise<void>;
}

/** Bodies remembered per process; beyond it the oldest are forgotten (only genuine, signed bodies get here). */
export const MAX_REMEMBERED_WEBHOOKS = 100_000;

export class MemoryWebhookReplays implements WebhookReplays {
  /** key -> until when; insertion order is expiry order for one ttl. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly capacity = MAX_REMEMBERED_WEBHOOKS,
  ) {}

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.delete(key);
    for (const [oldest, expires] of this.seen) {
      if (expires > now && this.seen.size < this.capacity) break;
      this.seen.delete(oldest);
    }
    this.seen.set(key, now + ttlMs);
    return true;
  }

  async release(key: string): Promise<void> {
    this.seen.delete(key);
  }
}

export class RedisWebhookReplays implements WebhookReplays {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}whin:${key}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}whin:${key}`);
  }
}

/** In the event log's Redis when there is one (every node sees every claim), else in memory. */
export function webhookReplaysFor(store: EventStore): WebhookReplays {
  return store instanceof RedisEventStore ? new RedisWebhookReplays(store.redis, store.keyPrefix) : new MemoryWebhookReplays();
}
