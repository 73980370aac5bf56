/**
 * Builds a complete server from the environment: what `switchboard serve` and `npm start` run.
 */
import type { ServerProvider } from '../../providers/types.js';
import type { AppConfig } from '../core/config.js';
import { createLocalProvider, localProviderOptionsFromEnv } from '../../providers/local/index.js';
import { createPusherProvider, pusherProviderOptionsFromEnv } from '../../providers/pusher/index.js';
import { createServer, type ServerOptions, type SwitchboardApp } from './app.js';
import { parseApiKeys } from './auth/api-keys.js';
import { createAppSessionVerifier } from './auth/session.js';
import { loadAppConfig } from './config-file.js';
import { devAuthEnabled, parseEnv, webhookEndpoint, type Env } from './env.js';
import { LifecycleCluster } from './lifecycle/cluster.js';
import { createWebhookOutbox } from './lifecycle/create-outbox.js';
import { createEventStore, RedisEventStore, type EventStoreOptions } from './log/index.js';
import { createLogger, type Logger } from './logger.js';
import { loadSigningKeys } from './tokens/signing-keys.js';

/** Dev-only admin key so the README walkthrough works on a fresh clone. */
export const DEV_ADMIN_KEY = 'dev-admin-key-change-me';

function createProvider(env: Env, source: NodeJS.ProcessEnv, config: AppConfig, logger: Logger): ServerProvider {
  switch (env.SWITCHBOARD_PROVIDER) {
    case 'local': {
      const options = localProviderOptionsFromEnv(source);
      // Nodes sharing a Redis event log share its Redis for fan-out too, unless LOCAL_REDIS_URL says otherwise.
      const redisUrl = options.redisUrl ?? (env.SWITCHBOARD_STORE === 'redis' ? env.REDIS_URL : undefined);
      return createLocalProvider({ ...options, redisUrl, logger });
    }
    case 'pusher':
      return createPusherProvider({ ...pusherProviderOptionsFromEnv(source), namespaces: config.namespaces });
  }
}

export async function createServerFromEnv(
  source: NodeJS.ProcessEnv = process.env,
  overrides: Partial<ServerOptions> = {},
): Promise<{ app: SwitchboardApp; env: Env }> {
  const env = parseEnv(source);
  const endpoint = webhookEndpoint(env);
  const devAuth = devAuthEnabled(env);
  const logger = createLogger(env.LOG_LEVEL);
  const persistent = env.SWITCHBOARD_STORE !== 'memory';
  const signingKeys = await loadSigningKeys({
    configured: env.SWITCHBOARD_SIGNING_KEYS,
    dataDir: persistent ? env.SWITCHBOARD_DATA_DIR : undefined,
  });
  const adminKeys = env.SWITCHBOARD_ADMIN_KEYS ?? (devAuth ? DEV_ADMIN_KEY : undefined);
  const sessionVerifier =
    env.AUTH_JWKS_URL || env.AUTH_JWT_SECRET
      ? createAppSessionVerifier({
          jwksUrl: env.AUTH_JWKS_URL,
          secret: env.AUTH_JWT_SECRET,
          issuer: env.AUTH_ISSUER,
          audience: env.AUTH_AUDIENCE,
          tenantClaim: env.AUTH_TENANT_CLAIM,
          rolesClaim: env.AUTH_ROLES_CLAIM,
          nameClaim: env.AUTH_NAME_CLAIM,
        })
      : undefined;
  const config = await loadAppConfig(env.SWITCHBOARD_CONFIG);
  const storeOptions: EventStoreOptions = { kind: env.SWITCHBOARD_STORE, dataDir: env.SWITCHBOARD_DATA_DIR, redisUrl: env.REDIS_URL };
  const store = await createEventStore(storeOptions);
  const app = createServer({
    config,
    provider: createProvider(env, source, config, logger),
    store,
    ...(endpoint ? { webhooks: { ...endpoint, outbox: createWebhookOutbox(storeOptions, store) } } : {}),
    // Nodes sharing a Redis log may share channels: occupancy and presence events are made cluster-wide there.
    ...(store instanceof RedisEventStore && env.SWITCHBOARD_PROVIDER === 'local' ? { lifecycleCluster: new LifecycleCluster({ redis: store.redis, logger }) } : {}),
    signingKeys,
    apiKeys: parseApiKeys(env.SWITCHBOARD_API_KEYS, adminKeys),
    logger,
    tokenTtlSeconds: env.TOKEN_TTL_SECONDS,
    sessionVerifier,
    devAuth,
    publicUrl: env.SWITCHBOARD_PUBLIC_URL,
    metricsToken: env.SWITCHBOARD_METRICS_TOKEN,
    ...overrides,
  });
  return { app, env };
}
