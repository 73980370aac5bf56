/**
 * Redis scale-out for the local provider: every node publishes what it delivers on one
 * pub/sub channel per app and delivers what the other nodes publish to its own sockets.
 *
 * Delivery is at-most-once across nodes, like Redis pub/sub itself: while Redis is
 * unreachable a node keeps delivering to its own sockets, and its subscribers miss what
 * other nodes publish meanwhile (the client wrapper recovers envelopes from history).
 *
 * Presence: each node announces its own joins and leaves, numbered (`pseq`); heartbeats
 * carry the latest number, so a node that missed a message (outage, late start) sees the
 * gap and asks the sender for a full snapshot. A node that stops sending heartbeats for
 * three intervals is dropped, and with it its members. Who may join a presence channel
 * under its cap is decided in Redis, atomically for the cluster (presence-admission.ts).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { JsonValue } from '../../src/core/envelope.js';
import type { ComponentHealth } from '../../src/core/health.js';
import type { LocalLogger } from './options.js';
import { PresenceAdmission } from './presence-admission.js';
import { parseRelayMessage, type RelayMessage } from './relay-messages.js';
import type { NodeCounts, RemoteCounts } from './remote-counts.js';
import type { PresenceChange, RemoteMember, RemotePresence } from './remote-presence.js';

const MISSED_HEARTBEATS = 3;
/** Count changes within this window go out as one report. */
const COUNTS_COALESCE_MS = 50;
const CLOSE_TIMEOUT_MS = 1000;

export interface ScaleOutOptions {
  redisUrl: string;
  /** Pub/sub channel shared by the app's nodes. */
  topic: string;
  /** Prefix of the app's presence admission keys. */
  presenceKeyPrefix: string;
  heartbeatMs: number;
  logger: LocalLogger;
}

export interface ScaleOutHandlers {
  /** An `event` or `envelope` message from another node. */
  deliver(kind: 'event' | 'envelope', channel: string, event: string, data: string, excludeSocketId: string | undefined): void;
  deliverClientEvent(channel: string, event: string, data: unknown, userId: string | undefined): void;
  presenceChanged(change: PresenceChange): void;
  localMembers(): Iterable<RemoteMember>;
  /** This node's complete counts, reported after changes and with every heartbeat. */
  localCounts(): NodeCounts;
  terminate(userId: string, scope: { tenant: string; user: string } | undefined): void;
  /** Another node signed `user`'s channel authorization for `socketId`, maybe one of this node's sockets. */
  authorized(socketId: string, tenant: string, user: string): void;
}

export interface ScaleOutStats {
  node: string;
  /** Both Redis connections are up and the node is subscribed. */
  connected: boolean;
  published: number;
  received: number;
  /** Events and presence changes that could not be published (Redis down); other nodes miss them. */
  dropped: number;
  /** Messages from Redis that failed validation. */
  malformed: number;
  /** Other nodes heard from within the heartbeat expiry. */
  remoteNodes: number;
}

interface RemoteNode {
  lastSeen: number;
  /** Last presence message number applied; undefined until in sync. */
  pseq: number | undefined;
  syncRequestedAt: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Outgoing = DistributiveOmit<RelayMessage, 'node'>;

export class ScaleOut {
  readonly node = randomUUID();
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  /** Own messages come back from Redis; they are recognised by this prefix without parsing. */
  private readonly ownPrefix: string;
  private readonly remotes = new Map<string, RemoteNode>();
  private readonly counters = { published: 0, received: 0, dropped: 0, malformed: 0 };
  private pseq = 0;
  private subscribed = false;
  private closed = false;
  private healthy = true;
  /** While not healthy: since when, and the last connection error. */
  private unhealthySince = 0;
  private lastError = 'connection lost';
  private heartbeat: NodeJS.Timeout | undefined;
  private countsTimer: NodeJS.Timeout | undefined;
  private readonly admission: PresenceAdmission;

