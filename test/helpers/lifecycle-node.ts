/**
 * A BFF node in its own process, for tests that SIGKILL it: local provider scaled out over
 * Redis, Redis event log and webhook outbox, cluster-wide lifecycle events. Configured by
 * argv[2] (JSON); prints `{"port": …}` once listening.
 */
import { z } from 'zod';
import { createLocalProvider } from '../../providers/local/index.js';
import { DEFAULT_APP_CONFIG } from '../../src/core/config.js';
import { createServer } from '../../src/server/app.js';
import { ApiKeys } from '../../src/server/auth/api-keys.js';
import { LifecycleCluster } from '../../src/server/lifecycle/cluster.js';
import { RedisWebhookOutbox } from '../../src/server/lifecycle/redis-outbox.js';
import { listen } from '../../src/server/listen.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';

export const lifecycleNodeConfigSchema = z.object({
  redisUrl: z.string(),
  storePrefix: z.string(),
  providerPrefix: z.string(),
  webhookUrl: z.string(),
  secret: z.string(),
  nodeTtlMs: z.number().int(),
});
export type LifecycleNodeConfig = z.infer<typeof lifecycleNodeConfigSchema>;

export async function startLifecycleNode(config: LifecycleNodeConfig) {
  const logger = createLogger('silent');
  const store = new RedisEventStore({ url: config.redisUrl, keyPrefix: config.storePrefix });
  const provider = createLocalProvider({ redisUrl: config.redisUrl, redisKeyPrefix: config.providerPrefix, heartbeatMs: 200, logger: { info() {}, error() {} } });
  const app = createServer({
    config: DEFAULT_APP_CONFIG,
    provider,
    store,
    signingKeys: await loadSigningKeys({}),
    apiKeys: new ApiKeys(),
    logger,
    devAuth: true,
    webhooks: {
      url: config.webhookUrl,
      secrets: [config.secret],
      outbox: new RedisWebhookOutbox(store.redis, config.storePrefix),
      tuning: { timeoutMs: 500, backoff: { baseMs: 10, capMs: 50 }, pollMs: 20 },
    },
    lifecycleCluster: new LifecycleCluster({ redis: store.redis, keyPrefix: config.storePrefix, nodeTtlMs: config.nodeTtlMs, logger }),
  });
  const running = await listen(app, { host: '127.0.0.1' });
  return { provider, running };
}

if (process.argv[1]?.endsWith('lifecycle-node.ts')) {
  const { running } = await startLifecycleNode(lifecycleNodeConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}')));
  process.stdout.write(`${JSON.stringify({ port: running.port })}\n`);
}
