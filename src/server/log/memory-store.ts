import type { Envelope } from '../../core/envelope.js';
import type { Appended, AppendRequest, EventStore } from './store.js';

interface ChannelLog {
  lastSeq: number;
  events: Envelope[];
  byId: Map<string, Envelope>;
}

/** In-process log for tests and single-node dev runs without persistence. */
export class MemoryEventStore implements EventStore {
  private readonly channels = new Map<string, ChannelLog>();

  private log(tenant: string, channel: string): ChannelLog {
    const key = `${tenant}\u0000${channel}`;
    let log = this.channels.get(key);
    if (!log) {
      log = { lastSeq: 0, events: [], byId: new Map() };
      this.channels.set(key, log);
    }
    return log;
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
    const { size, ttlSeconds } = request.retention;
    const oldestTs = ttlSeconds === undefined ? -Infinity : request.ts - ttlSeconds * 1000;
    while (log.events.length > size || (log.events[0] && log.events[0].ts < oldestTs)) {
      const dropped = log.events.shift() as Envelope;
      log.byId.delete(dropped.id);
    }
    return { envelope, duplicate: false };
  }

  async read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]> {
    const { events } = this.log(tenant, channel);
    const start = events.findIndex((event) => event.seq > afterSeq);
    return start < 0 ? [] : events.slice(start, start + limit);
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
