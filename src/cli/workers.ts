/**
 * `switchboard serve` on every core: a primary process forks workers that each run the
 * whole BFF on the same port (Node's cluster module hands accepted connections out in
 * turn). Workers are ordinary nodes of one cluster: they share the Redis event log and
 * scale-out, so presence, counts, caps, user events, terminate and webhooks are
 * cluster-wide exactly as between machines. A worker that dies is replaced; a signal to
 * the primary drains every worker.
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { z } from 'zod';
import type { Env } from '../server/env.js';

/** How many workers `serve` runs: `auto` is one per core when the store lets nodes share state (redis), else one. */
export function workerCount(env: Pick<Env, 'SWITCHBOARD_WORKERS' | 'SWITCHBOARD_STORE'>, cores = os.availableParallelism()): number {
  if (env.SWITCHBOARD_WORKERS !== 'auto') return env.SWITCHBOARD_WORKERS;
  return env.SWITCHBOARD_STORE === 'redis' ? cores : 1;
}

/**
 * Young generation of each worker, in MB per semi-space (V8's default grows to 16). V8
 * grows it under allocation bursts (a mass connect, a broadcast) and keeps it: 2 × 16 MB
 * resident in every worker, paid once per worker, so with many workers it is a
 * sizeable share of the memory per connection. See README, "Scale".
 */
export const WORKER_SEMI_SPACE_MB = 4;

/** Node flags for the workers: the primary's, plus the young-generation cap unless one is set already. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  const set = [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => /^--max[-_]semi[-_]space[-_]size\b/.test(flag));
  return set ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}

/** What a worker tells the primary once it listens. */
const listeningMessage = z.object({ type: z.literal('switchboard:listening'), port: z.number().int() });

export function reportListening(port: number): void {
  if (cluster.isWorker) process.send?.({ type: 'switchboard:listening', port } satisfies z.infer<typeof listeningMessage>);
}

/** The primary asks a worker to drain and exit (a message, not a signal: see runPrimary). */
const stopMessage = z.object({ type: z.literal('switchboard:stop') });

/** In a worker: calls `handler` when the primary asks it to stop. */
export function onPrimaryStop(handler: () => void): void {
  if (!cluster.isWorker) return;
  process.on('message', (message: unknown) => {
    if (stopMessage.safeParse(message).success) handler();
  });
}

export interface PrimaryLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface PrimaryOptions {
  workers: number;
  /** Called once, when every worker listens. */
  onListening(port: number): void;
  logger: PrimaryLogger;
  /** Longest a draining worker may take before it is killed. */
  shutdownGraceMs: number;
}

/** Restarts of a crashing worker wait longer each time, up to this. */
const MAX_RESTART_DELAY_MS = 10_000;

/** Runs in the primary until SIGINT/SIGTERM, then resolves once every worker has exited. */
export function runPrimary(options: PrimaryOptions): Promise<void> {
  const grace = options.shutdownGraceMs;
  const listening = new Set<number>();
  let announced = false;
  let stopping = false;
  let restartDelay = 250;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: unknown) => {
      const parsed = listeningMessage.safeParse(message);
      if (!parsed.success) return;
      listening.add(worker.id);
      restartDelay = 250;
      if (!announced && listening.size >= options.workers) {
        announced = true;
        options.onListening(parsed.data.port);
      }
    });
    return worker;
  };

  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });

  return new Promise((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      listening.delete(worker.id);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
        return;
      }
      options.logger.error({ worker: worker.process.pid, code, signal, restartInMs: restartDelay }, 'worker exited; starting a new one');
      setTimeout(fork, restartDelay).unref();
      restartDelay = Math.min(MAX_RESTART_DELAY_MS, restartDelay * 2);
    });
    // Workers are asked to stop over IPC rather than with the signal: on a terminal, Ctrl-C
    // already reached every process of the group, and a forwarded signal would count as a
    // second one there (which means "exit at once"). A second signal here kills them.
    const stop = (signal: NodeJS.Signals) => {
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
      if (stopping) {
        options.logger.error({ signal }, 'second signal: killing the workers');
        for (const worker of workers) worker.process.kill('SIGKILL');
        return;
      }
      stopping = true;
      options.logger.info({ signal }, 'shutting down workers');
      if (workers.length === 0) return resolve();
      for (const worker of workers) {
        worker.send({ type: 'switchboard:stop' } satisfies z.infer<typeof stopMessage>);
        setTimeout(() => worker.process.kill('SIGKILL'), grace).unref();
      }
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    for (let i = 0; i < options.workers; i++) fork();
  });
}
