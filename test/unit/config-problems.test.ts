/**
 * Start-up configuration: every problem at once, in plain words, with the value unless it
 * is a secret (checkConfiguration is what `switchboard check`, `serve` and npm start use).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError, shownValue } from '../../src/server/config-problems.js';
import { checkConfiguration, createServerFromEnv } from '../../src/server/from-env.js';

let dir: string;
let missingConfig: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchboard-config-'));
  missingConfig = path.join(dir, 'none.json');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clean environment: nothing from the machine running the tests leaks in. */
const env = (vars: Record<string, string>) => ({ SWITCHBOARD_CONFIG: missingConfig, ...vars });

describe('configuration check', () => {
  it('accepts the defaults', async () => {
    const checked = await checkConfiguration(env({}));
    expect(checked.problems).toEqual([]);
    expect(checked.env).toMatchObject({ PORT: 8080, SWITCHBOARD_PROVIDER: 'local', SWITCHBOARD_STORE: 'sqlite' });
  });

  it('reports a bad port and all four missing Pusher variables in one go, in plain words', async () => {
    const { env: parsed, problems } = await checkConfiguration(env({ PORT: 'abc', SWITCHBOARD_PROVIDER: 'pusher', PUSHER_CLUSTER: ' ' }));
    expect(parsed).toBeUndefined();
    expect(problems).toEqual([
      'PORT is "abc", but it must be a number.',
      'PUSHER_APP_ID is not set; SWITCHBOARD_PROVIDER=pusher needs it.',
      'PUSHER_KEY is not set; SWITCHBOARD_PROVIDER=pusher needs it.',
      'PUSHER_SECRET is not set; SWITCHBOARD_PROVIDER=pusher needs it.',
      'PUSHER_CLUSTER is not set; SWITCHBOARD_PROVIDER=pusher needs it.',
    ]);
  });

  it('names ranges, choices, URLs and the provider\'s own rules with the value given', async () => {
    const { problems } = await checkConfiguration(
      env({
        PORT: '70000',
        TOKEN_TTL_SECONDS: '1.5',
        SWITCHBOARD_STORE: 'postgres',
        AUTH_JWKS_URL: 'not a url',
        SWITCHBOARD_PROVIDER: 'pusher',
        PUSHER_APP_ID: '1',
        PUSHER_KEY: 'key',
        PUSHER_SECRET: 'secret',
        PUSHER_CLUSTER: 'EU',
        PUSHER_HOST: 'https://pusher.example',
      }),
    );
    expect(problems).toEqual([
      'PORT is "70000", but it must be at most 65535.',
      'SWITCHBOARD_STORE is "postgres", but it must be one of sqlite, memory, redis.',
      'TOKEN_TTL_SECONDS is "1.5", but it must be a whole number.',
      'AUTH_JWKS_URL is "not a url", but it must be a URL, e.g. https://example.com.',
      // Every problem in the provider's own variables at once, too.
      'PUSHER_CLUSTER is "EU", but it must be a cluster name such as eu or mt1.',
      'PUSHER_HOST is "https://pusher.example", but it must be a host name without scheme.',
    ]);
  });

  it('reports a broken config file together with the environment\'s problems', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{ "namespaces": ');
    const { problems } = await checkConfiguration({ SWITCHBOARD_CONFIG: file, LOG_LEVEL: 'loud' });
    expect(problems).toEqual([expect.stringMatching(/^LOG_LEVEL is "loud", but it must be one of fatal, error/), `${file} is not valid JSON`]);
  });

  it('stops start-up with one error listing every problem', async () => {
    const failure = await createServerFromEnv(env({ PORT: '-1', SWITCHBOARD_DEV_AUTH: 'maybe' })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigurationError);
    expect((failure as ConfigurationError).problems).toHaveLength(2);
    expect((failure as Error).message).toMatch(/^Switchboard cannot start: 2 problems in its configuration.*\n {2}- PORT is "-1", but it must be at least 0\.\n {2}- SWITCHBOARD_DEV_AUTH is "maybe"/);
  });

  it('never repeats a secret, and masks a password inside a URL', async () => {
    expect(shownValue('REDIS_URL', 'redis://user:hunter2@cache:6379')).toBe('"redis://user:***@cache:6379"');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('AUTH_JWT_SECRET', 'SWITCHBOARD_METRICS_TOKEN', 'LOCAL_APP_SECRET'),
        fc.string({ minLength: 3, maxLength: 7 }).filter((value) => value.trim().length === value.length && value.trim() !== ''),
        async (name, secret) => {
          const { problems } = await checkConfiguration(env({ [name]: secret }));
          expect(problems).toHaveLength(1);
          expect(problems[0]).toContain(name);
          expect(problems[0]).toContain('(hidden, it is a secret)');
          expect(problems[0]).not.toContain(JSON.stringify(secret));
        },
      ),
      { numRuns: 40 },
    );
  });
});
