/**
 * validate -> append to the event log (dedupe on id, assign seq) -> wake readers ->
 * hand to the provider. A publish accepted into the log is never lost: when the provider
 * does not take it within the request the answer says `accepted` and the delivery queue
 * keeps retrying, in per-channel order, also after a restart (see delivery.ts).
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { channelNameSchema } from '../../core/schemas.js';
import { payloadBytes, type Envelope } from '../../core/envelope.js';
import { eventIdSchema, eventNameSchema, jsonValueSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import { resolveChannel, type Namespaces } from '../../core/namespaces.js';
import type { ServerProvider } from '../../../providers/types.js';
import type { EventHub } from '../log/hub.js';
import type { Logger } from '../logger.js';
import type { EventStore, Retention } from '../log/store.js';
import { DEFAULT_DELIVERY_TUNING, DeliveryQueue, type DeliveryObserver, type DeliveryTuning } from './delivery.js';
import type { CircuitState } from './circuit-breaker.js';

export const publishMessageSchema = z
  .object({
    channel: channelNameSchema,
    event: eventNameSchema,
    data: jsonValueSchema,
    id: eventIdSchema.optional(),
    /** Pusher socket id of the publisher, left out of the fan-out. */
    socketId: z.string().regex(/^\d+\.\d+$/).optional(),
  })
  .strict();

export type PublishMessage = z.infer<typeof publishMessageSchema>;

/** `refused`: logged (history, SSE) but the provider refused it for good; see delivery failures. */
export type PublishStatus = 'delivered' | 'accepted' | 'duplicate' | 'refused';

export interface PublishOutcome {
  id: string;
  seq: number;
  status: PublishStatus;
}

/** Namespaces without history still need a few events kept so clients can recover gaps. */
export const RECOVERY_WINDOW = 100;

export function retentionFor(rules: Namespaces[string]): Retention {
  return rules.history === false ? { size: RECOVERY_WINDOW } : { size: rules.history.size, ttlSeconds: rules.history.ttlSeconds };
}

export interface PublishPipeline {
  publish(tenant: string, messages: PublishMessage[]): Promise<PublishOutcome[]>;
  /** Stops retries and timers, lets in-flight provider calls finish briefly; pending events stay in the store. */
  close(): Promise<void>;
}

export interface PipelineOptions {
  store: EventStore;
  provider: ServerProvider;
  namespaces: Namespaces;
  logger: Logger;
  /** Readers (SSE, long-poll) woken after each append. */
  hub?: EventHub;
  /** Shorthand for `tuning.providerTimeoutMs`. */
  providerTimeoutMs?: number;
  tuning?: Partial<DeliveryTuning>;
  /** For tests: the jitter source. */
  random?: () => number;
  observer?: DeliveryObserver;
  /** Called with every publish call's outcomes (metrics, publish-rate tracking). */
  onPublished?: (tenant: string, outcomes: PublishOutcome[]) => void;
}

export interface DeliveringPipeline extends PublishPipeline {
  readonly circuitState: CircuitState;
  /** Looks up channels pending delivery now (also runs on start and periodically). */
  resume(): Promise<void>;
}

export function createPublishPipeline(options: PipelineOptions): DeliveringPipeline {
  const { store, provider, namespaces, hub } = options;
  const tuning: DeliveryTuning = {
    ...DEFAULT_DELIVERY_TUNING,
    ...options.tuning,
    ...(options.providerTimeoutMs === undefined ? {} : { providerTimeoutMs: options.providerTimeoutMs }),
  };
  const delivery = new DeliveryQueue({
    store,
    provider,
    logger: options.logger,
    tuning,
    random: options.random,
    observer: options.observer,
    checkDeliverable: (tenant, envelope) => deliverabilityProblem(tenant, envelope),
  });
  const stopRemote = hub?.onRemoteAppend((notice) => {
    delivery.enqueue(notice);
    delivery.kick();
  });
  delivery.start();

  /** Everything the provider could refuse for good is refused here, before the event is logged. */
  function validate(tenant: string, message: Pick<PublishMessage, 'channel' | 'event' | 'data'>): Retention {
    const { rules } = resolveChannel(namespaces, message.channel);
    // Throws `invalid_channel` with the limit when the provider could never carry the name.
    provider.channelName(tenant, message.channel, rules.presence);
    // The namespace limit is on `data`; the provider's is on what it carries, checked exactly by payloadProblem.
    const limit = Math.min(rules.maxPayloadBytes, provider.limits.maxPayloadBytes);
    const size = payloadBytes(message.data);
    if (size > limit) {
      throw new SwitchboardError('payload_too_large', `Payload of ${size} bytes exceeds the limit of ${limit} bytes for "${message.channel}"`);
    }
    const problem = provider.payloadProblem?.(message);
    if (problem) throw new SwitchboardError('payload_too_large', `Event for "${message.channel}" is too large for ${provider.name}: ${problem}`);
    return retentionFor(rules);
  }

  /** The same checks for an event already in the log (logged before a config or provider change). */
  function deliverabilityProblem(tenant: string, envelope: Envelope): string | undefined {
    try {
      validate(tenant, envelope);
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  return {
    get circuitState() {
      return delivery.circuitState;
    },
    resume: () => delivery.sweep(),
    async publish(tenant, messages) {
      const retentions = messages.map((message) => validate(tenant, message));
      const outcomes: PublishOutcome[] = [];
      const fresh: { index: number; channel: string; seq: number }[] = [];
      for (const [index, message] of messages.entries()) {
        const { envelope, duplicate } = await store.append({
          tenant,
          id: message.id ?? ulid(),
          channel: message.channel,
          event: message.event,
          data: message.data,
          ts: Date.now(),
          retention: retentions[index] as Retention,
        });
        outcomes.push({ id: envelope.id, seq: envelope.seq, status: duplicate ? 'duplicate' : 'accepted' });
        if (duplicate) continue;
        hub?.notify({ tenant, channel: envelope.channel, seq: envelope.seq, envelope });
        delivery.enqueue({ tenant, channel: envelope.channel }, envelope.seq, message.socketId);
        fresh.push({ index, channel: envelope.channel, seq: envelope.seq });
      }
      if (fresh.length === 0) {
        options.onPublished?.(tenant, outcomes);
        return outcomes;
      }
      const waits = fresh.map(({ channel, seq }) => delivery.waitFor({ tenant, channel }, seq));
      delivery.kick();
      const delivered = await Promise.all(waits);
      for (const [position, { index }] of fresh.entries()) {
        const outcome = delivered[position];
        if (outcome === 'delivered' || outcome === 'refused') (outcomes[index] as PublishOutcome).status = outcome;
      }
      options.onPublished?.(tenant, outcomes);
      return outcomes;
    },
    async close() {
      stopRemote?.();
      await delivery.close();
    },
  };
}
