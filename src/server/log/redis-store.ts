/**
 * Redis Streams log shared by several BFF nodes: one stream per (tenant, channel), all
 * mutations in Lua scripts (see redis-scripts.ts). Keys: `<prefix>{<tenant>}:<channel>:…`;
 * the `{tenant}` hash tag keeps a channel's keys in one cluster slot. The global pending
 * set and the append notification channel are single keys, so this store targets a
 * single Redis (or a primary with replicas), not Redis Cluster.
 */
import { Redis } from 'ioredis';
import { z } from 'zod';
import { type Envelope } from '../../core/envelope.js';
import { APPEND_SCRIPT, CLAIM_SCRIPT, MARK_DELIVERED_SCRIPT, RELEASE_SCRIPT, runScript } from './redis-scripts.js';
import type { ComponentHealth } from '../../core/health.js';
import type { Logger } from '../logger.js';
import { closeRedisClient, REDIS_CLIENT_OPTIONS, RedisConnectionWatch } from './redis-connection.js';
import { toEnvelope } from './stored-event.js';
import type { AppendNotice, Appended, AppendRequest, ChannelRef, EventStore } from './store.js';

const appendResultSchema = z.union([
  z.tuple([z.literal(0), z.string(), z.array(z.string())]),
  z.tuple([z.literal(1), z.string()]),
]);
const refSchema = z.tuple([z.string(), z.string()]);
const noticeSchema = z.object({ tenant: z.string(), channel: z.string(), seq: z.number().int().min(1) });
const counterSchema = z.coerce.number().int().min(0);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const ENTRY_ID = /^(\d+)-0$/;

/**
 * A stream entry `[<seq>-0, [field, value, …]]` as XRANGE returns it, flattened to the
 * `[seq, id, event, data, ts]` row that storedEventSchema checks. Shapes that do not fit
 * leave holes (undefined / NaN) for the schema to reject.
 */
function entryRow(entry: unknown): unknown[] {
  if (!Array.isArray(entry)) return [];
  const [entryId, fields]: unknown[] = entry;
  const seqMatch = typeof entryId === 'string' ? ENTRY_ID.exec(entryId) : null;
  const row: unknown[] = [seqMatch ? Number(seqMatch[1]) : undefined, undefined, undefined, undefined, undefined];
  if (!Array.isArray(fields)) return row;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value: unknown = fields[i + 1];
    switch (fields[i]) {
      case 'id':
        row[1] = value;
        break;
      case 'event':
        row[2] = value;
        break;
      case 'data':
        row[3] = value;
        break;
      case 'ts':
        row[4] = typeof value === 'string' && value !== '' ? Number(value) : value;
        break;
    }
  }
  return row;
}

function entryToEnvelope(channel: string, entry: unknown): Envelope {
  return toEnvelope(channel, entryRow(entry));
}

export interface RedisStoreOptions {
  url: string;
  /** Namespaces every key, e.g. per test run. Default `sb:`. */
  keyPrefix?: string;
  /** Where an outage is reported (once per interval). */
  logger?: Logger;
}

export class RedisEventStore implements EventStore {
  readonly redis: Redis;
  private readonly prefix: string;
  private readonly url: string;
  private readonly subscribers = new Set<Redis>();
  private readonly connection: RedisConnectionWatch;

  constructor(options: RedisStoreOptions) {
    this.url = options.url;
    this.prefix = options.keyPrefix ?? 'sb:';
    this.connection = new RedisConnectionWatch(new URL(options.url).host, options.logger);
    this.redis = this.connect();
  }

  private connect(): Redis {
    const client = new Redis(this.url, { ...REDIS_CLIENT_OPTIONS, lazyConnect: false });
    this.connection.watch(client);
    return client;
  }

  health(): ComponentHealth {
    return this.connection.health();
  }

  /** What every key of this store starts with (others sharing the Redis put theirs under it too). */
  get keyPrefix(): string {
    return this.prefix;
  }

