/**
 * Which load generator the scale benchmark runs: the C one (bench/load/epoll-clients.c,
 * compiled here with gcc into bench/build/) when it compiles, else the Node one. Both
 * answer the same commands with the same messages (bench/lib/scale-protocol.ts).
 * BENCH_SCALE_GENERATOR=node (or =c, which then fails instead of falling back) chooses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, spawnChild, type Child } from './proc.js';
import { parseGeneratorReply } from './scale-protocol.js';

export type GeneratorKind = 'c' | 'node';

const SOURCE = path.join(BENCH_DIR, 'load', 'epoll-clients.c');
const BINARY = path.join(BENCH_DIR, 'build', 'epoll-clients');

/** Compiles the C generator unless the binary is newer than its source; returns why not on failure. */
export function buildEpollGenerator(): string | undefined {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return undefined;
  mkdirSync(path.dirname(BINARY), { recursive: true });
  // Built beside the binary and renamed into place: a concurrent run never executes a half-written file.
  const building = `${BINARY}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-O2', '-std=c11', '-Wall', '-o', building, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(building, BINARY);
    return undefined;
  } catch (error) {
    const stderr = isErrorWithStderr(error) ? String(error.stderr).split('\n').find((line) => line.includes('error')) : undefined;
    return stderr ?? (error instanceof Error ? error.message.split('\n')[0] : String(error));
  }
}

function isErrorWithStderr(error: unknown): error is { stderr: unknown } {
  return typeof error === 'object' && error !== null && 'stderr' in error;
}

/** The generator kind to use, with a one-line notice when it is not the C one. */
export function chooseGenerator(log: (message: string) => void): GeneratorKind {
  const wanted = process.env.BENCH_SCALE_GENERATOR;
  if (wanted === 'node') {
    log('scale: Node load generator (BENCH_SCALE_GENERATOR=node)');
    return 'node';
  }
  const failure = buildEpollGenerator();
  if (failure === undefined) return 'c';
  if (wanted === 'c') throw new Error(`C load generator does not build: ${failure}`);
  log(`scale: C load generator unavailable (${failure}); falling back to the Node one, whose CPU competes with the server's`);
  return 'node';
}

export function spawnGenerator(kind: GeneratorKind, label: string): Child {
  const common = { raiseFdLimit: true, label, parse: parseGeneratorReply };
  return kind === 'c' ? spawnChild({ ...common, executable: BINARY }) : spawnChild({ ...common, script: 'load/scale-clients.ts' });
}
