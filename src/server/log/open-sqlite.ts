/**
 * Opens a SQLite file the way every Switchboard table in it expects: WAL, so readers never
 * block the writer, and a busy timeout, since the event log, the webhook outbox and token
 * revocations may share a file. `synchronous = NORMAL` (durable across a process crash; an
 * OS crash may lose the last commits) is for tables that trade that for write speed.
 */
import Database from 'better-sqlite3';

export function openSqlite(file: string, options: { synchronousNormal?: boolean } = {}): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  if (options.synchronousNormal) db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
