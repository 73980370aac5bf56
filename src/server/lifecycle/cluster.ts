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
 * Limit: events about one channel that two nodes cause within the same few milliseconds may
 * reach the outbox in either order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { WebhookEvent } from '../../../providers/types.js';
import type { Logger } from '../logger.js';
import { runScript } from '../log/redis-scripts.js';
import { cameEvent, goneEvent, isArrival, leavingOrder, parseSubject, subjectOf, type LifecycleTracker, type Subject } from './subjects.js';

/** ARGV: prefix, node, subject. Returns 1 when the subject just gained its first node. */
const ADD = `
local p = ARGV[1]
redis.call('SADD', p .. 'lc:n:' .. ARGV[2], ARGV[3])
if redis.call('SADD', p .. 'lc:s:' .. ARGV[3], ARGV[2]) == 1 and redis.call('SCARD', p .. 'lc:s:' .. ARGV[3]) == 1 then return 1 end
return 0
`;

/** ARGV: prefix, node, subject. Returns 1 when the subject just lost its last node. */
const REMOVE = `
local p = ARGV[1]
redis.call('SREM', p .. 'lc:n:' .. ARGV[2], ARGV[3])
if redis.call('SREM', p .. 'lc:s:' .. ARGV[3], ARGV[2]) == 1 and redis.call('SCARD', p .. 'lc:s:' .. ARGV[3]) == 0 then return 1 end
return 0
`;

/** ARGV: prefix, node. Reaps the node unless it is alive; returns the subjects it left empty. */
const REAP = `
local p = ARGV[1]
if redis.call('EXISTS', p .. 'lc:alive:' .. ARGV[2]) == 1 then return {} end
local emptied = {}
for _, subject in ipairs(redis.call('SMEMBERS', p .. 'lc:n:' .. ARGV[2])) do
  if redis.call('SREM', p .. 'lc:s:' .. subject, ARGV[2]) == 1 and redis.call('SCARD', p .. 'lc:s:' .. subject) == 0 then
    table.insert(emptied, subject)
  end
end
redis.call('DEL', p .. 'lc:n:' .. ARGV[2])
redis.call('SREM', p .. 'lc:nodes', ARGV[2])
return emptied
`;

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
  start(listener: (event: WebhookEvent) => unknown): void {
    this.listener = listener;
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
    this.enqueue(async () => {
      if ((await runScript(this.options.redis, adding ? ADD : REMOVE, [], [this.prefix, this.nodeId, member])) === 1) await this.listener?.(event);
    });
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
    for (const subject of subjects) {
      if ((await runScript(this.options.redis, ADD, [], [this.prefix, this.nodeId, JSON.stringify(subject)])) === 1) await this.listener?.(cameEvent(subject));
    }
  }

  private async reap(node: string): Promise<void> {
    const emptied = z.array(z.unknown()).parse(await runScript(this.options.redis, REAP, [], [this.prefix, node]));
    const subjects = leavingOrder(emptied.map(parseSubject).filter((subject): subject is Subject => subject !== undefined));
    if (subjects.length > 0) this.options.logger.info({ node, subjects: subjects.length }, 'reaped a silent node: its members left');
    for (const subject of subjects) await this.listener?.(goneEvent(subject));
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
