import { devAuthEnabled, type Env } from '../server/env.js';
import type { DescriptorBudget } from '../server/net/descriptors.js';
import { parseCommandArgs, type Command } from './args.js';

/** What a person starting the server wants to know, and what they should not leave on. */
export function startupSummary(env: Env, port: number, devAdminKey: string): { lines: string[]; warnings: string[] } {
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
  ];
  const warnings = [
    ...(devAuth ? ['dev login is on: anyone can sign in as any user of any tenant (off with NODE_ENV=production or SWITCHBOARD_DEV_AUTH=off)'] : []),
    ...(devAuth && !env.SWITCHBOARD_ADMIN_KEYS ? [`the well-known admin key "${devAdminKey}" is on (set SWITCHBOARD_ADMIN_KEYS to replace it)`] : []),
  ];
  return { lines, warnings };
}

/** The open-files limit and the caps derived from it; a warning when LOCAL_MAX_CONNECTIONS asks for more than it allows. */
export function capacitySummary(budget: DescriptorBudget, local: { maxConnections: string | undefined } | undefined): { line: string; warnings: string[] } {
  const limit = budget.openFilesLimit;
  const webSockets = local ? `up to ${budget.connectionCap} WebSocket connections, ` : '';
  const line =
    limit === undefined
      ? `limits    open-files limit unknown${local ? `: up to ${budget.connectionCap} WebSocket connections` : ''}`
      : `limits    open files ${limit}: ${webSockets}${budget.socketCap ?? limit} sockets in all (then 503${local ? ' / close 4100' : ''})`;
  const configuredMaxConnections = local?.maxConnections;
  const configured = Number(configuredMaxConnections);
  const warnings =
    configuredMaxConnections?.trim() && configured > budget.connectionCap
      ? [
          `LOCAL_MAX_CONNECTIONS=${configured} is more than the open-files limit${limit === undefined ? '' : ` (${limit})`} allows after SWITCHBOARD_RESERVED_DESCRIPTORS: this node stops at ${budget.connectionCap} (raise ulimit -n to go higher)`,
        ]
      : [];
  return { line, warnings };
}

/** Runs the BFF until SIGINT/SIGTERM, then drains and exits. */
export const serve: Command = {
  name: 'serve',
  summary: 'Run the BFF, the embedded realtime server and the demo (the default)',
  help: `Usage: switchboard serve

Runs the BFF with the configuration in the environment (see .env.example; a .env file in
the current directory is read first, variables already set win). Ctrl-C drains and stops.
On a terminal it prints where the demo, the admin page and the API are; otherwise, and
with NODE_ENV=production, it logs JSON lines only.`,
  async run(argv) {
    const { values } = parseCommandArgs('serve', argv, {});
    if (values.help) return void console.log(this.help);
    // Loaded here so that `--help` and the other commands start quickly.
    const [{ createServerFromEnv, DEV_ADMIN_KEY }, { listen }] = await Promise.all([import('../server/from-env.js'), import('../server/listen.js')]);
    const { app, env } = await createServerFromEnv(process.env);
    const running = await listen(app, { port: env.PORT, host: env.HOST });
    const { logger } = app.switchboard;
    const summary = startupSummary(env, running.port, DEV_ADMIN_KEY);
    const { budget } = app.switchboard.network;
    const capacity = capacitySummary(budget, env.SWITCHBOARD_PROVIDER === 'local' ? { maxConnections: process.env.LOCAL_MAX_CONNECTIONS } : undefined);
    summary.lines.push(capacity.line);
    summary.warnings.push(...capacity.warnings);
    const human = process.stdout.isTTY && env.NODE_ENV !== 'production';
    if (human) {
      console.log(['Switchboard is running', ...summary.lines.map((line) => `  ${line}`), ...summary.warnings.map((warning) => `  ! ${warning}`), 'Press Ctrl-C to stop.'].join('\n'));
    } else {
      logger.info(
        {
          url: `http://localhost:${running.port}/`,
          provider: env.SWITCHBOARD_PROVIDER,
          store: env.SWITCHBOARD_STORE,
          openFilesLimit: budget.openFilesLimit ?? null,
          connectionCap: budget.connectionCap,
          socketCap: budget.socketCap ?? null,
        },
        'Switchboard is listening',
      );
      for (const warning of summary.warnings) logger.warn(warning);
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      if (human) console.log('Stopping: finishing deliveries and closing connections…');
      else logger.info({ signal }, 'shutting down');
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
  },
};
