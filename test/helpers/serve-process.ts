/** `switchboard serve` as a child process on loopback, port 0, with a fresh signing key and only the variables given. */
import { spawn } from 'node:child_process';
import { generatePrivateJwk } from '../../src/server/tokens/signing-keys.js';

export function spawnServe(env: Record<string, string>) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: new URL('../..', import.meta.url),
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_SIGNING_KEYS: JSON.stringify([generatePrivateJwk()]), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
