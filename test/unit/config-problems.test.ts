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
let emptyConfig: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchboard-config-'));
  emptyConfig = path.join(dir, 'empty.json');
  await writeFile(emptyConfig, '{}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clean environment: nothing from the machine running the tests leaks in. */
const env = (vars: Record<string, string>) => ({ SWITCHBOARD_CONFIG: emptyConfig, ...vars });

describe('configuration check', () => {
  it('accepts the defaults', async () => {
    const checked = await checkConfiguration(env({}));
    expect(checked.problems).toEqual([]);
    expect(checked.env).toMatchObject({ PORT: 8080, SWITCHBOARD_PROVIDER: 'local', SWITCHBOARD_STORE: 'sqlite' });
  });

  it('reads the shutdown limit (10 s by default) and refuses one that is not a positive number of seconds', async () => {
    expect((await checkConfiguration(env({}))).env?.SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS).toBe(10);
    expect((await checkConfiguration(env({ SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS: '2.5' }))).env?.SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS).toBe(2.5);
    for (const value of ['0', '-1', 'soon', '3601']) {
      const { problems } = await checkConfiguration(env({ SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS: value }));
      expect(problems).toEqual([expect.stringMatching(new RegExp(`^SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS is "${value}", but it must be`))]);
    }
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
    expect(problems).toEqual([expect.stringMatching(/^LOG_LEVEL is "loud", but it must be one of fatal, error/), `${file} is not valid JSON: line 1, column 17: value expected.`]);
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

/**
 * Every way `serve` refuses a configuration. serve refuses only through checkConfiguration
 * (createServerFromEnv throws nothing else about configuration), so check reports each one;
 * the table proves it for every path, with the words a user sees.
 */
const PRODUCTION_LOCAL = {
  NODE_ENV: 'production',
  SWITCHBOARD_STORE: 'memory',
  AUTH_JWT_SECRET: 'a-session-secret-of-at-least-32-characters',
  LOCAL_APP_ID: 'app',
  LOCAL_APP_KEY: 'app-key',
  LOCAL_APP_SECRET: 'an-app-secret-of-at-least-32-characters',
};
const REFUSALS: { name: string; vars: Record<string, string>; problem: RegExp }[] = [
  { name: 'a malformed variable', vars: { PORT: 'abc' }, problem: /^PORT is "abc", but it must be a number\.$/ },
  { name: 'no end-user authentication in production', vars: { ...PRODUCTION_LOCAL, AUTH_JWT_SECRET: '' }, problem: /^No end-user authentication: NODE_ENV=production turns the dev login off, so set AUTH_JWKS_URL or AUTH_JWT_SECRET/ },
  { name: 'no end-user authentication with the dev login off', vars: { SWITCHBOARD_DEV_AUTH: 'off' }, problem: /^No end-user authentication: SWITCHBOARD_DEV_AUTH=off/ },
  { name: 'SWITCHBOARD_API_KEYS without tenant:', vars: { SWITCHBOARD_API_KEYS: 'acme:a-long-enough-key-0001,just-a-key-0123456789' }, problem: /^SWITCHBOARD_API_KEYS is \(hidden, it is a secret\), but it must be comma-separated tenant:key pairs.*\(entry 2 is not\)\.$/ },
  { name: 'a short tenant key', vars: { SWITCHBOARD_API_KEYS: 'acme:short' }, problem: /^SWITCHBOARD_API_KEYS is \(hidden, it is a secret\), but it must have keys of at least 16 characters \(entry 1 is shorter\)\.$/ },
  { name: 'a short admin key', vars: { SWITCHBOARD_ADMIN_KEYS: 'short' }, problem: /^SWITCHBOARD_ADMIN_KEYS is \(hidden, it is a secret\), but it must have keys of at least 16 characters/ },
  { name: 'signing keys that are not JSON', vars: { SWITCHBOARD_SIGNING_KEYS: '{oops' }, problem: /^SWITCHBOARD_SIGNING_KEYS is \(hidden, it is a secret\), but it must be a JSON array of private JWKs.*it is not valid JSON\.$/ },
  { name: 'a signing key without its key material', vars: { SWITCHBOARD_SIGNING_KEYS: '[{"kid":"a","alg":"EdDSA","kty":"OKP","d":"zz"}]' }, problem: /^SWITCHBOARD_SIGNING_KEYS .* must hold usable private keys; key 1 \(kid "a"\) is not/ },
  { name: 'a signing key of the wrong type', vars: { SWITCHBOARD_SIGNING_KEYS: '[{"kid":"a","alg":"EdDSA","kty":"oct","k":"x"}]' }, problem: /key 1 \(kid "a"\) is not: key a: alg EdDSA needs kty OKP/ },
  { name: 'a malformed Pusher key and secret', vars: { SWITCHBOARD_PROVIDER: 'pusher', PUSHER_APP_ID: '1', PUSHER_KEY: 'a key', PUSHER_SECRET: 'a secret', PUSHER_CLUSTER: 'eu' }, problem: /^PUSHER_KEY is \(hidden, it is a secret\), but it must be the Pusher app key/ },
  { name: 'SUPABASE_URL=not-a-url', vars: { SWITCHBOARD_PROVIDER: 'supabase', SUPABASE_URL: 'not-a-url', SUPABASE_ANON_KEY: 'a', SUPABASE_SERVICE_ROLE_KEY: 'b' }, problem: /^SUPABASE_URL is "not-a-url", but it must be the project URL/ },
  { name: 'an explicit config file that does not exist', vars: { SWITCHBOARD_CONFIG: '/nonexistent/switchboard.json' }, problem: /^SWITCHBOARD_CONFIG is "\/nonexistent\/switchboard\.json", but there is no such file\.$/ },
  { name: 'the dev credentials of the local provider in production', vars: { ...PRODUCTION_LOCAL, LOCAL_APP_KEY: 'switchboard-key' }, problem: /^LOCAL_APP_KEY must be set to a non-default value when NODE_ENV=production$/ },
  { name: 'nodes sharing Redis without signing keys in production', vars: { ...PRODUCTION_LOCAL, SWITCHBOARD_STORE: 'redis' }, problem: /^SWITCHBOARD_SIGNING_KEYS is not set, but nodes sharing Redis/ },
  { name: 'a webhook URL without its secret', vars: { SWITCHBOARD_WEBHOOK_URL: 'https://app.example/hooks' }, problem: /^SWITCHBOARD_WEBHOOK_SECRET \(whsec_…\) is required with SWITCHBOARD_WEBHOOK_URL$/ },
  { name: 'a malformed webhook secret, named without internal paths', vars: { SWITCHBOARD_WEBHOOK_SECRET: 'whsec_AAAA' }, problem: /^SWITCHBOARD_WEBHOOK_SECRET is \(hidden, it is a secret\), but its entry 1 must encode 24 to 64 bytes\.$/ },
];

function setDistinctVariables(refusals: { vars: Record<string, string> }[]): boolean {
  const names = refusals.flatMap((refusal) => Object.keys(refusal.vars));
  return new Set(names).size === names.length;
}

describe('check reports every refusal of serve', () => {
  for (const refusal of REFUSALS) {
    it(refusal.name, async () => {
      const source = env(refusal.vars);
      const { problems } = await checkConfiguration(source);
      expect(problems).toContainEqual(expect.stringMatching(refusal.problem));
      const failure = await createServerFromEnv(source).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConfigurationError);
      expect((failure as ConfigurationError).problems).toEqual(problems);
      for (const problem of problems) expect(problem).not.toMatch(/^Error:|[A-Z_]+\.\d/);
    });
  }

  it('reports the problems of one configuration all at once (production with everything wrong)', async () => {
    const { problems } = await checkConfiguration({
      NODE_ENV: 'production',
      SWITCHBOARD_STORE: 'redis',
      SWITCHBOARD_CONFIG: '/nonexistent/switchboard.json',
      SWITCHBOARD_API_KEYS: 'acme:short',
      SWITCHBOARD_ADMIN_KEYS: 'short',
      SWITCHBOARD_WEBHOOK_URL: 'https://app.example/hooks',
    });
    expect(problems).toEqual([
      expect.stringMatching(/^SWITCHBOARD_API_KEYS .* at least 16 characters/),
      expect.stringMatching(/^SWITCHBOARD_ADMIN_KEYS .* at least 16 characters/),
      'LOCAL_APP_ID must be set to a non-default value when NODE_ENV=production',
      'LOCAL_APP_KEY must be set to a non-default value when NODE_ENV=production',
      'LOCAL_APP_SECRET must be set to a non-default value when NODE_ENV=production',
      expect.stringMatching(/^No end-user authentication/),
      expect.stringMatching(/^SWITCHBOARD_SIGNING_KEYS is not set, but nodes sharing Redis/),
      expect.stringMatching(/^SWITCHBOARD_WEBHOOK_SECRET \(whsec_…\) is required/),
      expect.stringMatching(/^SWITCHBOARD_CONFIG is .* no such file/),
    ]);
  });

  it('any mix of independent refusals is reported in full, the same by check and serve', async () => {
    // Refusals that do not set the same variables (a webhook URL without a secret is no refusal beside a malformed secret).
    const independent = REFUSALS.filter(
      ({ name, vars }) => !('SWITCHBOARD_PROVIDER' in vars) && !('NODE_ENV' in vars) && !('SWITCHBOARD_DEV_AUTH' in vars) && name !== 'a webhook URL without its secret',
    );
    await fc.assert(
      fc.asyncProperty(fc.subarray(independent, { minLength: 1 }).filter(setDistinctVariables), async (chosen) => {
        const source = env(Object.assign({}, ...chosen.map((refusal) => refusal.vars)) as Record<string, string>);
        const { problems } = await checkConfiguration(source);
        for (const refusal of chosen) expect(problems).toContainEqual(expect.stringMatching(refusal.problem));
        const failure = await createServerFromEnv(source).catch((error: unknown) => error);
        expect((failure as ConfigurationError).problems).toEqual(problems);
      }),
      { numRuns: 30 },
    );
  });
});
