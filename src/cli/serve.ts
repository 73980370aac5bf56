import cluster from 'node:cluster';
import { configurationWarnings } from '../server/config-warnings.js';
import { devAuthEnabled, type Env } from '../server/env.js';
import { descriptorBudget, openFilesLimit, type DescriptorBudget } from '../server/net/descriptors.js';
import { parseCommandArgs, type Command } from './args.js';
import { onPrimaryStop, reportListening, runPrimary, workerCount } from './workers.js';

/** What a person starting the server wants to know, and what they should not leave on. */
export function startupSummary(env: Env, port: number, devAdminKey: string, workers = 1): { lines: string[]; warnings: string[] } {
  const host = !env.HOST || env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const devAuth = devAuthEnabled(env);
  const store = env.SWITCHBOARD_STORE === 'sqlite' ? `sqlite (${env.SWITCHBOARD_DATA_DIR})` : env.SWITCHBOARD_STORE === 'redis' ? `redis (${new URL(env.REDIS_URL).host})` : 'memory (lost on restart)';
  const lines = [
    ...(devAuth ? [`demo      ${base}/`] : []),
    `admin     ${base}/admin`,
    `API       ${base}/v1/  (OpenAPI: ${base}/v1/openapi.json)`,
    `provider  ${env.SWITCHBOARD_PROVIDER}${env.SWITCHBOARD_PROVIDER === 'local' ? ' (embedded Pusher-protocol server on this port)' : ''}`,
    `store     ${store}`,
    ...(workers > 1 ? [`workers   ${workers} processes on this port`] : []),
  ];
  const warnings = [
    ...(devAuth ? ['dev login is on: anyone can sign in as any user of any tenant (off with NODE_ENV=production or SWITCHBOARD_DEV_AUTH=off)'] : []),
    ...(devAuth && !env.SWITCHBOARD_ADMIN_KEYS ? [`the well-known admin key "${devAdminKey}" is on (set SWITCHBOARD_ADMIN_KEYS to replace it)`] : []),
    ...configurationWarnings(env),
  ];
  return { lines, warnings };
}

/**
 * The open-files limit and the caps derived from it (per process); a warning when
 * LOCAL_MAX_CONNECTIONS, a cluster-wide cap, asks for more than the `workers` processes allow.
 */
export function capacitySummary(budget: DescriptorBudget, local: { maxConnections: string | undefined } | undefined, workers = 1): { line: string; warnings: string[] } {
  const limit = budget.openFilesLimit;
  const webSockets = local ? `up to ${budget.connectionCap} WebSocket connections, ` : '';
  const line =
    limit === undefined
      ? `limits    open-files limit unknown${local ? `: up to ${budget.connectionCap} WebSocket connections` : ''}`
      : `limits    open files ${limit}: ${webSockets}${budget.socketCap ?? limit} sockets in all (then 503${local ? ' / close 4100' : ''})`;
  const configuredMaxConnections = local?.maxConnections;
  const configured = Number(configuredMaxConnections);
  const allowed = budget.connectionCap * workers;
  const stopsAt = workers > 1 ? `its ${workers} workers stop at ${allowed} (${budget.connectionCap} each)` : `this node stops at ${allowed}`;
  const warnings =
    configuredMaxConnections?.trim() && configured > allowed
      ? [
          `LOCAL_MAX_CONNECTIONS=${configured} is more than the open-files limit${limit === undefined ? '' : ` (${limit})`} allows after SWITCHBOARD_RESERVED_DESCRIPTORS: ${stopsAt} (raise ulimit -n to go higher)`,
        ]
      : [];
  return { line, warnings };
}

const shutdownLimitMs = (env: Env) => env.SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS * 1000;
/** After the limit, a worker that has not exited by itself yet is killed (it normally exits at the limit). */
const WORKER_KILL_MARGIN_MS = 1_000;

