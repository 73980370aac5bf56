/**
 * validate -> append to the event log (dedupe on id, assign seq) -> hand to the provider.
 * A publish accepted into the log is never lost: when the provider does not take it,
 * the answer says `accepted` and delivery is retried.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { channelNameSchema } from '../../core/channels.js';
import { eventIdSchema, eventNameSchema, jsonValueSchema, payloadBytes } from '../../core/envelope.js';
import { SwitchboardError } from '../../core/errors.js';
import { resolveChannel, type Namespaces } from '../../core/namespaces.js';
import type { ServerProvider } from '../../../providers/types.js';
import type { Logger } from '../logger.js';
import type { EventStore, Retention } from '../log/store.js';

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

export type PublishStatus = 'delivered' | 'accepted' | 'duplicate';

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
  close(): Promise<void>;
}

export interface PipelineOptions {
  store: EventStore;
  provider: ServerProvider;
  namespaces: Namespaces;
  logger: Logger;
  providerTimeoutMs?: number;
}

export function createPublishPipeline(options: PipelineOptions): PublishPipeline {
  const { store, provider, namespaces, logger } = options;
  const timeoutMs = options.providerTimeoutMs ?? 5000;

  function validate(message: PublishMessage): Retention {
    const { rules } = resolveChannel(namespaces, message.channel);
    const limit = Math.min(rules.maxPayloadBytes, provider.limits.maxPayloadBytes);
    const size = payloadBytes(message.data);
    if (size > limit) {
      throw new SwitchboardError('payload_too_large', `Payload of ${size} bytes exceeds the limit of ${limit} bytes for "${message.channel}"`);
    }
    return retentionFor(rules);
  }

  return {
    async publish(tenant, messages) {
      const retentions = messages.map(validate);
      const outcomes: PublishOutcome[] = [];
      const fresh = [];
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
        if (!duplicate) fresh.push({ outcome: outcomes.length - 1, message: { tenant, envelope, excludeSocketId: message.socketId } });
      }
      if (fresh.length === 0) return outcomes;
      try {
        for (let start = 0; start < fresh.length; start += provider.limits.maxBatchSize) {
          const chunk = fresh.slice(start, start + provider.limits.maxBatchSize);
          await provider.publish(chunk.map((item) => item.message), AbortSignal.timeout(timeoutMs));
          for (const item of chunk) (outcomes[item.outcome] as PublishOutcome).status = 'delivered';
        }
      } catch (error) {
        logger.warn({ provider: provider.name, err: error }, 'provider publish failed; events stay in the log');
      }
      return outcomes;
    },
    async close() {},
  };
}
