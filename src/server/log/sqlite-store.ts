/**
 * The embedded default: one SQLite file (WAL) per BFF. better-sqlite3 is synchronous, so
 * each append runs as one transaction that no other append can interleave with; one BFF
 * process owns the file (several nodes share a redis store instead).
 */
import type Database from 'better-sqlite3';
import { openSqlite } from './open-sqlite.js';
import { z } from 'zod';
import { type Envelope } from '../../core/envelope.js';
import { toEnvelope } from './stored-event.js';
import type { Appended, AppendRequest, ChannelRef, EventStore } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS channels (
  tenant TEXT NOT NULL,
  channel TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  delivered_seq INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL,
  ttl_ms INTEGER,
  PRIMARY KEY (tenant, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  tenant TEXT NOT NULL,
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (tenant, channel, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events (tenant, channel, id);
-- Retention trims a prefix of the primary key (see trim()); an index on ts was only write cost.
DROP INDEX IF EXISTS events_by_ts;
`;

/** The column order of storedEventSchema. */
const EVENT_COLUMNS = 'seq, id, event, data, ts';

const channelRowSchema = z.object({
  last_seq: z.number().int(),
  delivered_seq: z.number().int(),
  size: z.number().int(),
  ttl_ms: z.number().int().nullable(),
});
type ChannelRow = z.infer<typeof channelRowSchema>;
const refRowSchema = z.object({ tenant: z.string(), channel: z.string() });
const seqSchema = z.number().int().optional();

/**
 * Both retention statements walk the primary key (tenant, channel, seq) from the oldest kept
 * event: `+ts` keeps the planner off any ts index, so an append's trim costs O(log n + rows trimmed).
 */
export const RETENTION_SQL = {
  firstFresh: 'SELECT seq FROM events WHERE tenant = ? AND channel = ? AND seq > ? AND seq <= ? AND +ts >= ? ORDER BY seq LIMIT 1',
  trimBySeq: 'DELETE FROM events WHERE tenant = ? AND channel = ? AND seq <= ?',
};

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly appendTx;
  private readonly markDeliveredTx;

  constructor(file: string) {
    this.db = openSqlite(file, { synchronousNormal: true });
    this.db.exec(SCHEMA);
    const db = this.db;
    this.statements = {
      // Event rows come back raw, as arrays in storedEventSchema's column order.
      findById: db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE tenant = ? AND channel = ? AND id = ?`).raw(),
      channel: db.prepare('SELECT last_seq, delivered_seq, size, ttl_ms FROM channels WHERE tenant = ? AND channel = ?'),
      upsertChannel: db.prepare(
        `INSERT INTO channels (tenant, channel, last_seq, size, ttl_ms) VALUES (@tenant, @channel, 1, @size, @ttlMs)
         ON CONFLICT (tenant, channel) DO UPDATE SET last_seq = last_seq + 1, size = @size, ttl_ms = @ttlMs
         RETURNING last_seq, delivered_seq, size, ttl_ms`,
      ),
      insertEvent: db.prepare('INSERT INTO events (tenant, channel, seq, id, event, data, ts) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      firstFresh: db.prepare(RETENTION_SQL.firstFresh).pluck(),
      trimBySeq: db.prepare(RETENTION_SQL.trimBySeq),
      read: db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE tenant = ? AND channel = ? AND seq > ? ORDER BY seq LIMIT ?`).raw(),
      setDelivered: db.prepare(
        `UPDATE channels SET delivered_seq = MIN(last_seq, MAX(delivered_seq, ?)) WHERE tenant = ? AND channel = ?
         RETURNING last_seq, delivered_seq, size, ttl_ms`,
      ),
      pending: db.prepare('SELECT tenant, channel FROM channels WHERE delivered_seq < last_seq'),
    };
    this.appendTx = db.transaction((request: AppendRequest): Appended => {
      const { tenant, channel } = request;
      const existing = this.statements.findById.get(tenant, channel, request.id);
      if (existing) return { envelope: toEnvelope(channel, existing), duplicate: true };
      const ttlMs = request.retention.ttlSeconds === undefined ? null : request.retention.ttlSeconds * 1000;
      const state = channelRowSchema.parse(this.statements.upsertChannel.get({ tenant, channel, size: request.retention.size, ttlMs }));
      const envelope: Envelope = { id: request.id, channel, event: request.event, data: request.data, seq: state.last_seq, ts: request.ts };
      this.statements.insertEvent.run(tenant, channel, envelope.seq, envelope.id, envelope.event, JSON.stringify(envelope.data), envelope.ts);
      this.trim(tenant, channel, state, request.ts);
      return { envelope, duplicate: false };
    });
    this.markDeliveredTx = db.transaction((tenant: string, channel: string, seq: number) => {
      const row = this.statements.setDelivered.get(seq, tenant, channel);
      if (row) this.trim(tenant, channel, channelRowSchema.parse(row), Date.now());
    });
  }

  /**
   * Drops events beyond size / ttl, but never one the provider has not taken yet
   * (seq > delivered_seq). Like the other stores it trims a prefix of the log: by size
   * everything up to `last_seq - size`, by ttl the expired events before the first
   * unexpired one. One DELETE of a primary-key range, O(log n + rows dropped).
   */
  private trim(tenant: string, channel: string, state: ChannelRow, now: number): void {
    const delivered = state.delivered_seq;
    let floor = Math.min(state.last_seq - state.size, delivered);
    if (state.ttl_ms !== null && floor < delivered) {
      const fresh = seqSchema.parse(this.statements.firstFresh.get(tenant, channel, floor, delivered, now - state.ttl_ms));
      floor = fresh === undefined ? delivered : Math.max(floor, fresh - 1);
    }
    if (floor > 0) this.statements.trimBySeq.run(tenant, channel, floor);
  }

  async append(request: AppendRequest): Promise<Appended> {
    return this.appendTx(request);
  }

  async read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]> {
    return this.statements.read.all(tenant, channel, afterSeq, limit).map((row) => toEnvelope(channel, row));
  }

  private channelState(tenant: string, channel: string) {
    const row = this.statements.channel.get(tenant, channel);
    return row ? channelRowSchema.parse(row) : undefined;
  }

  async lastSeq(tenant: string, channel: string): Promise<number> {
    return this.channelState(tenant, channel)?.last_seq ?? 0;
  }

  async deliveredSeq(tenant: string, channel: string): Promise<number> {
    return this.channelState(tenant, channel)?.delivered_seq ?? 0;
  }

  async markDelivered(tenant: string, channel: string, seq: number): Promise<void> {
    this.markDeliveredTx(tenant, channel, seq);
  }

  async pendingChannels(): Promise<ChannelRef[]> {
    return this.statements.pending.all().map((row) => refRowSchema.parse(row));
  }

  async claimDelivery(): Promise<boolean> {
    return true;
  }

  async releaseDelivery(): Promise<void> {}

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
