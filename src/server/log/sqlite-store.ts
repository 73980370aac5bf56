/**
 * The embedded default: one SQLite file (WAL) per BFF. better-sqlite3 is synchronous, so
 * each append runs as one transaction that no other append can interleave with; one BFF
 * process owns the file (several nodes share a redis store instead).
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import { type Envelope } from '../../core/envelope.js';
import { envelopeSchema, jsonValueSchema } from '../../core/schemas.js';
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
CREATE INDEX IF NOT EXISTS events_by_ts ON events (tenant, channel, ts);
`;

const eventRowSchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  event: z.string(),
  data: z.string(),
  ts: z.number().int(),
});
const channelRowSchema = z.object({
  last_seq: z.number().int(),
  delivered_seq: z.number().int(),
  size: z.number().int(),
  ttl_ms: z.number().int().nullable(),
});
const refRowSchema = z.object({ tenant: z.string(), channel: z.string() });
const seqRowSchema = z.object({ seq: z.number().int() }).optional();

function toEnvelope(channel: string, row: unknown): Envelope {
  const parsed = eventRowSchema.parse(row);
  return envelopeSchema.parse({ ...parsed, channel, data: jsonValueSchema.parse(JSON.parse(parsed.data)) });
}

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly appendTx;
  private readonly markDeliveredTx;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL survives a process crash; only an OS crash may lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.statements = {
      findById: db.prepare('SELECT seq, id, event, data, ts FROM events WHERE tenant = ? AND channel = ? AND id = ?'),
      channel: db.prepare('SELECT last_seq, delivered_seq, size, ttl_ms FROM channels WHERE tenant = ? AND channel = ?'),
      upsertChannel: db.prepare(
        `INSERT INTO channels (tenant, channel, last_seq, size, ttl_ms) VALUES (@tenant, @channel, 1, @size, @ttlMs)
         ON CONFLICT (tenant, channel) DO UPDATE SET last_seq = last_seq + 1, size = @size, ttl_ms = @ttlMs
         RETURNING last_seq AS seq`,
      ),
      insertEvent: db.prepare('INSERT INTO events (tenant, channel, seq, id, event, data, ts) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      trimBySeq: db.prepare('DELETE FROM events WHERE tenant = ? AND channel = ? AND seq <= ?'),
      trimByTs: db.prepare('DELETE FROM events WHERE tenant = ? AND channel = ? AND ts < ? AND seq <= ?'),
      read: db.prepare('SELECT seq, id, event, data, ts FROM events WHERE tenant = ? AND channel = ? AND seq > ? ORDER BY seq LIMIT ?'),
      setDelivered: db.prepare(
        'UPDATE channels SET delivered_seq = MIN(last_seq, MAX(delivered_seq, ?)) WHERE tenant = ? AND channel = ?',
      ),
      pending: db.prepare('SELECT tenant, channel FROM channels WHERE delivered_seq < last_seq'),
    };
    this.appendTx = db.transaction((request: AppendRequest): Appended => {
      const { tenant, channel } = request;
      const existing = this.statements.findById.get(tenant, channel, request.id);
      if (existing) return { envelope: toEnvelope(channel, existing), duplicate: true };
      const ttlMs = request.retention.ttlSeconds === undefined ? null : request.retention.ttlSeconds * 1000;
      const seqRow = seqRowSchema.parse(this.statements.upsertChannel.get({ tenant, channel, size: request.retention.size, ttlMs }));
      if (!seqRow) throw new Error('sqlite returned no seq');
      const envelope: Envelope = { id: request.id, channel, event: request.event, data: request.data, seq: seqRow.seq, ts: request.ts };
      this.statements.insertEvent.run(tenant, channel, envelope.seq, envelope.id, envelope.event, JSON.stringify(envelope.data), envelope.ts);
      this.trim(tenant, channel, request.ts);
      return { envelope, duplicate: false };
    });
    this.markDeliveredTx = db.transaction((tenant: string, channel: string, seq: number) => {
      this.statements.setDelivered.run(seq, tenant, channel);
      this.trim(tenant, channel, Date.now());
    });
  }

  /** Drops events beyond size / ttl, but never one the provider has not taken yet. */
  private trim(tenant: string, channel: string, now: number): void {
    const row = this.statements.channel.get(tenant, channel);
    if (!row) return;
    const state = channelRowSchema.parse(row);
    const bySize = Math.min(state.last_seq - state.size, state.delivered_seq);
    if (bySize > 0) this.statements.trimBySeq.run(tenant, channel, bySize);
    if (state.ttl_ms !== null) this.statements.trimByTs.run(tenant, channel, now - state.ttl_ms, state.delivered_seq);
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
