/**
 * Lua scripts for the redis store. Each runs atomically in Redis, which is what makes seq
 * assignment, id dedupe, retention and the delivery cursor consistent across BFF nodes.
 *
 * Per channel: `meta` hash {last, delivered, size, ttl}, `log` stream whose entry ids are
 * `<seq>-0` (so MINID trims by seq and XRANGE pages by seq), `ids` sorted set id -> seq
 * (trimmed together with the stream, which bounds the dedupe window to kept events).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Trims events below size / ttl retention, never above the delivery cursor. */
const TRIM = `
local function trim(meta, log, ids, now)
  local state = redis.call('HMGET', meta, 'last', 'delivered', 'size', 'ttl')
  local last = tonumber(state[1]) or 0
  local delivered = tonumber(state[2]) or 0
  local size = tonumber(state[3])
  local ttl = tonumber(state[4])
  local floor = 0
  if size then floor = math.max(0, math.min(last - size, delivered)) end
  if ttl then
    local cutoff = now - ttl
    local done = false
    while not done and floor < delivered do
      local batch = redis.call('XRANGE', log, (floor + 1) .. '-0', delivered .. '-0', 'COUNT', 100)
      if #batch == 0 then break end
      for _, entry in ipairs(batch) do
        local fields = entry[2]
        local ts = nil
        for i = 1, #fields, 2 do
          if fields[i] == 'ts' then ts = tonumber(fields[i + 1]) end
        end
        if ts and ts < cutoff then
          floor = tonumber(string.match(entry[1], '^(%d+)'))
        else
          done = true
          break
        end
      end
    end
  end
  if floor > 0 then
    redis.call('XTRIM', log, 'MINID', (floor + 1) .. '-0')
    redis.call('ZREMRANGEBYSCORE', ids, '-inf', floor)
  end
end
`;

/**
 * KEYS: meta, log, ids, pending set.
 * ARGV: id, event, data, ts, size, ttlMs ('' = none), pending member, notify channel, tenant, channel.
 * Returns {0, entryId, fields} for a duplicate, {1, entryId} for a new event.
 */
export const APPEND_SCRIPT = `${TRIM}
local existing = redis.call('ZSCORE', KEYS[3], ARGV[1])
if existing then
  local entries = redis.call('XRANGE', KEYS[2], existing .. '-0', existing .. '-0')
  if #entries > 0 then return {0, entries[1][1], entries[1][2]} end
end
local seq = redis.call('HINCRBY', KEYS[1], 'last', 1)
redis.call('HSET', KEYS[1], 'size', ARGV[5], 'ttl', ARGV[6])
local entryId = seq .. '-0'
redis.call('XADD', KEYS[2], entryId, 'id', ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'ts', ARGV[4])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[7])
trim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[8], cjson.encode({tenant = ARGV[9], channel = ARGV[10], seq = seq}))
return {1, entryId}
`;

/** KEYS: meta, log, ids, pending set. ARGV: seq, pending member, now. Returns the cursor. */
export const MARK_DELIVERED_SCRIPT = `${TRIM}
local state = redis.call('HMGET', KEYS[1], 'last', 'delivered')
local last = tonumber(state[1]) or 0
local delivered = tonumber(state[2]) or 0
local target = math.min(tonumber(ARGV[1]), last)
if target > delivered then
  redis.call('HSET', KEYS[1], 'delivered', target)
  delivered = target
end
if delivered >= last then redis.call('SREM', KEYS[4], ARGV[2]) end
trim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[3]))
return delivered
`;

/** KEYS: lease. ARGV: owner, ttlMs. */
export const CLAIM_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** KEYS: lease. ARGV: owner. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

const digests = new Map<string, string>();

/** Runs a script by its digest, loading it on the first NOSCRIPT. */
export async function runScript(redis: Redis, script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
  let sha = digests.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    digests.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(script, keys.length, ...keys, ...args);
  }
}
