/**
 * Follows several channels of one tenant from a cursor: replays what the store has after
 * it, then goes live on hub notices. Events come out in seq order per channel, each once.
 * Woken by the hub, never by polling the store.
 */
import type { Envelope } from '../../core/envelope.js';
import type { EventHub } from './hub.js';
import type { Cursor } from './cursor.js';
import type { AppendNotice, EventStore } from './store.js';

const READ_BATCH = 200;

export interface FollowOptions {
  store: EventStore;
  hub: EventHub;
  tenant: string;
  cursor: Cursor;
  /** Return false to stop following (e.g. a long poll has enough). */
  onEvent(envelope: Envelope): boolean | void;
  onError(error: unknown): void;
}

export class LogFollower {
  readonly cursor: Cursor;
  private readonly stale = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];
  private draining: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: FollowOptions) {
    this.cursor = { ...options.cursor };
  }

  /** Subscribes first, so nothing appended during the replay is missed; resolves after the replay. */
  start(): Promise<void> {
    const { hub, tenant } = this.options;
    for (const channel of Object.keys(this.cursor)) {
      this.unsubscribe.push(hub.subscribe(tenant, channel, (notice) => this.onNotice(notice)));
      this.stale.add(channel);
    }
    return this.drain();
  }

  stop(): void {
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private emit(envelope: Envelope): void {
    this.cursor[envelope.channel] = envelope.seq;
    if (this.options.onEvent(envelope) === false) this.stop();
  }

  private onNotice(notice: AppendNotice): void {
    const seen = this.cursor[notice.channel];
    if (this.stopped || seen === undefined || notice.seq <= seen) return;
    if (notice.envelope && notice.seq === seen + 1 && !this.draining) {
      this.emit(notice.envelope);
      return;
    }
    this.stale.add(notice.channel);
    void this.drain();
  }

  private drain(): Promise<void> {
    this.draining ??= this.readStale()
      .catch((error: unknown) => {
        if (!this.stopped) this.options.onError(error);
      })
      .finally(() => {
        this.draining = undefined;
        // A notice may have marked a channel stale after the loop looked for the last time.
        if (this.stale.size > 0 && !this.stopped) void this.drain();
      });
    return this.draining;
  }

  private async readStale(): Promise<void> {
    const { store, tenant } = this.options;
    for (let channel = first(this.stale); channel !== undefined && !this.stopped; channel = first(this.stale)) {
      this.stale.delete(channel);
      const events = await store.read(tenant, channel, this.cursor[channel] ?? 0, READ_BATCH);
      for (const envelope of events) {
        if (this.stopped) return;
        if (envelope.seq > (this.cursor[channel] ?? 0)) this.emit(envelope);
      }
      if (events.length === READ_BATCH) this.stale.add(channel);
    }
  }
}

function first(set: Set<string>): string | undefined {
  for (const value of set) return value;
  return undefined;
}
