import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MemoryEventStore } from './memory-store.js';
import { RedisEventStore } from './redis-store.js';
import { SqliteEventStore } from './sqlite-store.js';
import type { Logger } from '../logger.js';
import type { EventStore } from './store.js';

export type { AppendNotice, Appended, AppendRequest, ChannelRef, EventStore, Retention } from './store.js';
export { MemoryEventStore } from './memory-store.js';
export { SqliteEventStore } from './sqlite-store.js';
export { RedisEventStore } from './redis-store.js';
export { EventHub, createEventHub } from './hub.js';

export interface EventStoreOptions {
  kind: 'memory' | 'sqlite' | 'redis';
  /** Where the sqlite file lives (`<dataDir>/events.sqlite`); created when missing. */
  dataDir: string;
  redisUrl: string;
  /** Redis key prefix, default `sb:`. */
  redisKeyPrefix?: string;
  /** Where a Redis outage is reported. */
  logger?: Logger;
}

export async function createEventStore(options: EventStoreOptions): Promise<EventStore> {
  switch (options.kind) {
    case 'memory':
      return new MemoryEventStore();
    case 'sqlite':
      await mkdir(options.dataDir, { recursive: true });
      return new SqliteEventStore(path.join(options.dataDir, 'events.sqlite'));
    case 'redis':
      return new RedisEventStore({ url: options.redisUrl, keyPrefix: options.redisKeyPrefix, logger: options.logger });
  }
}
