/**
 * What the stores read back is parsed (flat row schema + JSON.parse), so a corrupt row is
 * an error rather than a malformed envelope; and sqlite retention stays cheap however
 * much history a channel keeps.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { RETENTION_SQL, SqliteEventStore } from '../../src/server/log/sqlite-store.js';
import { toEnvelope } from '../../src/server/log/stored-event.js';
import type { AppendRequest, Retention } from '../../src/server/log/store.js';
import { deleteRedisKeys, REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

function request(overrides: Partial<AppendRequest> & { id: string }): AppendRequest {
  return { tenant: 'acme', channel: 'orders:1', event: 'status', data: { n: 1 }, ts: Date.now(), retention: { size: 1000 }, ...overrides };
}

describe('toEnvelope (stored rows)', () => {
  it('turns a [seq, id, event, data, ts] row into an envelope for the channel asked for', () => {
    expect(toEnvelope('orders:1', [3, 'e-3', 'status', '{"a":[1,"x",null]}', 1_700_000_000_000])).toEqual({
      id: 'e-3',
      channel: 'orders:1',
      event: 'status',
      data: { a: [1, 'x', null] },
      seq: 3,
      ts: 1_700_000_000_000,
    });
  });

  it.each([
    ['a seq that is not a positive integer', [0, 'e', 'status', '1', 1]],
    ['an id outside the id grammar', [1, 'bad id', 'status', '1', 1]],
    ['an event outside the event grammar', [1, 'e', 'bad\nevent', '1', 1]],
    ['a ts that is not a number', [1, 'e', 'status', '1', '1']],
    ['a missing column', [1, 'e', 'status', '1']],
    ['data that is not JSON', [1, 'e', 'status', '{oops', 1]],
    ['something that is not a row', { seq: 1 }],
  ])('rejects %s', (_what, row) => {
    expect(() => toEnvelope('orders:1', row)).toThrow();
  });
});

describe('SqliteEventStore read-back and retention', () => {
  let dir: string;
  let file: string;
  let store: SqliteEventStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sb-readback-'));
    file = path.join(dir, 'events.sqlite');
    store = new SqliteEventStore(file);
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects a read when a stored row is corrupt', async () => {
    await store.append(request({ id: 'e1' }));
    await store.append(request({ id: 'e2' }));
    const db = new Database(file);
    try {
      db.prepare("UPDATE events SET data = '{oops' WHERE id = 'e2'").run();
    } finally {
      db.close();
    }
    expect((await store.read('acme', 'orders:1', 0, 1)).map((event) => event.id)).toEqual(['e1']);
    await expect(store.read('acme', 'orders:1', 0, 10)).rejects.toThrow();
  });

  it('drops the former ts index of an existing file', async () => {
    await store.close();
    const db = new Database(file);
    try {
      db.exec('CREATE INDEX events_by_ts ON events (tenant, channel, ts)');
    } finally {
      db.close();
    }
    store = new SqliteEventStore(file);
    const check = new Database(file, { readonly: true });
    try {
      const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").pluck().all();
      expect(indexes).not.toContain('events_by_ts');
      expect(indexes).toContain('events_by_id');
    } finally {
      check.close();
    }
  });

  it('trims retention by a primary-key range, never by scanning the kept events', async () => {
    const retention: Retention = { size: 3, ttlSeconds: 3600 };
    for (let index = 1; index <= 10; index += 1) await store.append(request({ channel: 'orders:big', id: `b${index}`, retention }));
    await store.markDelivered('acme', 'orders:big', 10);
    expect((await store.read('acme', 'orders:big', 0, 100)).map((event) => event.seq)).toEqual([8, 9, 10]);
    const check = new Database(file, { readonly: true });
    try {
      for (const sql of Object.values(RETENTION_SQL)) {
        const plan = check.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...['acme', 'orders:big', 0, 10, 0].slice(0, sql.split('?').length - 1)).map((row) => (row as { detail: string }).detail);
        expect(plan.join('\n')).toMatch(/SEARCH events USING (PRIMARY KEY|INDEX sqlite_autoindex_events_1) \(tenant=\? AND channel=\? AND seq[<>]/);
        expect(plan.join('\n')).not.toMatch(/SCAN/);
      }
    } finally {
      check.close();
    }
  });
});

const redisDecision = await redisCheck();

describe.skipIf(redisDecision === 'skip')('RedisEventStore read-back', () => {
  const keyPrefix = `sbtest:readback:${process.pid}:${Date.now()}:`;
  let store: RedisEventStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
    await deleteRedisKeys(REDIS_URL, keyPrefix);
  });

  it('rejects a read when a stream entry is malformed', async () => {
    requireService(redisDecision, 'Redis');
    store = new RedisEventStore({ url: REDIS_URL, keyPrefix });
    await store.append(request({ id: 'e1', data: { v: [1, 'two'] } }));
    expect(await store.read('acme', 'orders:1', 0, 10)).toEqual([
      expect.objectContaining({ id: 'e1', channel: 'orders:1', data: { v: [1, 'two'] }, seq: 1 }),
    ]);
    await store.redis.xadd(`${keyPrefix}{acme}:orders:1:log`, '2-0', 'id', 'e2', 'event', 'status', 'ts', '1');
    await expect(store.read('acme', 'orders:1', 0, 10)).rejects.toThrow();
    await store.redis.xadd(`${keyPrefix}{acme}:orders:1:log`, '3-0', 'id', 'e3', 'event', 'status', 'data', '1', 'ts', 'soon');
    await expect(store.read('acme', 'orders:1', 2, 10)).rejects.toThrow();
  });
});
