/**
 * The one lifecycle stream: every source (local server, verified provider webhooks, the
 * publish pipeline's refusals) hands its events here. They get ids, go into the durable
 * outbox in the order they arrived, and then to the in-process callback, the same
 * objects the app's endpoint receives.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import { newLifecycleEvent, orderKey, type LifecycleEvent, type LifecycleEventData } from './events.js';
import type { OutboxMessage, WebhookOutbox } from './outbox.js';

/** Library users' in-process view of the stream (ServerOptions.onWebhook). */
export type LifecycleListener = (events: LifecycleEvent[]) => void | Promise<void>;

export interface LifecycleStreamOptions {
  /** Set when events go to the app's endpoint (SWITCHBOARD_WEBHOOK_URL). */
  outbox?: WebhookOutbox;
  listener?: LifecycleListener;
  /** Told after events were queued in the outbox (wakes the sender). */
  queued?: () => void;
  logger: Logger;
  now?: () => number;
}

export function toOutboxMessage(event: LifecycleEvent, queuedAt: number): OutboxMessage {
  return { id: event.id, orderKey: orderKey(event), tenant: event.data.tenant, payload: JSON.stringify(event), queuedAt };
}

/**
 * Ids for events parsed from one provider webhook request: a provider that retries the
 * same request produces the same ids, so the app can dedupe those too.
 */
function seededIds(seed: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `evt_${createHash('sha256').update(`${seed}\u0000${index}`).digest('base64url').slice(0, 26)}`);
}

export class LifecycleStream {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: LifecycleStreamOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Records events in order. Resolves once they are in the outbox and the callback has
   * had them; rejects when either failed (an inbound webhook then answers 5xx and the
   * provider retries). `idSeed` makes the ids a function of the seed (see seededIds).
   */
  publish(inputs: LifecycleEventData[], idSeed?: string): Promise<LifecycleEvent[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    const now = this.now();
    const ids = idSeed === undefined ? undefined : seededIds(idSeed, inputs.length);
    const events = inputs.map((input, index) => {
      const event = newLifecycleEvent(input, now);
      return ids ? { ...event, id: ids[index] ?? event.id } : event;
    });
    const done = this.tail.then(async () => {
      if (this.options.outbox) {
        await this.options.outbox.enqueue(events.map((event) => toOutboxMessage(event, now)));
        this.options.queued?.();
      }
      await this.options.listener?.(events);
      return events;
    });
    this.tail = done.catch(() => undefined);
    return done;
  }

  /**
   * Events a source already wrote to the outbox itself (atomically with what caused them):
   * in order with everything else, they wake the sender and reach the callback.
   */
  written(events: LifecycleEvent[]): Promise<void> {
    const done = this.tail.then(async () => {
      this.options.queued?.();
      await this.options.listener?.(events);
    });
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** For sources that cannot wait (the local server's hub): failures are logged. */
  emit(inputs: LifecycleEventData[]): void {
    this.publish(inputs).catch((error: unknown) => {
      this.options.logger.error({ err: error, events: inputs.map((input) => input.type) }, 'lifecycle events could not be recorded');
    });
  }

  /** Resolves once everything published so far is recorded. */
  async flush(): Promise<void> {
    await this.tail;
  }
}
