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
import { readAppConfig } from './config-file.js';
import { ConfigurationError, describeProviderError } from './config-problems.js';
import { devAuthEnabled, envSchema, networkProblems, readEnv, webhookEndpoint, type Env, type ProviderName } from './env.js';
import { createNetwork, type Network } from './net/network.js';
import { LifecycleCluster } from './lifecycle/cluster.js';
import { createWebhookOutbox } from './lifecycle/create-outbox.js';
import { SqliteLifecycleLedger } from './lifecycle/sqlite-ledger.js';
import { createEventStore, RedisEventStore, type EventStoreOptions } from './log/index.js';
import type { EventStore } from './log/store.js';
import { createLogger, type Logger } from './logger.js';
import { MemoryRevocations, RedisRevocations, SqliteRevocations, type TokenRevocations } from './tokens/revocations.js';
import { redisKeySlot } from './tokens/shared-signing-keys.js';
import { loadSigningKeys } from './tokens/signing-keys.js';

/** Dev-only admin key so the README walkthrough works on a fresh clone. */
export const DEV_ADMIN_KEY = 'dev-admin-key-change-me';

async function createProvider(env: Env, source: NodeJS.ProcessEnv, config: AppConfig, logger: Logger, network: Network): Promise<ServerProvider> {
  switch (env.SWITCHBOARD_PROVIDER) {
    case 'local': {
      const options = localProviderOptionsFromEnv(source);
      // Nodes sharing a Redis event log share its Redis for fan-out too, unless LOCAL_REDIS_URL says otherwise.
      const redisUrl = options.redisUrl ?? (env.SWITCHBOARD_STORE === 'redis' ? env.REDIS_URL : undefined);
      const { budget, addressPolicy, refusals } = network;
      // Each node stops at what its open-files limit leaves after SWITCHBOARD_RESERVED_DESCRIPTORS, whatever LOCAL_MAX_CONNECTIONS says.
      return createLocalProvider({ ...options, descriptorCap: budget.connectionCap, addressPolicy, refusals, redisUrl, redisKeyPrefix: `${env.SWITCHBOARD_REDIS_PREFIX}local:`, logger });
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
      return new RedisRevocations(env.REDIS_URL, `${env.SWITCHBOARD_REDIS_PREFIX}revoked:`);
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

/** The Redis that several nodes share (event log, or the local provider's fan-out), if any. */
export function sharedRedisUrl(env: Env, source: NodeJS.ProcessEnv): string | undefined {
  if (env.SWITCHBOARD_STORE === 'redis') return env.REDIS_URL;
  const local = source.LOCAL_REDIS_URL?.trim();
  return env.SWITCHBOARD_PROVIDER === 'local' && local ? local : undefined;
}

export interface CheckOptions {
  /** The embedding app authenticates end users itself (`authenticate` passed to createServer). */
  customAuthentication?: boolean;
}

/** A problem that lies between variables, and the variables it is about. */
interface CrossProblem {
  about: string[];
  problem: string;
}

/** Problems that lie between variables: what production needs, what several nodes need. */
function deploymentProblems(env: Env, source: NodeJS.ProcessEnv, options: CheckOptions): CrossProblem[] {
  const problems: CrossProblem[] = [];
  if (!devAuthEnabled(env) && !env.AUTH_JWKS_URL && !env.AUTH_JWT_SECRET && !options.customAuthentication) {
    const why = env.NODE_ENV === 'production' ? 'NODE_ENV=production turns the dev login off' : 'SWITCHBOARD_DEV_AUTH=off turns the dev login off';
    problems.push({
      about: ['AUTH_JWKS_URL', 'AUTH_JWT_SECRET', 'SWITCHBOARD_DEV_AUTH'],
      problem: `No end-user authentication: ${why}, so set AUTH_JWKS_URL or AUTH_JWT_SECRET to verify your app's session JWTs (or pass authenticate to createServer).`,
    });
  }
  if (env.NODE_ENV === 'production' && !env.SWITCHBOARD_SIGNING_KEYS && sharedRedisUrl(env, source)) {
    problems.push({
      about: ['SWITCHBOARD_SIGNING_KEYS', 'SWITCHBOARD_STORE', 'REDIS_URL'],
      problem:
        'SWITCHBOARD_SIGNING_KEYS is not set, but nodes sharing Redis must all sign tokens with the same keys (otherwise a token minted on one node is refused on the others): set it on every node to the output of `switchboard keys generate`.',
    });
  }
  if (env.SWITCHBOARD_WORKERS !== 'auto' && env.SWITCHBOARD_WORKERS > 1 && env.SWITCHBOARD_STORE !== 'redis') {
    problems.push({
      about: ['SWITCHBOARD_WORKERS', 'SWITCHBOARD_STORE'],
      problem: `SWITCHBOARD_WORKERS=${env.SWITCHBOARD_WORKERS} needs SWITCHBOARD_STORE=redis: workers share channels, presence and the event log through Redis.`,
    });
  }
  try {
    webhookEndpoint(env);
  } catch (error) {
    problems.push({ about: ['SWITCHBOARD_WEBHOOK_URL', 'SWITCHBOARD_WEBHOOK_SECRET'], problem: error instanceof Error ? error.message : String(error) });
  }
  return problems;
}

/**
 * The cross-variable problems even when some variables are malformed: those are left out
 * (their defaults stand in), and problems about them are not repeated in other words.
 */
function crossProblems(source: NodeJS.ProcessEnv, options: CheckOptions): string[] {
  const failing = new Set(envSchema.safeParse(source).error?.issues.map((issue) => String(issue.path[0])) ?? []);
  const rest = Object.fromEntries(Object.entries(source).filter(([name]) => !failing.has(name)));
  const env = envSchema.safeParse(rest);
  if (!env.success) return [];
  return deploymentProblems(env.data, source, options)
    .filter(({ about }) => !about.some((name) => failing.has(name)))
    .map(({ problem }) => problem);
}

/**
 * Checks the whole configuration — environment, provider settings, config file, what
 * production and several nodes need — and answers every problem found. This is the only
 * place start-up refuses a configuration: `serve` and `switchboard check` both run it.
 */
export async function checkConfiguration(
  source: NodeJS.ProcessEnv = process.env,
  options: CheckOptions = {},
): Promise<{ env?: Env; config?: AppConfig; problems: string[] }> {
  const { env, problems } = readEnv(source);
  problems.push(...providerProblems(source));
  problems.push(...crossProblems(source, options));
  if (env) problems.push(...networkProblems(env));
  const configFile = envSchema.shape.SWITCHBOARD_CONFIG.safeParse(source.SWITCHBOARD_CONFIG);
  let config: AppConfig | undefined;
  if (configFile.success) {
    const reading = await readAppConfig(configFile.data, source.SWITCHBOARD_CONFIG !== undefined);
    config = reading.config;
    problems.push(...reading.problems);
  }
  return problems.length === 0 && env && config ? { env, config, problems } : { problems };
}

export function networkFromEnv(env: Env, logger?: Logger): Network {
  return createNetwork({
    addressPolicy: { trustedProxies: env.SWITCHBOARD_TRUSTED_PROXIES ?? [], ipv6PrefixLength: env.SWITCHBOARD_IPV6_PREFIX },
    http: {
      headersTimeoutMs: env.SWITCHBOARD_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: env.SWITCHBOARD_REQUEST_TIMEOUT_SECONDS * 1000,
      keepAliveTimeoutMs: env.SWITCHBOARD_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
      maxSocketsPerAddress: env.SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS,
    },
    reservedDescriptors: env.SWITCHBOARD_RESERVED_DESCRIPTORS,
    logger,
  });
}

/**
 * The embedded server's occupancy and presence beyond one process: cluster-wide when nodes
 * share a Redis log, reported after a crash for one node on sqlite.
 */
function lifecycleTracker(env: Env, store: EventStore, logger: Logger): Pick<ServerOptions, 'lifecycleCluster'> {
  if (env.SWITCHBOARD_PROVIDER !== 'local') return {};
  if (store instanceof RedisEventStore) return { lifecycleCluster: new LifecycleCluster({ redis: store.redis, keyPrefix: store.keyPrefix, logger }) };
  if (env.SWITCHBOARD_STORE === 'sqlite') return { lifecycleCluster: new SqliteLifecycleLedger(path.join(env.SWITCHBOARD_DATA_DIR, 'events.sqlite'), logger) };
  return {};
}

export async function createServerFromEnv(
  source: NodeJS.ProcessEnv = process.env,
  overrides: Partial<ServerOptions> = {},
): Promise<{ app: SwitchboardApp; env: Env }> {
  const { env, config, problems } = await checkConfiguration(source, { customAuthentication: overrides.authenticate !== undefined });
  if (!env || !config) throw new ConfigurationError(problems);
  const endpoint = webhookEndpoint(env);
  const devAuth = devAuthEnabled(env);
  const logger = createLogger(env.LOG_LEVEL);
  const persistent = env.SWITCHBOARD_STORE !== 'memory';
  const sharedRedis = sharedRedisUrl(env, source);
  const signingKeys = await loadSigningKeys({
    configured: env.SWITCHBOARD_SIGNING_KEYS,
    // Dev nodes sharing Redis agree on keys there; production configures them (checked above).
    ...(sharedRedis ? { shared: redisKeySlot(sharedRedis, `${env.SWITCHBOARD_REDIS_PREFIX}signing-keys`) } : {}),
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
          maxAgeSeconds: env.AUTH_SESSION_MAX_AGE_SECONDS,
        })
      : undefined;
  const storeOptions: EventStoreOptions = { kind: env.SWITCHBOARD_STORE, dataDir: env.SWITCHBOARD_DATA_DIR, redisUrl: env.REDIS_URL, redisKeyPrefix: env.SWITCHBOARD_REDIS_PREFIX, logger };
  const store = await createEventStore(storeOptions);
  const network = networkFromEnv(env, logger);
  const app = createServer({
    config,
    network,
    provider: await createProvider(env, source, config, logger, network),
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
    metricsOpen: env.NODE_ENV !== 'production',
    ...overrides,
  });
  return { app, env };
}
