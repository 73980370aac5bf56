/**
 * Lifecycle webhooks, assembled: the stream every source feeds, and (when the app has an
 * endpoint) the durable outbox and the sender that drains it.
 */
import type { WebhookEvent } from '../../../providers/types.js';
import type { DeliveryFailure, DeliveryObserver } from '../publish/delivery.js';
import type { AtomicWebhooks } from './cluster.js';
import { fromProviderEvent, newLifecycleEvent } from './events.js';
import { RedisWebhookOutbox } from './redis-outbox.js';
import { toOutboxMessage } from './stream.js';
import type { Logger } from '../logger.js';
import type { LifecycleEventData } from './events.js';
import type { WebhookOutbox } from './outbox.js';
import { WebhookSender, type WebhookSenderObserver, type WebhookSenderTuning } from './sender.js';
import { LifecycleStream, type LifecycleListener } from './stream.js';

export { LIFECYCLE_EVENT_TYPES, fromProviderEvent, type LifecycleEvent, type LifecycleEventType } from './events.js';
export type { DeadLetter, WebhookOutbox } from './outbox.js';
export { MemoryWebhookOutbox } from './memory-outbox.js';
export { SqliteWebhookOutbox } from './sqlite-outbox.js';
export { RedisWebhookOutbox } from './redis-outbox.js';
export { DEFAULT_SENDER_TUNING, WebhookSender, type WebhookSenderTuning } from './sender.js';
export { LifecycleStream, type LifecycleListener } from './stream.js';

/** The app's endpoint for lifecycle webhooks (SWITCHBOARD_WEBHOOK_URL / _SECRET). */
export interface WebhookEndpointOptions {
  url: string;
  /** `whsec_…`; two during a key rotation. */
  secrets: string[];
  /** In the event log's store (see createWebhookOutbox). */
  outbox: WebhookOutbox;
  tuning?: Partial<WebhookSenderTuning>;
}

export interface Lifecycle {
  stream: LifecycleStream;
  /** Undefined when no endpoint is configured (in-process callback only). */
  outbox: WebhookOutbox | undefined;
  sender: WebhookSender | undefined;
  /** Lets what is recorded go out, then stops sending (in-flight requests are retried after a restart). */
  close(): Promise<void>;
}

export function createLifecycle(options: {
  endpoint?: WebhookEndpointOptions;
  listener?: LifecycleListener;
  logger: Logger;
  observer?: WebhookSenderObserver;
}): Lifecycle {
  const { endpoint, logger, observer } = options;
  const sender = endpoint && new WebhookSender({ url: endpoint.url, secrets: endpoint.secrets, outbox: endpoint.outbox, logger, tuning: endpoint.tuning, observer });
  const stream = new LifecycleStream({ outbox: endpoint?.outbox, listener: options.listener, logger, queued: () => sender?.wake() });
  sender?.start();
  return {
    stream,
    outbox: endpoint?.outbox,
    sender,
    async close() {
      await stream.flush();
      await sender?.close();
      await endpoint?.outbox.close();
    },
  };
}

/**
 * With the Redis outbox, the cluster tracker writes each transition's webhook in the same
 * script as the transition (see cluster.ts); it must use the outbox's Redis.
 */
export function atomicWebhooksFor(lifecycle: Lifecycle): AtomicWebhooks | undefined {
  const { outbox, stream } = lifecycle;
  if (!(outbox instanceof RedisWebhookOutbox)) return undefined;
  return {
    outboxPrefix: outbox.prefix,
    prepare(event: WebhookEvent) {
      const input = fromProviderEvent(event);
      if (!input) return undefined;
      const now = Date.now();
      const lifecycleEvent = newLifecycleEvent(input, now);
      return { event: lifecycleEvent, message: toOutboxMessage(lifecycleEvent, now) };
    },
    written: (event) => stream.written([event]),
  };
}

export function deliveryFailedEvent(failure: DeliveryFailure): LifecycleEventData {
  const { tenant, channel, id, seq, event, reason } = failure;
  return { type: 'delivery.failed', data: { tenant, channel, eventId: id, seq, event, reason } };
}

/** Adds `delivery.failed` to the stream for every event the provider refused for good. */
export function withDeliveryFailures(observer: DeliveryObserver, stream: LifecycleStream): DeliveryObserver {
  return {
    delivered: (messages) => observer.delivered(messages),
    failed: (messages, attempt, error) => observer.failed(messages, attempt, error),
    undeliverable(failure) {
      observer.undeliverable?.(failure);
      stream.emit([deliveryFailedEvent(failure)]);
    },
  };
}