  private keys(tenant: string, channel: string) {
    const base = `${this.prefix}{${tenant}}:${channel}`;
    return { meta: `${base}:meta`, log: `${base}:log`, ids: `${base}:ids`, lease: `${base}:lease`, pending: `${this.prefix}pending` };
  }

  private get notifyChannel(): string {
    return `${this.prefix}appends`;
  }

  async append(request: AppendRequest): Promise<Appended> {
    this.connection.assertAvailable();
    const { tenant, channel } = request;
    const k = this.keys(tenant, channel);
    const raw = await runScript(
      this.redis,
      APPEND_SCRIPT,
      [k.meta, k.log, k.ids, k.pending],
      [
        request.id,
        request.event,
        JSON.stringify(request.data),
        request.ts,
        request.retention.size,
        request.retention.ttlSeconds === undefined ? '' : request.retention.ttlSeconds * 1000,
        JSON.stringify([tenant, channel]),
        this.notifyChannel,
        tenant,
        channel,
      ],
    );
    const result = appendResultSchema.parse(raw);
    if (result[0] === 0) return { envelope: entryToEnvelope(channel, [result[1], result[2]]), duplicate: true };
    const seq = Number(result[1].slice(0, -2));
    return { envelope: { id: request.id, channel, event: request.event, data: request.data, seq, ts: request.ts }, duplicate: false };
  }

  async read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]> {
    this.connection.assertAvailable();
    const entries: unknown[] = await this.redis.xrange(this.keys(tenant, channel).log, `${afterSeq + 1}-0`, '+', 'COUNT', limit);
    return entries.map((entry) => entryToEnvelope(channel, entry));
  }

  private async counter(tenant: string, channel: string, field: 'last' | 'delivered'): Promise<number> {
    this.connection.assertAvailable();
    return counterSchema.parse((await this.redis.hget(this.keys(tenant, channel).meta, field)) ?? 0);
  }

  lastSeq(tenant: string, channel: string): Promise<number> {
    return this.counter(tenant, channel, 'last');
  }

  deliveredSeq(tenant: string, channel: string): Promise<number> {
    return this.counter(tenant, channel, 'delivered');
  }

  async markDelivered(tenant: string, channel: string, seq: number): Promise<void> {
    this.connection.assertAvailable();
    const k = this.keys(tenant, channel);
    await runScript(this.redis, MARK_DELIVERED_SCRIPT, [k.meta, k.log, k.ids, k.pending], [seq, JSON.stringify([tenant, channel]), Date.now()]);
  }

  async pendingChannels(): Promise<ChannelRef[]> {
    this.connection.assertAvailable();
    const members = await this.redis.smembers(`${this.prefix}pending`);
    return members.map((member) => {
      const [tenant, channel] = refSchema.parse(JSON.parse(member));
      return { tenant, channel };
    });
  }

  async claimDelivery(tenant: string, channel: string, owner: string, ttlMs: number): Promise<boolean> {
    this.connection.assertAvailable();
    return (await runScript(this.redis, CLAIM_SCRIPT, [this.keys(tenant, channel).lease], [owner, ttlMs])) === 1;
  }

  async releaseDelivery(tenant: string, channel: string, owner: string): Promise<void> {
    await runScript(this.redis, RELEASE_SCRIPT, [this.keys(tenant, channel).lease], [owner]);
  }

  /** Every node's appends are published by the append script; this node hears them here (its own too). */
  async watchAppends(listener: (notice: AppendNotice) => void): Promise<() => Promise<void>> {
    const subscriber = this.connect();
    this.subscribers.add(subscriber);
    subscriber.on('message', (_channel: string, message: string) => {
      const notice = noticeSchema.safeParse(parseJson(message));
      if (notice.success) listener(notice.data);
    });
    await subscriber.subscribe(this.notifyChannel);
    return async () => {
      if (!this.subscribers.delete(subscriber)) return;
      this.connection.forget(subscriber);
      await closeRedisClient(subscriber);
    };
  }

  async close(): Promise<void> {
    const clients = [...this.subscribers, this.redis];
    this.subscribers.clear();
    await Promise.all(clients.map((client) => closeRedisClient(client)));
  }
}
