import { Router } from 'express';
import type { ComponentHealth } from '../../core/health.js';

export interface Readiness {
  ready: boolean;
  /** What is not ready: `store`, `provider`, `fan-out`, `shutdown`, with the reason (for the admin view, not /readyz). */
  problems: { component: 'store' | 'provider' | 'fan-out' | 'shutdown'; detail: string; since?: number }[];
}

/** Ready = accepting requests, the event store reachable, the provider taking events and (local, several nodes) reaching the other nodes. */
export function readiness(parts: { accepting: boolean; store: ComponentHealth | undefined; provider: ComponentHealth; fanOut: ComponentHealth | undefined }): Readiness {
  const problems: Readiness['problems'] = [];
  if (!parts.accepting) problems.push({ component: 'shutdown', detail: 'shutting down' });
  for (const [component, health] of [['store', parts.store], ['provider', parts.provider], ['fan-out', parts.fanOut]] as const) {
    if (health && !health.ready) problems.push({ component, detail: health.detail ?? 'unavailable', ...(health.since ? { since: health.since } : {}) });
  }
  return { ready: problems.length === 0, problems };
}

/**
 * `/healthz`: the process is alive. `/readyz`: it can do its work; 503 names the failing
 * components only (reasons, which name hosts, are on the admin page).
 */
export function healthRoutes(check: () => Readiness): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const { ready, problems } = check();
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...(ready ? {} : { failing: problems.map((problem) => problem.component) }) });
  });
  return router;
}