  constructor(
    private readonly options: ScaleOutOptions,
    private readonly handlers: ScaleOutHandlers,
    private readonly presence: RemotePresence,
    private readonly counts: RemoteCounts,
  ) {
    this.ownPrefix = `{"node":${JSON.stringify(this.node)},`;
    // Without an offline queue, publishes fail fast while Redis is down instead of piling up in memory.
    this.publisher = new Redis(options.redisUrl, {
      connectionName: `sb-local:${this.node}:pub`,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
    });
    // Resubscribing is done by hand on every `ready`, so it is followed by a presence sync.
    this.subscriber = new Redis(options.redisUrl, { connectionName: `sb-local:${this.node}:sub`, autoResubscribe: false, maxRetriesPerRequest: null });
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (error: Error) => this.onConnectionError(error));
      client.on('close', () => this.onConnectionError(undefined));
    }
    this.publisher.on('ready', () => this.onReady());
    this.subscriber.on('ready', () => void this.subscribe());
    this.subscriber.on('message', (_topic: string, text: string) => this.onMessage(text));
    this.admission = new PresenceAdmission(this.publisher, options.presenceKeyPrefix, this.node);
    this.heartbeat = setInterval(() => this.tick(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  publishEvent(kind: 'event' | 'envelope', channel: string, event: string, data: string, excludeSocketId: string | undefined): void {
    this.send({ kind, channel, event, data, excludeSocketId });
  }

  publishClientEvent(channel: string, event: string, data: unknown, userId: string | undefined): void {
    this.send({ kind: 'client', channel, event, data: data === undefined ? undefined : JSON.stringify(data), userId });
  }

  /** Local counts changed: report them soon (coalesced). */
  countsChanged(): void {
    if (this.countsTimer || this.closed) return;
    this.countsTimer = setTimeout(() => this.sendCounts(), COUNTS_COALESCE_MS);
    this.countsTimer.unref();
  }

  publishTerminate(userId: string, scope: { tenant: string; user: string } | undefined): void {
    this.send({ kind: 'terminate', userId, ...scope });
  }

  /**
   * Admits `userId` to a presence channel under `maxMembers`, cluster-wide. True: admitted
   * (`release` it unless it joins); false: full; undefined: Redis cannot decide now.
   */
  admit(channel: string, userId: string, maxMembers: number): Promise<boolean | undefined> {
    return this.closed ? Promise.resolve(undefined) : this.admission.admit(channel, userId, maxMembers);
  }

  /** An admitted user did not join after all (its socket left meanwhile). */
  release(channel: string, userId: string): void {
    if (!this.closed) void this.admission.release(channel, userId);
  }

  /** This node signed `user`'s channel authorization for a socket it does not have: tell the node that has it. */
  publishAuthorized(socketId: string, tenant: string, user: string): void {
    this.send({ kind: 'authorized', socketId, tenant, user });
  }

  joined(channel: string, userId: string, info: JsonValue | undefined): void {
    // Counted in Redis too: a no-op after `admit`, and it registers joins made while Redis was away.
    if (!this.closed) void this.admission.register(channel, userId);
    this.send({ kind: 'join', pseq: ++this.pseq, channel, userId, info });
  }

  left(channel: string, userId: string): void {
    this.release(channel, userId);
    this.send({ kind: 'leave', pseq: ++this.pseq, channel, userId });
  }

  stats(): ScaleOutStats {
    return {
      node: this.node,
      connected: this.subscribed && this.publisher.status === 'ready',
      ...this.counters,
      remoteNodes: this.remotes.size,
    };
  }

  /** Not ready while either Redis connection is down: other nodes miss this node's events and it misses theirs. */
  health(): ComponentHealth {
    if (this.healthy) return { ready: true };
    return {
      ready: false,
      detail: `the local provider's Redis fan-out at ${new URL(this.options.redisUrl).host} is unreachable (${this.lastError}): events reach this node's clients only`,
      since: this.unhealthySince,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.heartbeat);
    clearTimeout(this.countsTimer);
    if (this.publisher.status === 'ready') {
      await withTimeout(this.admission.releaseAll());
      await withTimeout(this.publisher.publish(this.options.topic, this.serialize({ kind: 'bye' })).catch(() => undefined));
    }
    this.closed = true;
    this.subscribed = false;
    if (this.subscriber.status === 'ready') await withTimeout(this.subscriber.unsubscribe().catch(() => undefined));
    await Promise.all([quit(this.subscriber), quit(this.publisher)]);
  }

  private serialize(message: Outgoing): string {
    // `node` first: that is what `ownPrefix` matches.
    return JSON.stringify({ node: this.node, ...message });
  }

  private send(message: Outgoing): void {
    if (this.closed) return;
    this.publisher.publish(this.options.topic, this.serialize(message)).then(
      () => this.counters.published++,
      () => this.counters.dropped++,
    );
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.options.topic);
    } catch (error) {
      // The connection dropped again; the next `ready` retries.
      this.onConnectionError(error instanceof Error ? error : undefined);
      return;
    }
    this.subscribed = true;
    this.onReady();
    // Others' messages may have been missed while unsubscribed: ask everyone for their members.
    this.send({ kind: 'sync' });
  }

  private onReady(): void {
    if (this.healthy || !this.subscribed || this.publisher.status !== 'ready') return;
    this.healthy = true;
    this.lastError = 'connection lost';
    this.options.logger.info({ node: this.node }, 'local provider: Redis scale-out reconnected');
  }

