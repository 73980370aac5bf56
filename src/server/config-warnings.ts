import type { Env } from './env.js';

/** Start-up warnings: settings that work, but should not stay this way when exposed. */
export function configurationWarnings(env: Env): string[] {
  if (env.SWITCHBOARD_METRICS_TOKEN) return [];
  return env.NODE_ENV === 'production'
    ? ['GET /metrics is closed: set SWITCHBOARD_METRICS_TOKEN for your Prometheus scraper to send as a Bearer token']
    : ['GET /metrics is open to anyone who reaches this port, and its labels name tenants (set SWITCHBOARD_METRICS_TOKEN; NODE_ENV=production closes it without one)'];
}
