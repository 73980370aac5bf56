/**
 * The outbox in the event log's SQLite file (its own tables, its own connection: WAL lets
 * both write the file in turn). Only a queue's head has a real `due_at`; the rest wait at
 * NOT_HEAD, so finding due work is one index range however long the app has been down.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../log/open-sqlite.js';
import { z } from 'zod';
import { clipError, MAX_CLAIM_SCAN, roomFor, type ClaimRoom, type DeadLetter, type OutboxMessage, type PendingMessage, type WebhookOutbox } from './outbox.js';

const NOT_HEAD = Number.MAX_SAFE_INTEGER;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS webhook_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  order_key TEXT NOT NULL,
  tenant TEXT NOT NULL,
  payload TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  due_at INTEGER NOT NULL,
  waiting INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhook_outbox_queue ON webhook_outbox (order_key, seq);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (due_at, seq);
CREATE TABLE IF NOT EXISTS webhook_dead (
  id TEXT PRIMARY KEY,
  order_key TEXT NOT NULL,
  tenant TEXT NOT NULL,
  payload TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  dead_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_dead_by_time ON webhook_dead (dead_at);
CREATE INDEX IF NOT EXISTS webhook_dead_by_tenant ON webhook_dead (tenant, dead_at);
`;

/** Files written before heads waiting for a retry were marked. */
const ADD_WAITING = 'ALTER TABLE webhook_outbox ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0';
const WAITING_INDEX = 'CREATE INDEX IF NOT EXISTS webhook_outbox_waiting ON webhook_outbox (tenant) WHERE waiting = 1';

/** Due heads read per page while a claim skips tenants without room. */
const CLAIM_PAGE = 200;

