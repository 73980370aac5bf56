/**
 * Lifecycle events across BFF nodes sharing Redis. Each node's embedded server reports its
 * own transitions (a channel's first / last subscriber on this node, a user's first / last
 * connection on this node); here they become cluster-wide ones in Redis, atomically:
 *
 * - a subject (an occupied channel, or a user present on a channel) has the set of nodes
 *   that contribute to it; `channel.occupied` / `presence.joined` when that set becomes
 *   non-empty, `channel.vacated` / `presence.left` when it becomes empty again;
 * - each node keeps a heartbeat key; a node whose key expired (crashed, SIGKILLed) is reaped
 *   by whichever node gets there first, in one script: its contributions are removed and the
 *   subjects left empty are reported once, by that node alone.
 *
 * Keys under `<prefix>lc:`: `s:<subject>` set of nodes, `n:<node>` set of the node's
 * subjects, `nodes` set of known nodes, `alive:<node>` heartbeat (expires after `nodeTtlMs`).
 * A subject is the JSON array `["o", tenant, channel]` or `["p", tenant, channel, user]`.
 *
 * A node that stalled longer than `nodeTtlMs` and was reaped, but lives on, notices at its
 * next heartbeat and adds its subjects again (its members are reported joined again).
 *
 * With the Redis webhook outbox (`start(…, atomic)`), each transition's webhook is queued by
 * the same script, so a channel's webhooks are in Redis's order whichever nodes caused them.
 * Without it (in-process callback only, or another outbox), events about one channel that
 * two nodes cause within the same few milliseconds may reach it in either order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { WebhookEvent } from '../../../providers/types.js';
import type { Logger } from '../logger.js';
import { runScript } from '../log/redis-scripts.js';
import type { LifecycleEvent } from './events.js';
import type { OutboxMessage } from './outbox.js';
import { OUTBOX_PUSH_LUA, pushArgs } from './redis-outbox.js';
import { cameEvent, goneEvent, isArrival, leavingOrder, parseSubject, subjectOf, type LifecycleTracker, type Subject } from './subjects.js';

/**
 * A transition and its webhook are written by one script: with `outboxPrefix` set, the
 * webhook (an outbox message prepared by the caller) is pushed when the transition
 * happens, so a channel's webhooks are queued in the order Redis decided the transitions,
 * whichever nodes caused them.
 */
/** ARGV: prefix, node, subject[, outboxPrefix, id, orderKey, json]. Returns 1 when the subject just gained its first node. */
const ADD = `${OUTBOX_PUSH_LUA}
local p = ARGV[1]
redis.call('SADD', p .. 'lc:n:' .. ARGV[2], ARGV[3])
if redis.call('SADD', p .. 'lc:s:' .. ARGV[3], ARGV[2]) == 1 and redis.call('SCARD', p .. 'lc:s:' .. ARGV[3]) == 1 then
  if ARGV[4] then push(ARGV[4], ARGV[5], ARGV[6], ARGV[7]) end
  return 1
end
return 0
`;

/** ARGV: prefix, node, subject[, outboxPrefix, id, orderKey, json]. Returns 1 when the subject just lost its last node. */
const REMOVE = `${OUTBOX_PUSH_LUA}
local p = ARGV[1]
redis.call('SREM', p .. 'lc:n:' .. ARGV[2], ARGV[3])
if redis.call('SREM', p .. 'lc:s:' .. ARGV[3], ARGV[2]) == 1 and redis.call('SCARD', p .. 'lc:s:' .. ARGV[3]) == 0 then
  if ARGV[4] then push(ARGV[4], ARGV[5], ARGV[6], ARGV[7]) end
  return 1
end
return 0
`;

/**
 * ARGV: prefix, node, outboxPrefix ('' = none), then (subject, id, orderKey, json) per
 * prepared subject, in the order their webhooks go out. Reaps the node unless it is alive;
 * returns the subjects it left empty (prepared ones first, in that order).
 */
const REAP = `${OUTBOX_PUSH_LUA}
local p = ARGV[1]
local node = ARGV[2]
if redis.call('EXISTS', p .. 'lc:alive:' .. node) == 1 then return {} end
local emptied = {}
local function drop(subject)
  if redis.call('SREM', p .. 'lc:s:' .. subject, node) == 1 and redis.call('SCARD', p .. 'lc:s:' .. subject) == 0 then
    table.insert(emptied, subject)
    return true
  end
  return false
end
for i = 4, #ARGV, 4 do
  if redis.call('SISMEMBER', p .. 'lc:n:' .. node, ARGV[i]) == 1 and drop(ARGV[i]) then push(ARGV[3], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
end
for _, subject in ipairs(redis.call('SMEMBERS', p .. 'lc:n:' .. node)) do drop(subject) end
redis.call('DEL', p .. 'lc:n:' .. node)
redis.call('SREM', p .. 'lc:nodes', node)
return emptied
`;

/** Webhooks written together with the transitions (the Redis webhook outbox, in the same Redis). */
export interface AtomicWebhooks {
  /** The Redis webhook outbox's key prefix. */
  outboxPrefix: string;
  /** The lifecycle event a provider event becomes and its outbox message, or undefined when it is none. */
  prepare(event: WebhookEvent): { event: LifecycleEvent; message: OutboxMessage } | undefined;
  /** After its webhook was written: the in-process side (callback, sender wake-up). */
  written(event: LifecycleEvent): unknown;
}

