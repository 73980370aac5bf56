/** What `switchboard serve` prints on a terminal: where things are, and what not to leave on. */
import { describe, expect, it } from 'vitest';
import { startupSummary } from '../../src/cli/serve.js';
import { parseEnv } from '../../src/server/env.js';

const KEY = 'dev-admin-key-change-me';

describe('start-up summary', () => {
  it('in development: the demo, admin page, API, provider and store, with warnings for dev login and the dev admin key', () => {
    const { lines, warnings } = startupSummary(parseEnv({}), 8080, KEY);
    expect(lines).toEqual([
      'demo      http://localhost:8080/',
      'admin     http://localhost:8080/admin',
      'API       http://localhost:8080/v1/  (OpenAPI: http://localhost:8080/v1/openapi.json)',
      'provider  local (embedded Pusher-protocol server on this port)',
      'store     sqlite (./data)',
    ]);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^dev login is on/);
    expect(warnings[1]).toContain(KEY);
    expect(warnings[2]).toMatch(/^GET \/metrics is open to anyone who reaches this port/);
  });

  it('without dev login: no demo line, only the closed /metrics; configured keys silence their warnings', () => {
    const production = startupSummary(parseEnv({ NODE_ENV: 'production', SWITCHBOARD_STORE: 'redis', REDIS_URL: 'redis://:pw@cache:6379', HOST: '10.0.0.5' }), 9000, KEY);
    expect(production.lines[0]).toBe('admin     http://10.0.0.5:9000/admin');
    expect(production.lines.at(-1)).toBe('store     redis (cache:6379)');
    expect(production.warnings).toEqual([expect.stringMatching(/^GET \/metrics is closed: set SWITCHBOARD_METRICS_TOKEN/)]);
    const withToken = startupSummary(parseEnv({ NODE_ENV: 'production', SWITCHBOARD_METRICS_TOKEN: 'a-metrics-token-0123456789' }), 8080, KEY);
    expect(withToken.warnings).toEqual([]);
    const withKeys = startupSummary(parseEnv({ SWITCHBOARD_ADMIN_KEYS: 'an-admin-key-0123456789', SWITCHBOARD_METRICS_TOKEN: 'a-metrics-token-0123456789' }), 8080, KEY);
    expect(withKeys.warnings).toEqual([expect.stringMatching(/^dev login is on/)]);
  });
});
