import { Router, type Request } from 'express';
import { z } from 'zod';
import { tenantIdSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import type { ApiKeyOwner } from '../auth/api-keys.js';
import type { SwitchboardContext } from '../context.js';
import { jsonBody } from '../http/body.js';
import { bearerToken } from '../http/bearer.js';
import { publishMessageSchema, type PublishOutcome } from '../publish/pipeline.js';

export const MAX_BATCH_MESSAGES = 100;

/** One message, or a batch. Strict: a `tenant` in the body is rejected, the key decides it. */
export const publishBodySchema = z.union([
  publishMessageSchema,
  z.object({ messages: z.array(publishMessageSchema).min(1).max(MAX_BATCH_MESSAGES) }).strict(),
]);

export const TENANT_HEADER = 'switchboard-tenant';

/** The tenant a key acts for: bound to a tenant key, or named by an admin key's header. */
export function keyTenant(owner: ApiKeyOwner, req: Request): string {
  if (owner.kind === 'tenant') return owner.tenant;
  const named = tenantIdSchema.safeParse(req.get(TENANT_HEADER));
  if (!named.success) throw new SwitchboardError('invalid_request', `Admin keys must name the tenant in the ${TENANT_HEADER} header`);
  return named.data;
}

function httpStatus(outcomes: PublishOutcome[]): number {
  return outcomes.some((outcome) => outcome.status === 'accepted' || outcome.status === 'refused') ? 202 : 200;
}

export function publishRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.post('/v1/publish', jsonBody, async (req, res) => {
    const owner = ctx.apiKeys.lookup(bearerToken(req));
    if (!owner) throw new SwitchboardError('unauthenticated', 'Unknown API key');
    const tenant = keyTenant(owner, req);
    const body = parseInput(publishBodySchema, req.body, 'publish request');
    if ('messages' in body) {
      const outcomes = await ctx.pipeline.publish(tenant, body.messages);
      res.status(httpStatus(outcomes)).json({ results: outcomes });
      return;
    }
    const outcomes = await ctx.pipeline.publish(tenant, [body]);
    res.status(httpStatus(outcomes)).json(outcomes[0]);
  });
  return router;
}