export interface ClusterOptions {
  redis: Redis;
  /** The event store's key prefix, default `sb:`. */
  keyPrefix?: string;
  /** A node silent this long is reaped (its members leave). */
  nodeTtlMs?: number;
  logger: Logger;
  nodeId?: string;
}

export const DEFAULT_NODE_TTL_MS = 15_000;

export class LifecycleCluster implements LifecycleTracker {
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private listener: ((event: WebhookEvent) => unknown) | undefined;
  private atomic: AtomicWebhooks | undefined;
  /** This node's transitions go to Redis one at a time, in the order the hub reported them. */
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Subjects this node contributes to, as reported by its hub (to add again after being reaped). */
  private readonly mine = new Set<string>();
  /** This node has been registered by a heartbeat. */
  private registered = false;

  constructor(private readonly options: ClusterOptions) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.prefix = options.keyPrefix ?? 'sb:';
    this.ttlMs = options.nodeTtlMs ?? DEFAULT_NODE_TTL_MS;
  }

  /** Starts the heartbeat and reaping; cluster-wide events go to `listener`. */
  start(listener: (event: WebhookEvent) => unknown, atomic?: AtomicWebhooks): void {
    this.listener = listener;
    this.atomic = atomic;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** One heartbeat: renews this node, re-registers it if it was reaped, reaps silent nodes. */
  tick(): Promise<void> {
    this.enqueue(() => this.heartbeat());
    return this.chain;
  }

  /** One of this node's own transitions (from the embedded server's hub). */
  report(event: WebhookEvent): void {
    const subject = subjectOf(event);
    if (!subject) return;
    const adding = isArrival(event);
    const member = JSON.stringify(subject);
    if (adding) this.mine.add(member);
    else this.mine.delete(member);
    this.enqueue(() => this.transition(adding ? ADD : REMOVE, member, event));
  }

  /** Runs ADD or REMOVE for this node; reports the event when the subject changed cluster-wide. */
  private async transition(script: string, member: string, event: WebhookEvent): Promise<void> {
    const prepared = this.atomic?.prepare(event);
    const webhook = prepared && this.atomic ? [this.atomic.outboxPrefix, ...pushArgs(prepared.message)] : [];
    if ((await runScript(this.options.redis, script, [], [this.prefix, this.nodeId, member, ...webhook])) !== 1) return;
    await (prepared ? this.atomic?.written(prepared.event) : this.listener?.(event));
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'lifecycle cluster state could not be updated in Redis');
    });
  }

  private async heartbeat(): Promise<void> {
    const { redis } = this.options;
    await redis.set(`${this.prefix}lc:alive:${this.nodeId}`, '1', 'PX', this.ttlMs);
    const added = await redis.sadd(`${this.prefix}lc:nodes`, this.nodeId);
    if (added === 1 && this.registered) await this.rejoin();
    this.registered = true;
    for (const node of await redis.smembers(`${this.prefix}lc:nodes`)) {
      if (node !== this.nodeId) await this.reap(node);
    }
  }

  /** This node was reaped while alive (a stall past the TTL): its subjects come back, channels before members. */
  private async rejoin(): Promise<void> {
    this.options.logger.warn({ node: this.nodeId }, 'this node was reaped as silent; adding its channels and members again');
    const subjects = [...this.mine].map(parseSubject).filter((subject): subject is Subject => subject !== undefined);
    subjects.sort((a, b) => (a[0] === b[0] ? 0 : a[0] === 'o' ? -1 : 1));
    for (const subject of subjects) await this.transition(ADD, JSON.stringify(subject), cameEvent(subject));
  }

  private async reap(node: string): Promise<void> {
    const { redis } = this.options;
    const prepared = new Map<string, LifecycleEvent>();
    const webhooks: string[] = [];
    if (this.atomic && node !== this.nodeId && (await redis.exists(`${this.prefix}lc:alive:${node}`)) === 1) return;
    if (this.atomic) {
      const held = (await redis.smembers(`${this.prefix}lc:n:${node}`)).map(parseSubject).filter((subject): subject is Subject => subject !== undefined);
      for (const subject of leavingOrder(held)) {
        const key = JSON.stringify(subject);
        const ready = this.atomic.prepare(goneEvent(subject));
        if (!ready) continue;
        prepared.set(key, ready.event);
        webhooks.push(key, ...pushArgs(ready.message));
      }
    }
    const emptied = z.array(z.string()).parse(await runScript(redis, REAP, [], [this.prefix, node, this.atomic?.outboxPrefix ?? '', ...webhooks]));
    if (emptied.length > 0) this.options.logger.info({ node, subjects: emptied.length }, 'reaped a silent node: its members left');
    const unprepared = leavingOrder(emptied.filter((key) => !prepared.has(key)).map(parseSubject).filter((subject): subject is Subject => subject !== undefined));
    for (const key of emptied) {
      const event = prepared.get(key);
      if (event) await this.atomic?.written(event);
    }
    for (const subject of unprepared) await this.listener?.(goneEvent(subject));
  }

  /** After this node's own leaves were reported: drops whatever is left of it (reporting it) and its heartbeat. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.enqueue(async () => {
      await this.options.redis.del(`${this.prefix}lc:alive:${this.nodeId}`);
      await this.reap(this.nodeId);
    });
    await this.chain;
  }
}
