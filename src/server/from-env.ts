/**
 * Builds a complete server from the environment: what `switchboard serve` and `npm start` run.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ServerProvider } from '../../providers/types.js';
import type { AppConfig } from '../core/config.js';
import { createLocalProvider, localProviderOptionsFromEnv } from '../../providers/local/index.js';
import { createPusherProvider, pusherProviderOptionsFromEnv } from '../../providers/pusher/index.js';
import { ablyProviderOptionsFromEnv } from '../../providers/ably/options.js';
import { createSupabaseProvider, supabaseProviderOptionsFromEnv } from '../../providers/supabase/index.js';
import { createServer, type ServerOptions, type SwitchboardApp } from './app.js';
import { parseApiKeys } from './auth/api-keys.js';
import { createAppSessionVerifier } from './auth/session.js';
import { loadAppConfig } from './config-file.js';
import { ConfigurationError, describeProviderError } from './config-problems.js';
import { devAuthEnabled, envSchema, readEnv, webhookEndpoint, type Env, type ProviderName } from './env.js';
import { LifecycleCluster } from './lifecycle/cluster.js';
import { createWebhookOutbox } from './lifecycle/create-outbox.js';
import { SqliteLifecycleLedger } from './lifecycle/sqlite-ledger.js';
import { createEventStore, RedisEventStore, type EventStoreOptions } from './log/index.js';
import type { EventStore } from './log/store.js';
import { createLogger, type Logger } from './logger.js';
import { MemoryRevocations, RedisRevocations, SqliteRevocations, type TokenRevocations } from './tokens/revocations.js';
import { loadSigningKeys } from './tokens/signing-keys.js';

/** Dev-only admin key so the README walkthrough works on a fresh clone. */
export const DEV_ADMIN_KEY = 'dev-admin-key-change-me';

async function createProvider(env: Env, source: NodeJS.ProcessEnv, config: AppConfig, logger: Logger): Promise<ServerProvider> {
  switch (env.SWITCHBOARD_PROVIDER) {
    case 'local': {
      const options = localProviderOptionsFromEnv(source);
      // Nodes sharing a Redis event log share its Redis for fan-out too, unless LOCAL_REDIS_URL says otherwise.
      const redisUrl = options.redisUrl ?? (env.SWITCHBOARD_STORE === 'redis' ? env.REDIS_URL : undefined);
      return createLocalProvider({ ...options, redisUrl, logger });
    }
    case 'pusher':
      return createPusherProvider({ ...pusherProviderOptionsFromEnv(source), namespaces: config.namespaces });
    case 'ably': {
      // The ably SDK is large (hundreds of ms to load, seconds on a busy machine): only servers on Ably pay for it.
      const { createAblyProvider } = await import('../../providers/ably/index.js');
      return createAblyProvider({ ...ablyProviderOptionsFromEnv(source), namespaces: config.namespaces });
    }
    case 'supabase':
      return createSupabaseProvider({ ...supabaseProviderOptionsFromEnv(source), namespaces: config.namespaces });
  }
}

/** Terminated users' token revocations live beside the event log: shared by nodes on Redis, kept across restarts in sqlite. */
async function createRevocations(env: Env): Promise<TokenRevocations> {
  switch (env.SWITCHBOARD_STORE) {
    case 'redis':
      return new RedisRevocations(env.REDIS_URL);
    case 'sqlite':
      await mkdir(env.SWITCHBOARD_DATA_DIR, { recursive: true });
      return new SqliteRevocations(path.join(env.SWITCHBOARD_DATA_DIR, 'revocations.sqlite'));
    case 'memory':
      return new MemoryRevocations();
  }
}

/**
 * What each provider needs from the environment, for the start-up check: the variables it
 * cannot do without (all reported at once when missing) and its own settings parser.
 */
