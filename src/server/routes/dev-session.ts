import { Router } from 'express';
import { z } from 'zod';
import { tenantIdSchema } from '../../core/schemas.js';
import { USER_ID_PATTERN } from '../../core/capabilities.js';
import { parseInput } from '../../core/validation.js';
import type { DevSessions } from '../auth/session.js';
import { jsonBody } from '../http/body.js';

export const devSessionSchema = z
  .object({
    tenant: tenantIdSchema,
    user: z.string().regex(USER_ID_PATTERN, 'user must match [A-Za-z0-9_-=@,;]{1,128}'),
    name: z.string().min(1).max(100).optional(),
    roles: z.array(z.string().min(1).max(64)).max(20).optional(),
  })
  .strict();

/** Dev-only login so a fresh clone works without an identity provider. Never mounted in production. */
export function devSessionRoutes(sessions: DevSessions): Router {
  const router = Router();
  router.post('/v1/dev/session', jsonBody, async (req, res) => {
    const body = parseInput(devSessionSchema, req.body, 'dev session request');
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token: await sessions.issue(body) });
  });
  return router;
}
