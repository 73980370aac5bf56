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

/** What a worker tells the primary once it listens. */
const listeningMessage = z.object({ type: z.literal('switchboard:listening'), port: z.number().int() });

export function reportListening(port: number): void {
  if (cluster.isWorker) process.send?.({ type: 'switchboard:listening', port } satisfies z.infer<typeof listeningMessage>);
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
  shutdownGraceMs?: number;
}

/** Restarts of a crashing worker wait longer each time, up to this. */
const MAX_RESTART_DELAY_MS = 10_000;

/** Runs in the primary until SIGINT/SIGTERM, then resolves once every worker has exited. */
export function runPrimary(options: PrimaryOptions): Promise<void> {
  const grace = options.shutdownGraceMs ?? 30_000;
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
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      options.logger.info({ signal }, 'shutting down workers');
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
      if (workers.length === 0) return resolve();
      for (const worker of workers) {
        worker.process.kill(signal);
        setTimeout(() => worker.process.kill('SIGKILL'), grace).unref();
      }
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    for (let i = 0; i < options.workers; i++) fork();
  });
}