  private onConnectionError(error: Error | undefined): void {
    if (this.closed) return;
    if (this.subscriber.status !== 'ready') this.subscribed = false;
    if (error) this.lastError = error.message;
    if (!this.healthy) return;
    this.healthy = false;
    this.unhealthySince = Date.now();
    this.options.logger.error(
      { node: this.node, err: error },
      'local provider: Redis scale-out connection lost; delivering to this node only until it is back',
    );
  }

  private onMessage(text: string): void {
    if (this.closed || text.startsWith(this.ownPrefix)) return;
    const message = parseRelayMessage(text);
    if (!message) {
      this.counters.malformed++;
      return;
    }
    if (message.node === this.node) return;
    this.counters.received++;
    const remote = this.seen(message.node);
    switch (message.kind) {
      case 'event':
      case 'envelope':
        this.handlers.deliver(message.kind, message.channel, message.event, message.data, message.excludeSocketId);
        return;
      case 'client': {
        const data = message.data === undefined ? undefined : parseJson(message.data);
        if (data === INVALID) {
          this.counters.malformed++;
          return;
        }
        this.handlers.deliverClientEvent(message.channel, message.event, data, message.userId);
        return;
      }
      case 'join':
      case 'leave':
        this.applyNumbered(message.node, remote, message.pseq);
        this.apply(
          message.kind === 'join'
            ? this.presence.add(message.node, message.channel, message.userId, message.info)
            : this.presence.remove(message.node, message.channel, message.userId),
        );
        return;
      case 'snapshot':
        remote.pseq = message.pseq;
        for (const change of this.presence.replaceNode(message.node, message.members)) this.apply(change);
        return;
      case 'sync':
        if (message.target === undefined || message.target === this.node) this.sendSnapshot();
        return;
      case 'alive':
        if (remote.pseq !== message.pseq) this.requestSync(message.node, remote);
        return;
      case 'bye':
        this.forget(message.node);
        return;
      case 'counts':
        this.counts.replaceNode(message.node, message);
        return;
      case 'terminate':
        this.handlers.terminate(message.userId, message.tenant !== undefined && message.user !== undefined ? { tenant: message.tenant, user: message.user } : undefined);
        return;
      case 'authorized':
        this.handlers.authorized(message.socketId, message.tenant, message.user);
        return;
    }
  }

  private seen(node: string): RemoteNode {
    let remote = this.remotes.get(node);
    if (!remote) {
      // A node's very first state is empty, so number 0 means "in sync".
      remote = { lastSeen: 0, pseq: 0, syncRequestedAt: Number.NEGATIVE_INFINITY };
      this.remotes.set(node, remote);
    }
    remote.lastSeen = Date.now();
    return remote;
  }

  /** Applies a numbered presence message; a gap means one was lost, so a snapshot is requested. */
  private applyNumbered(node: string, remote: RemoteNode, pseq: number): void {
    const expected = remote.pseq === undefined ? undefined : remote.pseq + 1;
    remote.pseq = pseq;
    if (expected !== pseq) this.requestSync(node, remote);
  }

  private requestSync(node: string, remote: RemoteNode): void {
    remote.pseq = undefined;
    const now = Date.now();
    if (now - remote.syncRequestedAt < this.options.heartbeatMs) return;
    remote.syncRequestedAt = now;
    this.send({ kind: 'sync', target: node });
  }

  private sendSnapshot(): void {
    this.send({ kind: 'snapshot', pseq: ++this.pseq, members: [...this.handlers.localMembers()] });
  }

  private apply(change: PresenceChange | undefined): void {
    if (change) this.handlers.presenceChanged(change);
  }

  private sendCounts(): void {
    clearTimeout(this.countsTimer);
    this.countsTimer = undefined;
    const counts = this.handlers.localCounts();
    this.send({ kind: 'counts', ...counts });
  }

  private forget(node: string): void {
    this.remotes.delete(node);
    this.counts.dropNode(node);
    for (const change of this.presence.dropNode(node)) this.apply(change);
  }

  private tick(): void {
    if (this.publisher.status === 'ready') {
      this.send({ kind: 'alive', pseq: this.pseq });
      this.sendCounts();
      void this.admission.heartbeat(this.options.heartbeatMs * MISSED_HEARTBEATS, () => this.handlers.localMembers());
    }
    const expired = Date.now() - this.options.heartbeatMs * MISSED_HEARTBEATS;
    for (const [node, remote] of this.remotes) if (remote.lastSeen < expired) this.forget(node);
  }
}

const INVALID = Symbol('invalid');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

function withTimeout<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), CLOSE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** QUIT when connected (bounded), otherwise just drop the connection and its reconnect loop. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') await withTimeout(client.quit().catch(() => undefined));
  client.disconnect();
}