const pendingRowSchema = z.object({
  id: z.string(),
  order_key: z.string(),
  tenant: z.string(),
  payload: z.string(),
  queued_at: z.number().int(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
});
const deadRowSchema = pendingRowSchema.extend({ last_error: z.string(), dead_at: z.number().int() });
const countSchema = z.number().int();

function toPending(row: unknown): PendingMessage {
  const r = pendingRowSchema.parse(row);
  return {
    id: r.id,
    orderKey: r.order_key,
    tenant: r.tenant,
    payload: r.payload,
    queuedAt: r.queued_at,
    attempts: r.attempts,
    ...(r.last_error === null ? {} : { lastError: r.last_error }),
  };
}

function toDead(row: unknown): DeadLetter {
  const r = deadRowSchema.parse(row);
  return { id: r.id, orderKey: r.order_key, tenant: r.tenant, payload: r.payload, queuedAt: r.queued_at, attempts: r.attempts, lastError: r.last_error, deadAt: r.dead_at };
}

const COLUMNS = 'id, order_key, tenant, payload, queued_at, attempts, last_error';

export class SqliteWebhookOutbox implements WebhookOutbox {
  private readonly db: Database.Database;
  private readonly sql;
  private readonly enqueueTx;
  private readonly claimTx;
  private readonly removeHeadTx;
  private readonly redeliverTx;

  /** `file` is the event log's file (`<dataDir>/events.sqlite`). */
  constructor(file: string) {
    this.db = openSqlite(file, { synchronousNormal: true });
    this.db.exec(SCHEMA);
    const columns = z.array(z.object({ name: z.string() }).loose()).parse(this.db.prepare('PRAGMA table_info(webhook_outbox)').all());
    if (!columns.some((column) => column.name === 'waiting')) this.db.exec(ADD_WAITING);
    this.db.exec(WAITING_INDEX);
    const db = this.db;
    this.sql = {
      exists: db.prepare('SELECT 1 FROM webhook_outbox WHERE id = ?').pluck(),
      queueLength: db.prepare('SELECT COUNT(*) FROM (SELECT 1 FROM webhook_outbox WHERE order_key = ? LIMIT 1)').pluck(),
      insert: db.prepare(
        'INSERT INTO webhook_outbox (id, order_key, tenant, payload, queued_at, due_at) VALUES (@id, @orderKey, @tenant, @payload, @queuedAt, @dueAt)',
      ),
      due: db.prepare(`SELECT ${COLUMNS} FROM webhook_outbox WHERE due_at <= ? ORDER BY due_at, seq LIMIT ? OFFSET ?`),
      lease: db.prepare('UPDATE webhook_outbox SET due_at = ?, waiting = 0 WHERE id = ?'),
      release: db.prepare('UPDATE webhook_outbox SET due_at = ?, waiting = 0 WHERE tenant = ? AND waiting = 1'),
      head: db.prepare(`SELECT ${COLUMNS} FROM webhook_outbox WHERE id = ? AND due_at < ${NOT_HEAD}`),
      remove: db.prepare('DELETE FROM webhook_outbox WHERE id = ?'),
      promote: db.prepare(
        `UPDATE webhook_outbox SET due_at = 0 WHERE seq = (SELECT MIN(seq) FROM webhook_outbox WHERE order_key = ?)`,
      ),
      retry: db.prepare(`UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, due_at = ?, waiting = 1 WHERE id = ? AND due_at < ${NOT_HEAD}`),
      insertDead: db.prepare(
        `INSERT OR REPLACE INTO webhook_dead (id, order_key, tenant, payload, queued_at, attempts, last_error, dead_at)
         VALUES (@id, @orderKey, @tenant, @payload, @queuedAt, @attempts, @lastError, @deadAt)`,
      ),
      deadCount: db.prepare('SELECT COUNT(*) FROM webhook_dead').pluck(),
      deadCountOf: db.prepare('SELECT COUNT(*) FROM webhook_dead WHERE tenant = ?').pluck(),
      deadPage: db.prepare(`SELECT ${COLUMNS}, dead_at FROM webhook_dead ORDER BY dead_at DESC LIMIT ?`),
      deadPageOf: db.prepare(`SELECT ${COLUMNS}, dead_at FROM webhook_dead WHERE tenant = ? ORDER BY dead_at DESC LIMIT ?`),
      deadById: db.prepare(`SELECT ${COLUMNS}, dead_at FROM webhook_dead WHERE id = ?`),
      deadIds: db.prepare('SELECT id FROM webhook_dead ORDER BY dead_at').pluck(),
      deadIdsOf: db.prepare('SELECT id FROM webhook_dead WHERE tenant = ? ORDER BY dead_at').pluck(),
      removeDead: db.prepare('DELETE FROM webhook_dead WHERE id = ?'),
    };
    const push = (message: OutboxMessage): void => {
      if (this.sql.exists.get(message.id) !== undefined) return;
      const queued = countSchema.parse(this.sql.queueLength.get(message.orderKey)) > 0;
      this.sql.insert.run({ ...message, dueAt: queued ? NOT_HEAD : 0 });
    };
    this.enqueueTx = db.transaction((messages: OutboxMessage[]) => {
      for (const message of messages) push(message);
    });
    this.claimTx = db.transaction((now: number, limit: number, leaseMs: number, room: ClaimRoom | undefined) => {
      const claimed: PendingMessage[] = [];
      const taken = new Map<string, number>();
      const page = room ? CLAIM_PAGE : limit;
      for (let offset = 0; claimed.length < limit && offset < MAX_CLAIM_SCAN; offset += page) {
        const heads = this.sql.due.all(now, page, offset).map(toPending);
        for (const head of heads) {
          const count = taken.get(head.tenant) ?? 0;
          if (claimed.length >= limit || roomFor(room, head.tenant, count) <= 0) continue;
          taken.set(head.tenant, count + 1);
          claimed.push(head);
        }
        if (heads.length < page) break;
      }
      // Leased only now: a lease moves the head's due time, which would shift later pages.
      for (const head of claimed) this.sql.lease.run(now + leaseMs, head.id);
      return claimed;
    });
    this.removeHeadTx = db.transaction((id: string): PendingMessage | undefined => {
      const row = this.sql.head.get(id);
      if (row === undefined) return undefined;
      const head = toPending(row);
      this.sql.remove.run(id);
      this.sql.promote.run(head.orderKey);
      return head;
    });
    this.redeliverTx = db.transaction((tenant: string | undefined, ids: string[] | undefined, now: number) => {
      const wanted = ids ?? z.array(z.string()).parse(tenant === undefined ? this.sql.deadIds.all() : this.sql.deadIdsOf.all(tenant));
      let moved = 0;
      for (const id of wanted) {
        const row = this.sql.deadById.get(id);
        if (row === undefined) continue;
        const letter = toDead(row);
        if (tenant !== undefined && letter.tenant !== tenant) continue;
        this.sql.removeDead.run(id);
        push({ id, orderKey: letter.orderKey, tenant: letter.tenant, payload: letter.payload, queuedAt: now });
        moved++;
      }
      return moved;
    });
  }

  async enqueue(messages: OutboxMessage[]): Promise<void> {
    this.enqueueTx(messages);
  }

  async claimDue(now: number, limit: number, leaseMs: number, room?: ClaimRoom): Promise<PendingMessage[]> {
    return this.claimTx(now, limit, leaseMs, room);
  }

  async releaseRetries(tenant: string, now: number): Promise<number> {
    return this.sql.release.run(now, tenant).changes;
  }

  async delivered(id: string): Promise<void> {
    this.removeHeadTx(id);
  }

  async retryLater(id: string, retryAt: number, error: string): Promise<void> {
    this.sql.retry.run(clipError(error), retryAt, id);
  }

  async deadLetter(id: string, error: string, now: number): Promise<void> {
    this.db.transaction(() => {
      const head = this.removeHeadTx(id);
      if (head) this.sql.insertDead.run({ ...head, attempts: head.attempts + 1, lastError: clipError(error), deadAt: now });
    })();
  }

  async deadLetters(tenant: string | undefined, limit: number): Promise<{ total: number; letters: DeadLetter[] }> {
    const total = countSchema.parse(tenant === undefined ? this.sql.deadCount.get() : this.sql.deadCountOf.get(tenant));
    const rows = tenant === undefined ? this.sql.deadPage.all(limit) : this.sql.deadPageOf.all(tenant, limit);
    return { total, letters: rows.map(toDead) };
  }

  async redeliver(tenant: string | undefined, ids: string[] | undefined, now: number): Promise<number> {
    return this.redeliverTx(tenant, ids, now);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
