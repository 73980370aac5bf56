import { Router } from 'express';
import type { Metrics } from '../metrics.js';

/** Prometheus scrape endpoint. Per-tenant labels name tenants: expose it on an internal network only. */
export function metricsRoutes(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}