const PROVIDER_SETTINGS: Record<ProviderName, { required: readonly string[]; parse: (source: NodeJS.ProcessEnv) => unknown }> = {
  local: { required: [], parse: localProviderOptionsFromEnv },
  pusher: { required: ['PUSHER_APP_ID', 'PUSHER_KEY', 'PUSHER_SECRET', 'PUSHER_CLUSTER'], parse: pusherProviderOptionsFromEnv },
  ably: { required: ['ABLY_API_KEY'], parse: ablyProviderOptionsFromEnv },
  supabase: { required: ['SUPABASE_URL', 'SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY'], parse: supabaseProviderOptionsFromEnv },
};

function providerProblems(source: NodeJS.ProcessEnv): string[] {
  const provider = envSchema.shape.SWITCHBOARD_PROVIDER.safeParse(source.SWITCHBOARD_PROVIDER);
  if (!provider.success) return []; // readEnv reports it
  const settings = PROVIDER_SETTINGS[provider.data];
  const missing = settings.required.filter((name) => !source[name]?.trim());
  if (missing.length > 0) return missing.map((name) => `${name} is not set; SWITCHBOARD_PROVIDER=${provider.data} needs it.`);
  try {
    settings.parse(source);
    return [];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return message.split('\n').map((line) => describeProviderError(line, source));
  }
}

/**
 * Checks the whole configuration — environment, provider settings, config file — and
 * answers every problem found, so one start (or `switchboard check`) reports them all.
 */
export async function checkConfiguration(source: NodeJS.ProcessEnv = process.env): Promise<{ env?: Env; config?: AppConfig; problems: string[] }> {
  const { env, problems } = readEnv(source);
  problems.push(...providerProblems(source));
  if (env) {
    try {
      webhookEndpoint(env);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  const configFile = envSchema.shape.SWITCHBOARD_CONFIG.safeParse(source.SWITCHBOARD_CONFIG);
  let config: AppConfig | undefined;
  if (configFile.success) {
    try {
      config = await loadAppConfig(configFile.data);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return problems.length === 0 && env && config ? { env, config, problems } : { problems };
}

/**
 * The embedded server's occupancy and presence beyond one process: cluster-wide when nodes
 * share a Redis log, reported after a crash for one node on sqlite.
 */
function lifecycleTracker(env: Env, store: EventStore, logger: Logger): Pick<ServerOptions, 'lifecycleCluster'> {
  if (env.SWITCHBOARD_PROVIDER !== 'local') return {};
  if (store instanceof RedisEventStore) return { lifecycleCluster: new LifecycleCluster({ redis: store.redis, logger }) };
  if (env.SWITCHBOARD_STORE === 'sqlite') return { lifecycleCluster: new SqliteLifecycleLedger(path.join(env.SWITCHBOARD_DATA_DIR, 'events.sqlite'), logger) };
  return {};
}

export async function createServerFromEnv(
  source: NodeJS.ProcessEnv = process.env,
  overrides: Partial<ServerOptions> = {},
): Promise<{ app: SwitchboardApp; env: Env }> {
  const { env, config, problems } = await checkConfiguration(source);
  if (!env || !config) throw new ConfigurationError(problems);
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
  const storeOptions: EventStoreOptions = { kind: env.SWITCHBOARD_STORE, dataDir: env.SWITCHBOARD_DATA_DIR, redisUrl: env.REDIS_URL };
  const store = await createEventStore(storeOptions);
  const app = createServer({
    config,
    provider: await createProvider(env, source, config, logger),
    store,
    ...(endpoint ? { webhooks: { ...endpoint, outbox: createWebhookOutbox(storeOptions, store) } } : {}),
    // Nodes sharing a Redis log may share channels: occupancy and presence events are made cluster-wide there.
    ...lifecycleTracker(env, store, logger),
    signingKeys,
    apiKeys: parseApiKeys(env.SWITCHBOARD_API_KEYS, adminKeys),
    logger,
    tokenTtlSeconds: env.TOKEN_TTL_SECONDS,
    revocations: await createRevocations(env),
    sessionVerifier,
    devAuth,
    publicUrl: env.SWITCHBOARD_PUBLIC_URL,
    metricsToken: env.SWITCHBOARD_METRICS_TOKEN,
    ...overrides,
  });
  return { app, env };
}
