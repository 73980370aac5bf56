/** `switchboard serve` as a child process on loopback, port 0, with a fresh signing key and only the variables given (and, optionally, a lower open-files limit). */
import { execFileSync, spawn } from 'node:child_process';
import { generatePrivateJwk } from '../../src/server/tokens/signing-keys.js';

export function spawnServe(env: Record<string, string>, options: { openFiles?: number } = {}) {
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve'];
  // `exec`: the shell becomes the primary, so its pid is the child's.
  const [command, argv] =
    options.openFiles === undefined ? [process.execPath, args] : ['bash', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, ...args]];
  return spawn(command, argv, {
    cwd: new URL('../..', import.meta.url),
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_SIGNING_KEYS: JSON.stringify([generatePrivateJwk()]), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** PIDs of the workers a `serve` primary forked (tsx may also have started esbuild children: not counted). */
export function servePrimaryWorkers(primaryPid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primaryPid), '-f', 'src/cli.ts serve'], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
