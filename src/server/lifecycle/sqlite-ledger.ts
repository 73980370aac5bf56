/**
 * Lifecycle events of a single node on the sqlite store that outlive a crash. The node
 * notes every occupied channel and present member in its sqlite file (table
 * `lifecycle_subjects`) before reporting it, and forgets it only after its end was recorded.
 * Whatever a SIGKILLed process left there had no end reported: on the next start, before
 * any socket connects, those members leave and those channels are vacated, once.
 *
 * One process per file (as the sqlite event log): nodes that share state use Redis and
 * LifecycleCluster instead.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import type { WebhookEvent } from '../../../providers/types.js';
import type { Logger } from '../logger.js';
import { openSqlite } from '../log/open-sqlite.js';
import { goneEvent, isArrival, leavingOrder, parseSubject, subjectOf, type LifecycleTracker, type Subject } from './subjects.js';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS lifecycle_subjects (subject TEXT PRIMARY KEY) WITHOUT ROWID';

export class SqliteLifecycleLedger implements LifecycleTracker {
  private readonly db: Database.Database;
  private readonly sql;
  private listener: ((event: WebhookEvent) => unknown) | undefined;
  /** Ends are forgotten in the order they were recorded. */
  private chain: Promise<void> = Promise.resolve();

  /** `file` is the event log's file (`<dataDir>/events.sqlite`). */
  constructor(
    file: string,
    private readonly logger: Logger,
  ) {
    this.db = openSqlite(file);
    this.db.exec(SCHEMA);
    this.sql = {
      all: this.db.prepare('SELECT subject FROM lifecycle_subjects').pluck(),
      add: this.db.prepare('INSERT OR IGNORE INTO lifecycle_subjects (subject) VALUES (?)'),
      remove: this.db.prepare('DELETE FROM lifecycle_subjects WHERE subject = ?'),
    };
  }

  /** Reports the ends an earlier, crashed run left unreported, then this run's events. */
  start(listener: (event: WebhookEvent) => unknown): void {
    this.listener = listener;
    const left = z.array(z.string()).parse(this.sql.all.all());
    const subjects = leavingOrder(left.map(parseSubject).filter((subject): subject is Subject => subject !== undefined));
    if (subjects.length > 0) this.logger.warn({ subjects: subjects.length }, 'the last run ended without reporting its members and channels: they leave now');
    for (const text of left) if (parseSubject(text) === undefined) this.sql.remove.run(text);
    for (const subject of subjects) this.track(goneEvent(subject), JSON.stringify(subject));
  }

  report(event: WebhookEvent): void {
    const subject = subjectOf(event);
    if (subject) this.track(event, JSON.stringify(subject));
  }

  /**
   * In order, one at a time: a start is noted before it is reported (a crash in between
   * reports an end without a start at worst, never the reverse), an end forgotten only
   * once it was recorded (a failed recording is reported again on the next start).
   */
  private track(event: WebhookEvent, key: string): void {
    this.chain = this.chain
      .then(async () => {
        if (isArrival(event)) {
          this.sql.add.run(key);
          await this.listener?.(event);
        } else {
          await this.listener?.(event);
          this.sql.remove.run(key);
        }
      })
      .catch((error: unknown) => this.logger.error({ err: error }, 'lifecycle ledger could not be updated'));
  }

  async close(): Promise<void> {
    await this.chain;
    if (this.db.open) this.db.close();
  }
}
