/**
 * Presence caps across nodes (Redis scale-out): one Redis script per join decides, for the
 * whole cluster at once, whether a user may become a member of a presence channel under its
 * cap. A user counts once however many tabs and nodes it is on.
 *
 * Keys, under `<prefix>`: `pm:<channel>` (hash: user -> number of nodes holding it),
 * `node:<node>` (set of `<channel>\n<user>` this node holds) and `nodes` (sorted set: node ->
 * last heartbeat, Redis time). A node silent for the expiry is reaped by whichever node
 * heartbeats next, its members released; a node that finds itself reaped (it was only
 * stalled) registers its members again, past the cap if need be, as they are still there.
 * Joins and leaves that could not reach Redis (it was down) are made good the same way:
 * the next heartbeat replaces what Redis holds for this node with its members.
 * The scripts reach keys they compute (one Redis, or one slot: keep the prefix in a hash tag
 * for Redis Cluster).
 */
import type { Redis } from 'ioredis';

const NOW_MS = `local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`;

/** ARGV[1]=user, ARGV[2]=max members (-1: no cap), ARGV[3]=entry, ARGV[4]=node; KEYS: members, node set, nodes. */
const JOIN_SCRIPT = `
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then return 1 end
local max = tonumber(ARGV[2])
if max >= 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= max then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[3])
if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then
  ${NOW_MS}
  redis.call('ZADD', KEYS[3], now, ARGV[4])
end
return 1`;

/** ARGV[1]=user, ARGV[2]=entry; KEYS: members, node set. */
const LEAVE_SCRIPT = `
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;

/** Releases every member of node \`node\`; ARGV[n] = key prefix. */
const REAP_FUNCTION = `
local function reap(prefix, nodes, node)
  local set = prefix .. 'node:' .. node
  for _, entry in ipairs(redis.call('SMEMBERS', set)) do
    local cut = string.find(entry, '\\n', 1, true)
    if cut then
      local hash = prefix .. 'pm:' .. string.sub(entry, 1, cut - 1)
      local user = string.sub(entry, cut + 1)
      if redis.call('HINCRBY', hash, user, -1) <= 0 then redis.call('HDEL', hash, user) end
    end
  end
  redis.call('DEL', set)
  redis.call('ZREM', nodes, node)
end`;

/** ARGV[1]=node, ARGV[2]=expiry ms, ARGV[3]=prefix; KEYS: nodes. Returns 1 when this node was not registered (new, or reaped). */
const HEARTBEAT_SCRIPT = `${REAP_FUNCTION}
${NOW_MS}
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))) do
  reap(ARGV[3], KEYS[1], node)
end
return added`;

/** ARGV[1]=node, ARGV[2]=prefix; KEYS: nodes. */
const RELEASE_NODE_SCRIPT = `${REAP_FUNCTION}
reap(ARGV[2], KEYS[1], ARGV[1])
return 1`;

export class PresenceAdmission {
  /** A join or leave did not reach Redis: what it holds for this node may be wrong. */
  private stale = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly node: string,
  ) {}

  /** True: `userId` is (now) a member cluster-wide; false: the channel is full; undefined: Redis cannot answer. */
  async admit(channel: string, userId: string, maxMembers: number): Promise<boolean | undefined> {
    try {
      return (await this.join(channel, userId, maxMembers)) === 1;
    } catch {
      this.stale = true;
      return undefined;
    }
  }

  /** A member this node has, whatever the cap (admitted before, or while Redis was unreachable). */
  register(channel: string, userId: string): Promise<void> {
    return this.join(channel, userId, -1).then(
      () => undefined,
      () => this.markStale(),
    );
  }

  release(channel: string, userId: string): Promise<void> {
    const keys = [this.membersKey(channel), this.nodeKey];
    return this.redis.eval(LEAVE_SCRIPT, keys.length, ...keys, userId, entry(channel, userId)).then(
      () => undefined,
      () => this.markStale(),
    );
  }

  /**
   * Keeps this node registered and reaps silent ones; registers `members` again when this
   * node had been reaped or a join or leave was lost.
   */
  async heartbeat(expiryMs: number, members: () => Iterable<{ channel: string; userId: string }>): Promise<void> {
    try {
      const added = await this.redis.eval(HEARTBEAT_SCRIPT, 1, this.nodesKey, this.node, String(expiryMs), this.prefix);
      if (added !== 1 && !this.stale) return;
      this.stale = false;
      await this.redis.eval(RELEASE_NODE_SCRIPT, 1, this.nodesKey, this.node, this.prefix);
      await Promise.all([...members()].map(({ channel, userId }) => this.register(channel, userId)));
    } catch {
      // Redis is unreachable: the next heartbeat tries again.
      this.stale = true;
    }
  }

  /** Graceful shutdown: this node's members leave at once rather than at the reap. */
  async releaseAll(): Promise<void> {
    await this.redis.eval(RELEASE_NODE_SCRIPT, 1, this.nodesKey, this.node, this.prefix).catch(() => undefined);
  }

  private markStale(): void {
    this.stale = true;
  }

  private join(channel: string, userId: string, maxMembers: number): Promise<unknown> {
    const keys = [this.membersKey(channel), this.nodeKey, this.nodesKey];
    return this.redis.eval(JOIN_SCRIPT, keys.length, ...keys, userId, String(maxMembers), entry(channel, userId), this.node);
  }

  private membersKey(channel: string): string {
    return `${this.prefix}pm:${channel}`;
  }

  private get nodeKey(): string {
    return `${this.prefix}node:${this.node}`;
  }

  private get nodesKey(): string {
    return `${this.prefix}nodes`;
  }
}

function entry(channel: string, userId: string): string {
  return `${channel}\n${userId}`;
}
