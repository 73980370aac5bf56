import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import { bearerToken } from '../http/bearer.js';
import type { Metrics } from '../metrics.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Prometheus scrape endpoint. Per-tenant labels name tenants: with `scrapeToken` set the
 * scraper must send it as a Bearer token; without it, expose the port internally only.
 */
export function metricsRoutes(metrics: Metrics, scrapeToken?: string): Router {
  const router = Router();
  const expected = scrapeToken === undefined ? undefined : digest(scrapeToken);
  router.get('/metrics', async (req, res) => {
    if (expected && !timingSafeEqual(digest(bearerToken(req)), expected)) throw new SwitchboardError('unauthenticated', 'Wrong metrics token');
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}
