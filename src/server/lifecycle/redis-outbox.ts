/**
 * The outbox in the event log's Redis (same client, keys under `<prefix>wh:`), shared by
 * every BFF node: the lease on a queue's head keeps two nodes from sending it at once.
 *
 * Keys: `wh:m` hash id -> pending message JSON; `wh:q:<orderKey>` list of ids (the queue);
 * `wh:due` sorted set orderKey -> when its head is due (or leased until); `wh:dead` hash
 * id -> dead letter JSON, `wh:dead:t` / `wh:dead:t:<tenant>` sorted sets id -> deadAt;
 * `wh:w:<tenant>` set of the tenant's orderKeys whose head waits for a retry.
 * Every change runs as one Lua script. Like the event log, a single Redis, not a Cluster.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { runScript } from '../log/redis-scripts.js';
import { clipError, MAX_CLAIM_SCAN, type ClaimRoom, type DeadLetter, type OutboxMessage, type PendingMessage, type WebhookOutbox } from './outbox.js';

/** Shared Lua: append one pending message JSON to the tail of its queue. ARGV-free helper. */
export const OUTBOX_PUSH_LUA = `
local function push(p, id, orderKey, json)
  if redis.call('HEXISTS', p .. 'wh:m', id) == 1 then return 0 end
  redis.call('HSET', p .. 'wh:m', id, json)
  if redis.call('RPUSH', p .. 'wh:q:' .. orderKey, id) == 1 then redis.call('ZADD', p .. 'wh:due', 0, orderKey) end
  return 1
end
`;

/** Shared Lua: remove `id` when it heads its queue; returns its decoded message or nil. */
const SHIFT = `
local function shift(p, id)
  local json = redis.call('HGET', p .. 'wh:m', id)
  if not json then return nil end
  local message = cjson.decode(json)
  local queue = p .. 'wh:q:' .. message.orderKey
  if redis.call('LINDEX', queue, 0) ~= id then return nil end
  redis.call('LPOP', queue)
  redis.call('HDEL', p .. 'wh:m', id)
  redis.call('SREM', p .. 'wh:w:' .. message.tenant, message.orderKey)
  if redis.call('LLEN', queue) > 0 then redis.call('ZADD', p .. 'wh:due', 0, message.orderKey)
  else redis.call('ZREM', p .. 'wh:due', message.orderKey) end
  return message
end
`;

/** ARGV: prefix, then (id, orderKey, json) per message. */
const ENQUEUE = `${OUTBOX_PUSH_LUA}
for i = 2, #ARGV, 3 do push(ARGV[1], ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return 0
`;

/**
 * ARGV: prefix, now, limit, leaseUntil, maxScan, perTenant ('' = unlimited), then (tenant,
 * room) pairs. Returns the heads' JSON, oldest due first, within each tenant's room.
 */
const CLAIM = `
local p = ARGV[1]
local limit = tonumber(ARGV[3])
local perTenant = tonumber(ARGV[6])
local room = {}
for i = 7, #ARGV, 2 do room[ARGV[i]] = tonumber(ARGV[i + 1]) end
local taken = {}
local out = {}
local page = perTenant and 200 or limit
local offset = 0
local claimed = {}
while #out < limit and offset < tonumber(ARGV[5]) do
  local keys = redis.call('ZRANGEBYSCORE', p .. 'wh:due', '-inf', ARGV[2], 'LIMIT', offset, page)
  for _, orderKey in ipairs(keys) do
    local id = redis.call('LINDEX', p .. 'wh:q:' .. orderKey, 0)
    if not id then
      table.insert(claimed, { orderKey, false })
    elseif #out < limit then
      local json = redis.call('HGET', p .. 'wh:m', id)
      local tenant = cjson.decode(json).tenant
      local count = taken[tenant] or 0
      local allowed = room[tenant] or perTenant
      if not allowed or count < allowed then
        taken[tenant] = count + 1
        table.insert(out, json)
        table.insert(claimed, { orderKey, tenant })
      end
    end
  end
  if #keys < page then break end
  offset = offset + page
end
-- Changed only now: a lease moves the queue's score, which would shift later pages.
for _, entry in ipairs(claimed) do
  if entry[2] then
    redis.call('ZADD', p .. 'wh:due', ARGV[4], entry[1])
    redis.call('SREM', p .. 'wh:w:' .. entry[2], entry[1])
  else
    redis.call('ZREM', p .. 'wh:due', entry[1])
  end
end
return out
`;

/** ARGV: prefix, tenant, now. Returns how many heads became due. */
const RELEASE = `
local p = ARGV[1]
local waiting = p .. 'wh:w:' .. ARGV[2]
local released = 0
for _, orderKey in ipairs(redis.call('SMEMBERS', waiting)) do
  if redis.call('ZSCORE', p .. 'wh:due', orderKey) then
    redis.call('ZADD', p .. 'wh:due', ARGV[3], orderKey)
    released = released + 1
  end
end
redis.call('DEL', waiting)
return released
`;

/** ARGV: prefix, id. */
const DELIVERED = `${SHIFT}
shift(ARGV[1], ARGV[2])
return 0
`;

/** ARGV: prefix, id, retryAt, error. */
const RETRY = `
local p = ARGV[1]
local json = redis.call('HGET', p .. 'wh:m', ARGV[2])
if not json then return 0 end
local message = cjson.decode(json)
if redis.call('LINDEX', p .. 'wh:q:' .. message.orderKey, 0) ~= ARGV[2] then return 0 end
message.attempts = message.attempts + 1
message.lastError = ARGV[4]
redis.call('HSET', p .. 'wh:m', ARGV[2], cjson.encode(message))
redis.call('ZADD', p .. 'wh:due', ARGV[3], message.orderKey)
redis.call('SADD', p .. 'wh:w:' .. message.tenant, message.orderKey)
return 1
`;

