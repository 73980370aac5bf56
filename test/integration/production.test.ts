/**
 * README "Production", executed: two nodes started from deploy/production.env (placeholders
 * filled in) share one Redis and accept each other's tokens; the same settings without
 * signing keys are refused; dev nodes on Redis agree on keys by themselves. Needs Redis at
 * REDIS_URL (skipped with a notice when unreachable, failing under CI=true). The run uses its
 * own Redis database and tenant, so it never meets other runs' keys.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { keys } from '../../src/cli/keys.js';
import { checkConfiguration, createServerFromEnv } from '../../src/server/from-env.js';
import { listen, type ListeningServer } from '../../src/server/listen.js';
import { REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const DOCUMENTED = readFileSync(new URL('../../deploy/production.env', import.meta.url), 'utf8');

const tenant = `prod${process.pid}`;
const tenantKey = `tenant-key-${process.pid}-0123456789`;
const sessionSecret = 'a-session-secret-of-at-least-32-characters';

/** The database this file uses: away from db 0, where the other suites keep their prefixed keys. */
function redisDb(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/7';
  return parsed.toString();
}

async function generatedKeySet(): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await keys.run(['generate']);
    return String(log.mock.calls[0]?.[0]);
  } finally {
    log.mockRestore();
  }
}

/** deploy/production.env with every `<placeholder>` filled in (and the test's Redis). */
async function productionEnv(): Promise<Record<string, string>> {
  const fill: Record<string, string> = {
    SWITCHBOARD_SIGNING_KEYS: await generatedKeySet(),
    AUTH_JWT_SECRET: sessionSecret,
    SWITCHBOARD_API_KEYS: `${tenant}:${tenantKey}`,
    SWITCHBOARD_ADMIN_KEYS: 'admin-key-0123456789abcdef',
    SWITCHBOARD_METRICS_TOKEN: 'metrics-token-0123456789',
    LOCAL_APP_ID: 'prod-app',
    LOCAL_APP_KEY: 'prod-app-key',
    LOCAL_APP_SECRET: 'prod-app-secret-0123456789abcdef0123456789',
  };
  const env: Record<string, string> = {};
  for (const [name, value = ''] of Object.entries(parseEnv(DOCUMENTED))) {
    if (value.includes('<')) {
      const filled = fill[name];
      if (filled === undefined) throw new Error(`the test has no value for ${name}`);
      env[name] = filled;
    } else {
      env[name] = value;
    }
  }
  return { ...env, REDIS_URL: redisDb(REDIS_URL), LOG_LEVEL: 'silent', PORT: '0' };
}

const running: ListeningServer[] = [];

async function startNode(env: Record<string, string>): Promise<ListeningServer> {
  const { app } = await createServerFromEnv(env);
  const node = await listen(app, { host: '127.0.0.1' });
  running.push(node);
  return node;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.close()));
});

async function capabilityToken(node: ListeningServer, session: string): Promise<string> {
  const response = await fetch(`${node.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' }, body: '{}' });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

const history = (node: ListeningServer, token: string) => fetch(`${node.url}/v1/history?channel=orders:1`, { headers: { authorization: `Bearer ${token}` } });

let decision: Awaited<ReturnType<typeof redisCheck>>;
beforeAll(async () => {
  decision = await redisCheck();
});

describe('README "Production"', () => {
  it('shows deploy/production.env as it is', () => {
    expect(README).toContain(DOCUMENTED.trim());
  });

  it('two nodes from the documented settings share Redis and accept each other\'s tokens; /metrics wants its token', async (ctx) => {
    requireService(decision, 'Redis');
    if (decision === 'skip') return ctx.skip();
    const env = await productionEnv();
    expect((await checkConfiguration(env)).problems).toEqual([]);
    const [a, b] = [await startNode(env), await startNode(env)];
    const session = await new SignJWT({ tid: tenant, roles: ['member'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(env.AUTH_ISSUER ?? '')
      .setSubject('ana')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(sessionSecret));

    const publish = await fetch(`${b.url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'orders:1', event: 'status', data: { status: 'shipped' } }),
    });
    expect(publish.status).toBeLessThan(300);
    // Minted on A, read on B, and the other way round.
    for (const [minter, reader] of [[a, b], [b, a]] as const) {
      const read = await history(reader, await capabilityToken(minter, session));
      expect(read.status).toBe(200);
      expect(JSON.stringify(await read.json())).toContain('shipped');
    }
    for (const node of [a, b]) expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${a.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${env.SWITCHBOARD_METRICS_TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${a.url}/v1/dev/session`, { method: 'POST' })).status).toBe(404);
  });

  it('refuses the same settings without SWITCHBOARD_SIGNING_KEYS, in check and in serve, naming the fix', async () => {
    const { SWITCHBOARD_SIGNING_KEYS: _dropped, ...env } = await productionEnv();
    const { problems } = await checkConfiguration(env);
    expect(problems).toEqual([expect.stringMatching(/^SWITCHBOARD_SIGNING_KEYS is not set, but nodes sharing Redis must all sign tokens with the same keys.*switchboard keys generate/)]);
    await expect(createServerFromEnv(env)).rejects.toMatchObject({ problems });
  });

  it('dev nodes on one Redis without configured keys agree on keys through it', async (ctx) => {
    requireService(decision, 'Redis');
    if (decision === 'skip') return ctx.skip();
    const env = { SWITCHBOARD_STORE: 'redis', REDIS_URL: redisDb(REDIS_URL), LOG_LEVEL: 'silent', PORT: '0', SWITCHBOARD_DATA_DIR: '/nonexistent-never-written' };
    const [a, b] = [await startNode(env), await startNode(env)];
    const session = await fetch(`${a.url}/v1/dev/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant, user: 'ana' }) });
    const token = await capabilityToken(a, ((await session.json()) as { token: string }).token);
    expect((await history(b, token)).status).toBe(200);
  });
});
