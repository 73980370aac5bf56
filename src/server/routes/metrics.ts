import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import { bearerToken } from '../http/bearer.js';
import type { Metrics } from '../metrics.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Prometheus scrape endpoint. Per-tenant labels name tenants: with a `token` the scraper must
 * send it as a Bearer token; without one it is `open` (dev) or closed (production).
 */
export function metricsRoutes(metrics: Metrics, access: { token?: string; open: boolean }): Router {
  const router = Router();
  const expected = access.token === undefined ? undefined : digest(access.token);
  router.get('/metrics', async (req, res) => {
    if (!expected && !access.open) throw new SwitchboardError('forbidden', 'GET /metrics is closed: set SWITCHBOARD_METRICS_TOKEN and send it as a Bearer token');
    if (expected && !timingSafeEqual(digest(bearerToken(req)), expected)) throw new SwitchboardError('unauthenticated', 'Wrong metrics token');
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}
