/** GET /metrics (labels name tenants): open in development, closed in production unless its token is set and sent. */
import { describe, expect, it } from 'vitest';
import { createServerFromEnv } from '../../src/server/from-env.js';
import { listen } from '../../src/server/listen.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  SWITCHBOARD_STORE: 'memory',
  LOG_LEVEL: 'silent',
  AUTH_JWT_SECRET: 'a-session-secret-of-at-least-32-characters',
  LOCAL_APP_ID: 'app',
  LOCAL_APP_KEY: 'app-key',
  LOCAL_APP_SECRET: 'an-app-secret-of-at-least-32-characters',
};

async function metricsStatus(env: Record<string, string>, bearer?: string): Promise<number> {
  const { app } = await createServerFromEnv(env);
  const running = await listen(app, { host: '127.0.0.1' });
  try {
    return (await fetch(`${running.url}/metrics`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {})).status;
  } finally {
    await running.close();
  }
}

describe('GET /metrics access', () => {
  it('is closed in production without a token, and wants the token once one is set', async () => {
    expect(await metricsStatus(PRODUCTION)).toBe(403);
    const token = 'a-metrics-token-0123456789';
    expect(await metricsStatus({ ...PRODUCTION, SWITCHBOARD_METRICS_TOKEN: token })).toBe(401);
    expect(await metricsStatus({ ...PRODUCTION, SWITCHBOARD_METRICS_TOKEN: token }, token)).toBe(200);
  });

  it('is open in development (serve warns about it at start-up)', async () => {
    expect(await metricsStatus({ SWITCHBOARD_STORE: 'memory', LOG_LEVEL: 'silent' })).toBe(200);
  });
});
