/**
 * A BFF node in its own process, for tests that SIGKILL it: local provider scaled out over
 * Redis, Redis event log and webhook outbox, cluster-wide lifecycle events; or, with
 * `dataDir`, a single node on the sqlite store (log, outbox and lifecycle ledger in its
 * file). Configured by argv[2] (JSON); prints `{"port": …}` once listening.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { createLocalProvider } from '../../providers/local/index.js';
import { DEFAULT_APP_CONFIG } from '../../src/core/config.js';
import { createServer } from '../../src/server/app.js';
import { parseApiKeys } from '../../src/server/auth/api-keys.js';
import { LifecycleCluster } from '../../src/server/lifecycle/cluster.js';
import { RedisWebhookOutbox } from '../../src/server/lifecycle/redis-outbox.js';
import { SqliteLifecycleLedger } from '../../src/server/lifecycle/sqlite-ledger.js';
import { SqliteWebhookOutbox } from '../../src/server/lifecycle/sqlite-outbox.js';
import { SqliteEventStore } from '../../src/server/log/sqlite-store.js';
import { listen } from '../../src/server/listen.js';
import { RedisEventStore } from '../../src/server/log/redis-store.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';
import { providerFaultsSchema, withProviderFaults } from './faulty-provider.js';

export const lifecycleNodeConfigSchema = z.object({
  redisUrl: z.string(),
  storePrefix: z.string(),
  providerPrefix: z.string(),
  webhookUrl: z.string(),
  secret: z.string(),
  nodeTtlMs: z.number().int(),
  /** Set: a single node on the sqlite store in this directory (the Redis settings are unused). */
  dataDir: z.string().optional(),
  /** `tenant:key` pairs for `POST /v1/publish`. */
  tenantKeys: z.string().optional(),
  /** Redis nodes: faults injected into provider calls (soak runs). */
  providerFaults: providerFaultsSchema.optional(),
  /** Webhook sender timing instead of the tests' fast one. */
  senderTuning: z.object({ timeoutMs: z.number(), pollMs: z.number() }).partial().optional(),
});
export type LifecycleNodeConfig = z.infer<typeof lifecycleNodeConfigSchema>;

const SENDER_TUNING = { timeoutMs: 500, backoff: { baseMs: 10, capMs: 50 }, pollMs: 20 };

async function startSqliteNode(config: LifecycleNodeConfig & { dataDir: string }) {
  const logger = createLogger('silent');
  await mkdir(config.dataDir, { recursive: true });
  const file = path.join(config.dataDir, 'events.sqlite');
  const provider = createLocalProvider({ logger: { info() {}, error() {} } });
  const app = createServer({
    config: DEFAULT_APP_CONFIG,
    provider,
    store: new SqliteEventStore(file),
    signingKeys: await loadSigningKeys({}),
    apiKeys: parseApiKeys(config.tenantKeys, undefined),
    logger,
    devAuth: true,
    webhooks: { url: config.webhookUrl, secrets: [config.secret], outbox: new SqliteWebhookOutbox(file), tuning: SENDER_TUNING },
    lifecycleCluster: new SqliteLifecycleLedger(file, logger),
  });
  const running = await listen(app, { host: '127.0.0.1' });
  return { provider, running };
}

export async function startLifecycleNode(config: LifecycleNodeConfig) {
  if (config.dataDir !== undefined) return startSqliteNode({ ...config, dataDir: config.dataDir });
  const logger = createLogger('silent');
  const store = new RedisEventStore({ url: config.redisUrl, keyPrefix: config.storePrefix });
  const provider = createLocalProvider({ redisUrl: config.redisUrl, redisKeyPrefix: config.providerPrefix, heartbeatMs: 200, logger: { info() {}, error() {} } });
  if (config.providerFaults) withProviderFaults(provider, config.providerFaults, store.redis);
  const app = createServer({
    config: DEFAULT_APP_CONFIG,
    provider,
    store,
    signingKeys: await loadSigningKeys({}),
    apiKeys: parseApiKeys(config.tenantKeys, undefined),
    logger,
    devAuth: true,
    webhooks: {
      url: config.webhookUrl,
      secrets: [config.secret],
      outbox: new RedisWebhookOutbox(store.redis, config.storePrefix),
      tuning: { ...SENDER_TUNING, ...config.senderTuning },
    },
    lifecycleCluster: new LifecycleCluster({ redis: store.redis, keyPrefix: config.storePrefix, nodeTtlMs: config.nodeTtlMs, logger }),
  });
  const running = await listen(app, { host: '127.0.0.1' });
  return { provider, running };
}

/** Starts a node in a child process (handed to `onChild` at once, for clean-up); resolves with its port once it listens. */
export async function spawnLifecycleNode(config: LifecycleNodeConfig, onChild: (child: ChildProcess) => void = () => {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lifecycle-node.ts', JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  onChild(child);
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve(z.object({ port: z.number() }).parse(JSON.parse(line)).port));
    child.once('exit', (code) => reject(new Error(`node exited with ${code} before listening`)));
  });
  return { child, port };
}

if (process.argv[1]?.endsWith('lifecycle-node.ts')) {
  const { running } = await startLifecycleNode(lifecycleNodeConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}')));
  process.stdout.write(`${JSON.stringify({ port: running.port })}\n`);
  // A clean stop, as `switchboard serve` does it.
  process.once('SIGTERM', () => void running.close().then(() => process.exit(0)));
}
