import { describe, expect, it } from 'vitest';
import { WORKER_SEMI_SPACE_MB, workerCount, workerExecArgv } from '../../src/cli/workers.js';
import { checkConfiguration } from '../../src/server/from-env.js';

describe('serve worker count', () => {
  it('auto runs one worker per core with the redis store, one otherwise', () => {
    expect(workerCount({ SWITCHBOARD_WORKERS: 'auto', SWITCHBOARD_STORE: 'redis' }, 4)).toBe(4);
    expect(workerCount({ SWITCHBOARD_WORKERS: 'auto', SWITCHBOARD_STORE: 'sqlite' }, 4)).toBe(1);
    expect(workerCount({ SWITCHBOARD_WORKERS: 3, SWITCHBOARD_STORE: 'redis' }, 4)).toBe(3);
  });

  it('refuses several workers without a store they can share, and a count that is not one', async () => {
    const sqlite = await checkConfiguration({ SWITCHBOARD_WORKERS: '2', SWITCHBOARD_STORE: 'sqlite' });
    expect(sqlite.problems.join('\n')).toMatch(/SWITCHBOARD_WORKERS=2 needs SWITCHBOARD_STORE=redis/);
    for (const bad of ['0', 'many', '1.5', '-1']) {
      const result = await checkConfiguration({ SWITCHBOARD_WORKERS: bad });
      expect(result.problems.join('\n')).toMatch(/SWITCHBOARD_WORKERS/);
    }
  });

  it('caps the young generation of workers unless the flags or NODE_OPTIONS already set it', () => {
    const cap = `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`;
    expect(workerExecArgv(['--import', 'tsx'])).toEqual(['--import', 'tsx', cap]);
    expect(workerExecArgv(['--max-semi-space-size=32'])).toEqual(['--max-semi-space-size=32']);
    expect(workerExecArgv(['--max_semi_space_size', '8'])).toEqual(['--max_semi_space_size', '8']);
    expect(workerExecArgv([], '--enable-source-maps --max-semi-space-size=16')).toEqual([]);
    expect(workerExecArgv([], '--max-old-space-size=512')).toEqual([cap]);
  });
});
