import path from 'node:path';
import type { EventStoreOptions } from '../log/index.js';
import { RedisEventStore } from '../log/redis-store.js';
import type { EventStore } from '../log/store.js';
import { MemoryWebhookOutbox } from './memory-outbox.js';
import type { WebhookOutbox } from './outbox.js';
import { RedisWebhookOutbox } from './redis-outbox.js';
import { SqliteWebhookOutbox } from './sqlite-outbox.js';

/** The outbox in the same store as the event log: its sqlite file, its Redis (client shared), or memory. */
export function createWebhookOutbox(options: EventStoreOptions, store: EventStore): WebhookOutbox {
  switch (options.kind) {
    case 'memory':
      return new MemoryWebhookOutbox();
    case 'sqlite':
      // createEventStore has made the directory and the file.
      return new SqliteWebhookOutbox(path.join(options.dataDir, 'events.sqlite'));
    case 'redis':
      if (!(store instanceof RedisEventStore)) throw new Error('A redis webhook outbox needs the redis event store');
      return new RedisWebhookOutbox(store.redis, options.redisKeyPrefix);
  }
}
