/**
 * In-process fan-out of "channel X has new events" to SSE streams, long polls and the
 * publish pipeline. The pipeline notifies it after every append; with a shared store
 * (redis) the store's own notifications wake this node for appends made on other nodes.
 * Listeners read the events from the store after their cursor, so a duplicate or late
 * notice is harmless.
 */
import { KeyedListeners } from '../keyed-listeners.js';
import type { Logger } from '../logger.js';
import { channelKey, type AppendNotice, type EventStore } from './store.js';

export type AppendListener = (notice: AppendNotice) => void;

export class EventHub {
  private readonly byChannel = new KeyedListeners<AppendListener>();
  private readonly remoteListeners = new Set<AppendListener>();
  private unwatch: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);

  constructor(private readonly logger?: Logger) {}

  /** Listens to a shared store's notifications; call once. */
  watch(store: EventStore): void {
    if (!store.watchAppends) return;
    this.unwatch = store.watchAppends((notice) => this.notify(notice, true)).catch((error: unknown) => {
      this.logger?.error({ err: error }, 'cannot watch the event store for appends from other nodes');
      return undefined;
    });
  }

  subscribe(tenant: string, channel: string, listener: AppendListener): () => void {
    return this.byChannel.add(channelKey(tenant, channel), listener);
  }

  /** Appends made by other nodes (they may need this node's delivery lease). */
  onRemoteAppend(listener: AppendListener): () => void {
    this.remoteListeners.add(listener);
    return () => this.remoteListeners.delete(listener);
  }

  notify(notice: AppendNotice, remote = false): void {
    const listeners = this.byChannel.get(channelKey(notice.tenant, notice.channel));
    if (remote) listeners.push(...this.remoteListeners);
    for (const listener of listeners) {
      try {
        listener(notice);
      } catch (error) {
        this.logger?.error({ err: error }, 'event hub listener failed');
      }
    }
  }

  /** Channels with at least one listener (for tests and metrics). */
  get channelCount(): number {
    return this.byChannel.size;
  }

  async close(): Promise<void> {
    this.byChannel.clear();
    this.remoteListeners.clear();
    await (await this.unwatch)?.();
  }
}

export function createEventHub(store: EventStore, logger?: Logger): EventHub {
  const hub = new EventHub(logger);
  hub.watch(store);
  return hub;
}
