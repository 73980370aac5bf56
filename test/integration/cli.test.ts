import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import type { FakeProvider } from '../helpers/fake-provider.js';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env }, timeout: 20_000 });

let bff: TestBff | undefined;
afterEach(async () => {
  await bff?.close();
  bff = undefined;
});

describe('switchboard CLI', () => {
  it('publishes with the API key from the environment', async () => {
    bff = await startBff();
    const { stdout } = await cli(['publish', 'orders:1', 'status', '{"status":"shipped"}', '--url', bff.url], { SWITCHBOARD_API_KEY: API_KEYS.acme });
    expect(JSON.parse(stdout)).toMatchObject({ seq: 1, status: 'delivered' });
    expect((bff.provider as FakeProvider).published[0]).toMatchObject({ tenant: 'acme', envelope: { data: { status: 'shipped' } } });
    await cli(['publish', 'orders:1', 'status', '{}', '--url', bff.url, '--tenant', 'globex'], { SWITCHBOARD_API_KEY: ADMIN_KEY });
    expect((bff.provider as FakeProvider).published[1]?.tenant).toBe('globex');
  });

  it('fails clearly without a key, with bad JSON and on a refused publish', async () => {
    bff = await startBff();
    await expect(cli(['publish', 'orders:1', 'status', '{}', '--url', bff.url], { SWITCHBOARD_API_KEY: '' })).rejects.toMatchObject({ stderr: expect.stringMatching(/SWITCHBOARD_API_KEY/) });
    await expect(cli(['publish', 'orders:1', 'status', '{nope', '--url', bff.url], { SWITCHBOARD_API_KEY: API_KEYS.acme })).rejects.toMatchObject({ stderr: expect.stringMatching(/must be JSON/) });
    await expect(cli(['publish', 'billing:1', 'status', '{}', '--url', bff.url], { SWITCHBOARD_API_KEY: API_KEYS.acme })).rejects.toMatchObject({ stderr: expect.stringMatching(/400 .*unknown_namespace/) });
    await expect(cli(['frobnicate'])).rejects.toMatchObject({ code: 2 });
  });

  it('prints a capability token through the dev login', async () => {
    bff = await startBff();
    const { stdout } = await cli(['token', '--tenant', 'acme', '--user', 'ana', '--url', bff.url]);
    expect(JSON.parse(stdout)).toMatchObject({ tenant: 'acme', user: 'ana', token: expect.any(String) });
  });
});
