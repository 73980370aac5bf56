/**
 * Channel events in React. `useEvents` keeps the newest events as state, seeded from the
 * event log for the first render and re-rendering at most once per `throttleMs` however
 * fast events arrive; `useChannelEvent` calls a handler per event and renders nothing
 * by itself (for state of your own, e.g. a reducer over a high-rate feed).
 */
import { useEffect } from 'react';
import { SwitchboardError, type Channel, type ChannelEvent, type EventMeta, type Schema } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { attachChannel, HookStore, parseWith, useLatest, useStore } from './store.js';

export interface EventsOptions<T> {
  /** Only this event name; every event of the channel when unset. */
  event?: string;
  /** Validates `data` (zod, zod/mini, …) and types it; events that do not match are dropped and reported as `error`. */
  schema?: Schema<T>;
  /** How many events to keep, newest last. Default 50. */
  limit?: number;
  /** Seed the list with the channel's newest events in the log (`history` events of the channel, of which those matching `event`). Default 0. */
  history?: number;
  /** Re-render at most once per this many ms: the first event renders at once, the rest of a burst together. Default 100. */
  throttleMs?: number;
}

export interface EventsState<T> {
  /** Oldest first, each at most once, in `seq` order. */
  events: ReadonlyArray<ChannelEvent<T>>;
  /** True until the history asked for has arrived. */
  loading: boolean;
  /** The latest channel error (refused, invalid event, recovery gap); cleared when the channel is live again. */
  error: SwitchboardError | undefined;
}

function invalid(event: ChannelEvent<unknown>): SwitchboardError {
  return new SwitchboardError('invalid_event', `Event "${event.event}" on ${event.meta.channel} (seq ${event.meta.seq}) does not match its schema`);
}

/** Appends what is new (by id), keeps `seq` order and the newest `limit`. */
function merge<T>(current: ReadonlyArray<ChannelEvent<T>>, incoming: ReadonlyArray<ChannelEvent<T>>, limit: number): ReadonlyArray<ChannelEvent<T>> {
  const seen = new Set(current.map((item) => item.meta.id));
  const fresh = incoming.filter((item) => !seen.has(item.meta.id) && Boolean(seen.add(item.meta.id)));
  if (fresh.length === 0) return current;
  const next = [...current, ...fresh];
  if (next.some((item, index) => index > 0 && item.meta.seq < (next[index - 1]?.meta.seq ?? 0))) next.sort((a, b) => a.meta.seq - b.meta.seq);
  return next.length > limit ? next.slice(next.length - limit) : next;
}

class EventFeed<T> extends HookStore<EventsState<T>> {
  private pending: Array<ChannelEvent<T>> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastFlush = -Infinity;
  private history: 'wanted' | 'loading' | 'done';

  constructor(
    private readonly holder: ClientHolder,
    private readonly name: string,
    private readonly event: string | undefined,
    private readonly limit: number,
    private readonly historySize: number,
    private readonly throttleMs: number,
    private readonly schema: () => Schema<T> | undefined,
  ) {
    super({ events: [], loading: historySize > 0, error: undefined });
    this.history = historySize > 0 ? 'wanted' : 'done';
  }

  protected attach(): () => void {
    const detach = attachChannel(this.holder, this.name, (error) => this.fail(error), (channel) => {
      const onEvent = (event: string, data: unknown, meta: EventMeta) => this.accept({ event, data, meta });
      const offs = [
        this.event === undefined ? channel.subscribe(onEvent) : channel.subscribe(this.event, (data, meta) => onEvent(meta.event, data, meta)),
        // History after the subscription is live: with the live events from then on, nothing falls between.
        channel.on('subscribed', () => this.live(channel)),
      ];
      if (channel.live) this.live(channel);
      return () => {
        for (const off of offs) off();
      };
    });
    if (this.pending.length > 0) this.schedule();
    return () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      detach();
    };
  }

  private live(channel: Channel): void {
    if (this.snapshot.error) this.publish({ ...this.snapshot, error: undefined });
    if (this.history !== 'wanted') return;
    this.history = 'loading';
    channel.history({ limit: this.historySize }).then(
      (events) => {
        this.history = 'done';
        const matching = events.filter((item) => this.event === undefined || item.event === this.event);
        this.publish({ ...this.snapshot, events: merge(this.snapshot.events, this.validate(matching), this.limit), loading: false });
      },
      (error: SwitchboardError) => {
        // Tried again the next time the channel is (re)subscribed; live events flow meanwhile.
        this.history = 'wanted';
        this.publish({ ...this.snapshot, loading: false, error });
      },
    );
  }

  private validate(events: ReadonlyArray<ChannelEvent<unknown>>): Array<ChannelEvent<T>> {
    const valid: Array<ChannelEvent<T>> = [];
    const schema = this.schema();
    for (const item of events) {
      const parsed = parseWith(schema, item.data);
      if (parsed) valid.push({ ...item, data: parsed.value });
      else this.fail(invalid(item));
    }
    return valid;
  }

  private accept(item: ChannelEvent<unknown>): void {
    this.pending.push(...this.validate([item]));
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.pending.length === 0) return;
    const wait = this.lastFlush + this.throttleMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = undefined;
    this.lastFlush = performance.now();
    const pending = this.pending;
    this.pending = [];
    this.publish({ ...this.snapshot, events: merge(this.snapshot.events, pending, this.limit) });
  }

  private fail(error: SwitchboardError): void {
    this.publish({ ...this.snapshot, error });
  }
}

/**
 * The newest events of a channel as state.
 *
 * ```tsx
 * const { events } = useEvents('chat:lobby', { event: 'message', schema: messageSchema, history: 50 });
 * ```
 */
export function useEvents<T = unknown>(channel: string, options: EventsOptions<T> = {}): EventsState<T> {
  const holder = useHolder('useEvents');
  const { event, limit = 50, history = 0, throttleMs = 100 } = options;
  // The schema is read when events arrive, so an inline schema does not start a new list every render.
  const schema = useLatest(options.schema);
  const [state] = useStore(
    () => new EventFeed<T>(holder, channel, event, limit, history, throttleMs, () => schema.current),
    [holder, channel, event, limit, history, throttleMs],
  );
  return state;
}

export interface ChannelEventOptions<T> {
  schema?: Schema<T>;
  /** Refused channel, invalid events, recovery gaps. */
  onError?: (error: SwitchboardError) => void;
}

/**
 * Calls `handler` for every `event` on `channel` (every event when `event` is `'*'`)
 * while the component is mounted. The latest `handler` is called, without resubscribing.
 */
export function useChannelEvent<T = unknown>(
  channel: string,
  event: string,
  handler: (data: T, meta: EventMeta) => void,
  options: ChannelEventOptions<T> = {},
): void {
  const holder = useHolder('useChannelEvent');
  const latest = useLatest({ handler, ...options });
  useEffect(() => {
    const onError = (error: SwitchboardError) => latest.current.onError?.(error);
    return attachChannel(holder, channel, onError, (view) => {
      const deliver = (name: string, data: unknown, meta: EventMeta) => {
        const parsed = parseWith(latest.current.schema, data);
        if (parsed) latest.current.handler(parsed.value, meta);
        else onError(invalid({ event: name, data, meta }));
      };
      return event === '*' ? view.subscribe(deliver) : view.subscribe(event, (data, meta) => deliver(event, data, meta));
    });
  }, [holder, channel, event, latest]);
}
