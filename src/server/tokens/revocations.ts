/**
 * Revoked users: when an app terminates a user of its tenant (logout, role change, ban),
 * every capability token minted for that user before that moment stops working. A
 * revocation only has to outlive the token lifetime: older tokens have expired anyway.
 * Times are issuance stamps (epoch microseconds, see issue-stamp.ts); values stored in
 * seconds by earlier versions are read as the end of their second.
 *
 * `memory` serves one BFF node and is lost on restart (tests, SWITCHBOARD_STORE=memory);
 * `sqlite` survives restarts of one node (the default store); `redis` is shared by every
 * node using the same Redis (SWITCHBOARD_STORE=redis).
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../log/open-sqlite.js';
import { closeRedisClient } from '../log/redis-connection.js';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { stampFromStored } from './issue-stamp.js';

export type RevocationListener = (tenant: string, user: string) => void;

export interface TokenRevocations {
  /** Tokens of (tenant, user) issued at or before stamp `at` are refused for the next `ttlSeconds`. */
  revoke(tenant: string, user: string, at: number, ttlSeconds: number): Promise<void>;
  /** The latest revocation stamp of (tenant, user), if any is still in force. */
  revokedAt(tenant: string, user: string): Promise<number | undefined>;
  /** Told of every revocation this store learns of: this node's, and with `redis` every node's. */
  listen(listener: RevocationListener): void;
  close(): Promise<void>;
}

/** Listeners of one store. */
class Listeners {
  private readonly listeners: RevocationListener[] = [];

  add(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  emit(tenant: string, user: string): void {
    for (const listener of this.listeners) listener(tenant, user);
  }
}

const key = (tenant: string, user: string) => `${tenant}\u0000${user}`;

export class MemoryRevocations implements TokenRevocations {
  private readonly entries = new Map<string, { at: number; until: number }>();
  private readonly listeners = new Listeners();

  constructor(private readonly now: () => number = Date.now) {}

  async revoke(tenant: string, user: string, at: number, ttlSeconds: number): Promise<void> {
    this.sweep();
    const previous = this.entries.get(key(tenant, user));
    this.entries.set(key(tenant, user), { at: Math.max(at, previous?.at ?? 0), until: this.now() + ttlSeconds * 1000 });
    this.listeners.emit(tenant, user);
  }

  listen(listener: RevocationListener): void {
    this.listeners.add(listener);
  }

  async revokedAt(tenant: string, user: string): Promise<number | undefined> {
    const entry = this.entries.get(key(tenant, user));
    return entry && entry.until > this.now() ? entry.at : undefined;
  }

  async close(): Promise<void> {}

  private sweep(): void {
    const now = this.now();
    for (const [name, entry] of this.entries) if (entry.until <= now) this.entries.delete(name);
  }
}

const storedStamp = z.coerce.number().int().min(0).transform(stampFromStored);

export class SqliteRevocations implements TokenRevocations {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, string, number, number]>;
  private readonly select: Database.Statement<[string, string, number]>;
  private readonly sweep: Database.Statement<[number]>;
  private readonly listeners = new Listeners();

  constructor(
    file: string,
    private readonly now: () => number = Date.now,
  ) {
    this.db = openSqlite(file);
    this.db.exec('CREATE TABLE IF NOT EXISTS revoked_users (tenant TEXT NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (tenant, user))');
    this.upsert = this.db.prepare(
      'INSERT INTO revoked_users (tenant, user, at, until) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, user) DO UPDATE SET at = max(at, excluded.at), until = excluded.until',
    );
    this.select = this.db.prepare('SELECT at FROM revoked_users WHERE tenant = ? AND user = ? AND until > ?');
    this.sweep = this.db.prepare('DELETE FROM revoked_users WHERE until <= ?');
  }

  async revoke(tenant: string, user: string, at: number, ttlSeconds: number): Promise<void> {
    const now = this.now();
    this.sweep.run(now);
    this.upsert.run(tenant, user, at, now + ttlSeconds * 1000);
    this.listeners.emit(tenant, user);
  }

  listen(listener: RevocationListener): void {
    this.listeners.add(listener);
  }

  async revokedAt(tenant: string, user: string): Promise<number | undefined> {
    const row = this.select.get(tenant, user, this.now());
    if (row === undefined) return undefined;
    const parsed = z.object({ at: storedStamp }).safeParse(row);
    // A row we did not write: refuse rather than let revoked tokens through.
    return parsed.success ? parsed.data.at : Number.MAX_SAFE_INTEGER;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/**
 * Keeps the later of the stored and the new revocation stamp, atomically (a legacy value in
 * seconds is always smaller than a stamp), and tells the other nodes.
 */
const REVOKE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local at = math.max(current, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.0f', at), 'EX', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1`;

const revokedMessageSchema = z.tuple([z.string(), z.string()]);

export class RedisRevocations implements TokenRevocations {
  private readonly redis: Redis;
  /** Subscribes to revocation notices once someone listens. */
  private subscriber: Redis | undefined;
  private readonly listeners = new Listeners();

  constructor(
    private readonly url: string,
    private readonly prefix = 'sb:revoked:',
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: false });
    // Errors surface on the commands; the connection retries by itself.
    this.redis.on('error', () => undefined);
  }

  private get topic(): string {
    return `${this.prefix}notices`;
  }

  async revoke(tenant: string, user: string, at: number, ttlSeconds: number): Promise<void> {
    const notice = JSON.stringify([tenant, user]);
    await this.redis.eval(REVOKE_SCRIPT, 2, `${this.prefix}${tenant}:${user}`, this.topic, String(at), String(Math.max(1, Math.ceil(ttlSeconds))), notice);
    // Locally at once; other nodes through the notice (this node hears it again: listeners are idempotent).
    this.listeners.emit(tenant, user);
  }

  async revokedAt(tenant: string, user: string): Promise<number | undefined> {
    const stored = await this.redis.get(`${this.prefix}${tenant}:${user}`);
    if (stored === null) return undefined;
    const parsed = storedStamp.safeParse(stored);
    // A value we did not write: refuse rather than let revoked tokens through.
    return parsed.success ? parsed.data : Number.MAX_SAFE_INTEGER;
  }

  listen(listener: RevocationListener): void {
    this.listeners.add(listener);
    if (this.subscriber) return;
    const subscriber = new Redis(this.url, { maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_topic: string, text: string) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return;
      }
      const notice = revokedMessageSchema.safeParse(parsed);
      if (notice.success) this.listeners.emit(notice.data[0], notice.data[1]);
    });
    void subscriber.subscribe(this.topic).catch(() => undefined);
    this.subscriber = subscriber;
  }

  async close(): Promise<void> {
    await Promise.all([this.redis, this.subscriber].map((client) => client && closeRedisClient(client)));
  }
}
