import type { Envelope } from '../../core/envelope.js';
import { channelKey, type Appended, type AppendRequest, type ChannelRef, type EventStore, type Retention } from './store.js';

interface ChannelLog extends ChannelRef {
  lastSeq: number;
  deliveredSeq: number;
  retention: Retention;
  events: Envelope[];
  byId: Map<string, Envelope>;
}

/** In-process log for tests and single-node dev runs without persistence. */
export class MemoryEventStore implements EventStore {
  private readonly channels = new Map<string, ChannelLog>();

  private log(tenant: string, channel: string): ChannelLog {
    const key = channelKey(tenant, channel);
    let log = this.channels.get(key);
    if (!log) {
      log = { tenant, channel, lastSeq: 0, deliveredSeq: 0, retention: { size: Infinity }, events: [], byId: new Map() };
      this.channels.set(key, log);
    }
    return log;
  }

  /** Drops events beyond size / ttl, but never one the provider has not taken yet. */
  private trim(log: ChannelLog, now: number): void {
    const { size, ttlSeconds } = log.retention;
    const oldestTs = ttlSeconds === undefined ? -Infinity : now - ttlSeconds * 1000;
    for (let oldest = log.events[0]; oldest && oldest.seq <= log.deliveredSeq; oldest = log.events[0]) {
      if (log.events.length <= size && oldest.ts >= oldestTs) break;
      log.events.shift();
      log.byId.delete(oldest.id);
    }
  }

  async append(request: AppendRequest): Promise<Appended> {
    const log = this.log(request.tenant, request.channel);
    const existing = log.byId.get(request.id);
    if (existing) return { envelope: existing, duplicate: true };
    const envelope: Envelope = {
      id: request.id,
      channel: request.channel,
      event: request.event,
      data: request.data,
      seq: ++log.lastSeq,
      ts: request.ts,
    };
    log.events.push(envelope);
    log.byId.set(envelope.id, envelope);
    log.retention = request.retention;
    this.trim(log, request.ts);
    return { envelope, duplicate: false };
  }

  async read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]> {
    const { events } = this.log(tenant, channel);
    const first = events[0];
    if (!first) return [];
    // seq is dense among kept events, so the position is arithmetic.
    const start = Math.max(0, afterSeq + 1 - first.seq);
    return events.slice(start, start + limit);
  }

  async lastSeq(tenant: string, channel: string): Promise<number> {
    return this.channels.get(channelKey(tenant, channel))?.lastSeq ?? 0;
  }

  async deliveredSeq(tenant: string, channel: string): Promise<number> {
    return this.channels.get(channelKey(tenant, channel))?.deliveredSeq ?? 0;
  }

  async markDelivered(tenant: string, channel: string, seq: number): Promise<void> {
    const log = this.log(tenant, channel);
    log.deliveredSeq = Math.max(log.deliveredSeq, Math.min(seq, log.lastSeq));
    this.trim(log, Date.now());
  }

  async pendingChannels(): Promise<ChannelRef[]> {
    return [...this.channels.values()]
      .filter((log) => log.deliveredSeq < log.lastSeq)
      .map(({ tenant, channel }) => ({ tenant, channel }));
  }

  async claimDelivery(): Promise<boolean> {
    return true;
  }

  async releaseDelivery(): Promise<void> {}

  async close(): Promise<void> {
    this.channels.clear();
  }
}
