/**
 * The connection badge (one state for the page's realtime connections) and the
 * bookkeeping that tells recovered events from live ones after a reconnect.
 */
import type { ConnectionState, EventMeta, Realtime } from '../client/index.js';

export type BadgeState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

const LABELS: Record<BadgeState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Connection lost · retrying…',
  offline: 'Offline · retrying…',
};

/** Follows one Realtime client: when it last dropped and came back. */
export class LinkWatch {
  private reconnectedAt: number | undefined;
  private dropped = false;

  constructor(
    readonly label: string,
    readonly rt: Realtime,
    onChange: () => void,
    signal: AbortSignal,
  ) {
    const off = rt.connection.on('change', (state) => {
      if (state === 'connected') {
        if (this.dropped) this.reconnectedAt = Date.now();
        this.dropped = false;
      } else if (state === 'reconnecting') {
        this.dropped = true;
      }
      onChange();
    });
    signal.addEventListener('abort', off);
  }

  get state(): ConnectionState {
    return this.rt.connection.state;
  }

  /**
   * An event delivered after a reconnect but published before it was missed while
   * down, so it came from history. Compares server time with browser time, so clock
   * skew can mislabel events published right around the reconnect: fine for a demo.
   */
  isRecovered(meta: EventMeta): boolean {
    return this.reconnectedAt !== undefined && meta.ts < this.reconnectedAt;
  }
}

/** `wasConnected`: once the page has been connected, any later loss is "retrying", never "connecting" again. */
export function badgeState(states: ConnectionState[], online: boolean, wasConnected: boolean): BadgeState {
  if (states.every((state) => state === 'connected')) return 'connected';
  if (!online || states.some((state) => state === 'failed' || state === 'disconnected')) return 'offline';
  if (wasConnected || states.some((state) => state === 'reconnecting')) return 'reconnecting';
  return 'connecting';
}

/** Renders the badge and the "recovered N missed events" note; call `recovered()` per recovered event. */
export class ConnectionBadge {
  private recoveredCount = 0;
  private shown: BadgeState | undefined;
  private readonly watches: LinkWatch[] = [];
  private readonly reconnected = new Set<() => void>();
  private readonly changed = new Set<(live: boolean) => void>();

  constructor(
    private readonly badge: HTMLElement,
    private readonly note: HTMLElement,
    private readonly signal: AbortSignal,
  ) {
    const update = () => this.render();
    window.addEventListener('online', update, { signal });
    window.addEventListener('offline', update, { signal });
    badge.hidden = false;
  }

  /** Adds a client to the badge; its watch tells recovered events apart. */
  watch(label: string, rt: Realtime): LinkWatch {
    const watch = new LinkWatch(label, rt, () => this.render(), this.signal);
    this.watches.push(watch);
    this.render();
    return watch;
  }

  render(): void {
    const state = badgeState(
      this.watches.map((watch) => watch.state),
      navigator.onLine,
      this.shown !== undefined && this.shown !== 'connecting',
    );
    this.badge.title = this.watches.map((watch) => `${watch.label}: ${watch.state} (${watch.rt.connection.transport ?? '…'})`).join(' · ');
    if (state === this.shown) return;
    // A new outage starts a new count of recovered events.
    if (this.shown === 'connected') {
      this.recoveredCount = 0;
      this.note.hidden = true;
    }
    const back = state === 'connected' && this.shown !== undefined && this.shown !== 'connecting';
    this.shown = state;
    this.badge.dataset.state = state;
    this.badge.textContent = LABELS[state];
    for (const listener of this.changed) listener(this.live);
    if (back) for (const listener of this.reconnected) listener();
  }

  /** Everything the page shows is current and its actions can reach the server. */
  get live(): boolean {
    return this.shown === 'connected';
  }

  /** Calls `listener` now and on every change of the badge, with whether the page is live. */
  onChange(listener: (live: boolean) => void): () => void {
    this.changed.add(listener);
    listener(this.live);
    return () => this.changed.delete(listener);
  }

  /** Calls `listener` each time the page is connected again after a loss (to clear errors from the outage). */
  onReconnected(listener: () => void): () => void {
    this.reconnected.add(listener);
    return () => this.reconnected.delete(listener);
  }

  recovered(): void {
    this.recoveredCount += 1;
    const count = this.recoveredCount;
    this.note.textContent = `Back online: recovered ${count} missed event${count === 1 ? '' : 's'}.`;
    this.note.dataset.count = String(count);
    this.note.hidden = false;
  }
}

/**
 * Keeps `button` disabled while the page is not live, on top of its own reason (`blocked`);
 * answers a function that applies the state again after `blocked` changed, and the unsubscribe.
 */
export function needsConnection(badge: ConnectionBadge, button: HTMLButtonElement, blocked: () => boolean = () => false): { sync: () => void; off: () => void } {
  const sync = () => {
    button.disabled = !badge.live || blocked();
    if (badge.live) button.removeAttribute('title');
    else button.title = 'Waiting for the connection to come back';
  };
  return { sync, off: badge.onChange(sync) };
}