/** ARGV: prefix, id, error, now. */
const DEAD = `${SHIFT}
local p = ARGV[1]
local message = shift(p, ARGV[2])
if not message then return 0 end
message.attempts = message.attempts + 1
message.lastError = ARGV[3]
message.deadAt = tonumber(ARGV[4])
redis.call('HSET', p .. 'wh:dead', ARGV[2], cjson.encode(message))
redis.call('ZADD', p .. 'wh:dead:t', ARGV[4], ARGV[2])
redis.call('ZADD', p .. 'wh:dead:t:' .. message.tenant, ARGV[4], ARGV[2])
return 1
`;

/** ARGV: prefix, tenant ('' = any), now, ids... Returns how many moved. */
const REDELIVER = `${OUTBOX_PUSH_LUA}
local p = ARGV[1]
local moved = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local json = redis.call('HGET', p .. 'wh:dead', id)
  if json then
    local letter = cjson.decode(json)
    if ARGV[2] == '' or letter.tenant == ARGV[2] then
      redis.call('HDEL', p .. 'wh:dead', id)
      redis.call('ZREM', p .. 'wh:dead:t', id)
      redis.call('ZREM', p .. 'wh:dead:t:' .. letter.tenant, id)
      local message = { id = id, orderKey = letter.orderKey, tenant = letter.tenant, payload = letter.payload, queuedAt = tonumber(ARGV[3]), attempts = 0 }
      moved = moved + push(p, id, letter.orderKey, cjson.encode(message))
    end
  end
end
return moved
`;

const pendingSchema = z.object({
  id: z.string(),
  orderKey: z.string(),
  tenant: z.string(),
  payload: z.string(),
  queuedAt: z.number(),
  attempts: z.number().int(),
  lastError: z.string().optional(),
});
const deadSchema = pendingSchema.extend({ lastError: z.string(), deadAt: z.number() });

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Redeliveries are sent to Redis in slices, so one script never holds it for long. */
const REDELIVER_SLICE = 500;

/** A new message as the outbox keeps it: the ARGV triple `OUTBOX_PUSH_LUA`'s push() takes. */
export function pushArgs(message: OutboxMessage): [string, string, string] {
  return [message.id, message.orderKey, JSON.stringify({ ...message, attempts: 0 })];
}

export class RedisWebhookOutbox implements WebhookOutbox {
  /** `redis` is the event store's client (RedisEventStore.redis); the store closes it. */
  constructor(
    private readonly redis: Redis,
    readonly prefix = 'sb:',
  ) {}

  async enqueue(messages: OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const args = messages.flatMap(pushArgs);
    await runScript(this.redis, ENQUEUE, [], [this.prefix, ...args]);
  }

  async claimDue(now: number, limit: number, leaseMs: number, room?: ClaimRoom): Promise<PendingMessage[]> {
    const rooms = room ? [...room.tenants].flatMap(([tenant, left]) => [tenant, left]) : [];
    const raw = await runScript(this.redis, CLAIM, [], [this.prefix, now, limit, now + leaseMs, MAX_CLAIM_SCAN, room?.perTenant ?? '', ...rooms]);
    return z.array(z.unknown()).parse(raw).map((json) => pendingSchema.parse(parseJson(json)));
  }

  async releaseRetries(tenant: string, now: number): Promise<number> {
    return z.number().parse(await runScript(this.redis, RELEASE, [], [this.prefix, tenant, now]));
  }

  async delivered(id: string): Promise<void> {
    await runScript(this.redis, DELIVERED, [], [this.prefix, id]);
  }

  async retryLater(id: string, retryAt: number, error: string): Promise<void> {
    await runScript(this.redis, RETRY, [], [this.prefix, id, retryAt, clipError(error)]);
  }

  async deadLetter(id: string, error: string, now: number): Promise<void> {
    await runScript(this.redis, DEAD, [], [this.prefix, id, clipError(error), now]);
  }

  private deadIndex(tenant: string | undefined): string {
    return tenant === undefined ? `${this.prefix}wh:dead:t` : `${this.prefix}wh:dead:t:${tenant}`;
  }

  async deadLetters(tenant: string | undefined, limit: number): Promise<{ total: number; letters: DeadLetter[] }> {
    const index = this.deadIndex(tenant);
    const [total, ids] = await Promise.all([this.redis.zcard(index), this.redis.zrevrange(index, 0, limit - 1)]);
    const letters = ids.length === 0 ? [] : await this.redis.hmget(`${this.prefix}wh:dead`, ...ids);
    return { total, letters: letters.flatMap((json) => (json === null ? [] : [deadSchema.parse(parseJson(json))])) };
  }

  async redeliver(tenant: string | undefined, ids: string[] | undefined, now: number): Promise<number> {
    const wanted = ids ?? (await this.redis.zrange(this.deadIndex(tenant), 0, -1));
    let moved = 0;
    for (let start = 0; start < wanted.length; start += REDELIVER_SLICE) {
      const slice = wanted.slice(start, start + REDELIVER_SLICE);
      moved += z.number().parse(await runScript(this.redis, REDELIVER, [], [this.prefix, tenant ?? '', now, ...slice]));
    }
    return moved;
  }

  async close(): Promise<void> {}
}
