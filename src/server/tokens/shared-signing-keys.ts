/**
 * Dev clusters without SWITCHBOARD_SIGNING_KEYS: the nodes agree on one key set kept in their
 * shared Redis (the first node's proposal wins), so a token minted on one node verifies on
 * every other. Production refuses this (the private key would live in Redis): it configures keys.
 */
import { Redis } from 'ioredis';
import type { SharedKeySlot } from './signing-keys.js';

export const SHARED_SIGNING_KEYS_KEY = 'sb:signing-keys';

export function redisKeySlot(url: string, key = SHARED_SIGNING_KEYS_KEY): SharedKeySlot {
  return {
    async claim(proposal) {
      const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: (times) => (times > 2 ? null : 200) });
      redis.on('error', () => undefined); // the command below fails and says why
      try {
        await redis.set(key, proposal, 'NX');
        const agreed = await redis.get(key);
        if (agreed === null) throw new Error('the key set vanished right after it was stored');
        return agreed;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`Cannot agree on signing keys with the other nodes through Redis at ${new URL(url).host} (${reason}); set SWITCHBOARD_SIGNING_KEYS (switchboard keys generate) or start Redis`);
      } finally {
        redis.disconnect();
      }
    },
  };
}
