/**
 * The Switchboard BFF as `switchboard serve` runs it with SWITCHBOARD_WORKERS: a primary
 * forking workers that share one port. The primary reports the port once every worker
 * listens; the orchestrator reads the workers' CPU and memory as the primary's children.
 */
import cluster from 'node:cluster';
import { onPrimaryStop, reportListening, runPrimary } from '../../src/cli/workers.js';
import { createServerFromEnv } from '../../src/server/from-env.js';
import { listen } from '../../src/server/listen.js';
import { serveIpc } from './ipc.js';

if (cluster.isPrimary) {
  const workers = Number(process.env.SWITCHBOARD_WORKERS);
  const quiet = { info: () => undefined, error: (details: object, message: string) => console.error(message, details) };
  const stopped: Promise<void> = runPrimary({
    workers,
    logger: quiet,
    shutdownGraceMs: 5_000,
    // The primary drains its workers on SIGTERM (as `switchboard serve` does) and resolves when they exited.
    onListening: (port) => serveIpc(port, () => (process.kill(process.pid, 'SIGTERM'), stopped)),
  });
} else {
  const { app } = await createServerFromEnv(process.env);
  const running = await listen(app, { port: 0, host: '127.0.0.1' });
  reportListening(running.port);
  onPrimaryStop(() => void running.close().finally(() => process.exit(0)));
}
