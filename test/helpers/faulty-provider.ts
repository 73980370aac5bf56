/**
 * Provider faults for soak runs: wraps a provider's `publish` so a share of calls fail at
 * once, hang until the pipeline's timeout, or are taken and then hang (the provider has
 * the events, its answer is lost: timeout-ambiguous). In Redis, so the soak can check it
 * across SIGKILLs: every attempt (`<key>:attempts`, "<id> <ms>"), every id the provider
 * took (`<key>:taken`) and those whose answer was lost (`<key>:ambiguous`).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ServerProvider } from '../../providers/types.js';

export const providerFaultsSchema = z.object({
  failRate: z.number().min(0).max(1),
  hangRate: z.number().min(0).max(1),
  ambiguousRate: z.number().min(0).max(1),
  redisKey: z.string(),
});
export type ProviderFaults = z.infer<typeof providerFaultsSchema>;

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function withProviderFaults(provider: ServerProvider, faults: ProviderFaults, redis: Redis, random: () => number = Math.random): void {
  const publish = provider.publish.bind(provider);
  provider.publish = async (messages, signal) => {
    const ids = messages.map((message) => message.envelope.id);
    if (ids.length === 0) return publish(messages, signal);
    const now = Date.now();
    await redis.rpush(`${faults.redisKey}:attempts`, ...ids.map((id) => `${id} ${now}`));
    const roll = random();
    if (roll < faults.failRate) throw new Error('injected provider failure');
    if (roll < faults.failRate + faults.hangRate) return untilAborted(signal);
    if (roll < faults.failRate + faults.hangRate + faults.ambiguousRate) {
      await publish(messages, signal);
      await redis.sadd(`${faults.redisKey}:taken`, ...ids);
      await redis.sadd(`${faults.redisKey}:ambiguous`, ...ids);
      return untilAborted(signal);
    }
    await publish(messages, signal);
    await redis.sadd(`${faults.redisKey}:taken`, ...ids);
  };
}
