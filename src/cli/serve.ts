import { createServerFromEnv } from '../server/from-env.js';
import { listen } from '../server/listen.js';

/** Runs the BFF until SIGINT/SIGTERM, then drains and exits. */
export async function serve(): Promise<void> {
  const { app, env } = await createServerFromEnv(process.env);
  const running = await listen(app, { port: env.PORT, host: env.HOST });
  const { logger } = app.switchboard;
  logger.info({ url: `http://localhost:${running.port}/`, provider: env.SWITCHBOARD_PROVIDER, store: env.SWITCHBOARD_STORE }, 'Switchboard is listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
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
}