/** Runs the BFF until SIGINT/SIGTERM, then drains and exits; a second signal, or SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS, exits at once. */
export const serve: Command = {
  name: 'serve',
  summary: 'Run the BFF, the embedded realtime server and the demo (the default)',
  help: `Usage: switchboard serve

Runs the BFF with the configuration in the environment (see .env.example; a .env file in
the current directory is read first, variables already set win). Ctrl-C drains and stops.
On a terminal (stdout is a TTY) it prints where the demo, the admin page and the API are;
otherwise, and always with NODE_ENV=production, it logs JSON lines only (pino), with the
same warnings as log lines. SIGINT/SIGTERM drain and stop within
SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS (default 10; then it exits anyway, with status 1); a
second signal stops at once.

SWITCHBOARD_WORKERS=<n>|auto runs n processes on the one port (auto: one per core with
SWITCHBOARD_STORE=redis, which they share state through; otherwise one).`,
  async run(argv) {
    const { values } = parseCommandArgs('serve', argv, {});
    if (values.help) return void console.log(this.help);
    // Loaded here so that `--help` and the other commands start quickly.
    const [{ checkConfiguration, createServerFromEnv, DEV_ADMIN_KEY }, { listen }, { createLogger }, { ConfigurationError }] = await Promise.all([
      import('../server/from-env.js'),
      import('../server/listen.js'),
      import('../server/logger.js'),
      import('../server/config-problems.js'),
    ]);
    const human = (env: Env) => process.stdout.isTTY && env.NODE_ENV !== 'production';
    const announce = (env: Env, port: number, logger: { info(details: object, message: string): void; warn(message: string): void }, workers: number, budget: DescriptorBudget) => {
      const summary = startupSummary(env, port, DEV_ADMIN_KEY, workers);
      const capacity = capacitySummary(budget, env.SWITCHBOARD_PROVIDER === 'local' ? { maxConnections: process.env.LOCAL_MAX_CONNECTIONS } : undefined, workers);
      summary.lines.push(workers > 1 ? `${capacity.line}, per worker` : capacity.line);
      summary.warnings.push(...capacity.warnings);
      if (human(env)) {
        console.log(['Switchboard is running', ...summary.lines.map((line) => `  ${line}`), ...summary.warnings.map((warning) => `  ! ${warning}`), 'Press Ctrl-C to stop.'].join('\n'));
      } else {
        logger.info(
          {
            url: `http://localhost:${port}/`,
            provider: env.SWITCHBOARD_PROVIDER,
            store: env.SWITCHBOARD_STORE,
            workers,
            openFilesLimit: budget.openFilesLimit ?? null,
            connectionCap: budget.connectionCap,
            socketCap: budget.socketCap ?? null,
          },
          'Switchboard is listening',
        );
        for (const warning of summary.warnings) logger.warn(warning);
      }
    };

    if (cluster.isPrimary) {
      const { env, problems } = await checkConfiguration(process.env);
      if (!env) throw new ConfigurationError(problems);
      const workers = workerCount(env);
      if (workers > 1) {
        if (problems.length > 0) throw new ConfigurationError(problems);
        const logger = createLogger(env.LOG_LEVEL);
        // Workers give up on their own after the shutdown limit; the primary kills stragglers a little later.
        await runPrimary({
          workers,
          logger,
          shutdownGraceMs: shutdownLimitMs(env) + WORKER_KILL_MARGIN_MS,
          onListening: (port) => announce(env, port, logger, workers, descriptorBudget(openFilesLimit(), env.SWITCHBOARD_RESERVED_DESCRIPTORS)),
        });
        if (human(env)) console.log('Stopped.');
        return;
      }
    }

    const { app, env } = await createServerFromEnv(process.env);
    const running = await listen(app, { port: env.PORT, host: env.HOST });
    const { logger } = app.switchboard;
    if (cluster.isWorker) reportListening(running.port);
    else announce(env, running.port, logger, 1, app.switchboard.network.budget);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping && signal === 'primary') return;
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without finishing the shutdown');
        process.exit(1);
      }
      stopping = true;
      if (human(env) && cluster.isPrimary) console.log('Stopping: finishing deliveries and closing connections… (Ctrl-C again to quit at once)');
      else logger.info({ signal }, 'shutting down');
      const limitMs = shutdownLimitMs(env);
      setTimeout(() => {
        logger.error({ limitMs }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, limitMs).unref();
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    onPrimaryStop(() => stop('primary'));
  },
};
