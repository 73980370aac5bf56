import { Router } from 'express';
import { z } from 'zod';
import { SwitchboardError } from '../../core/errors.js';
import { tenantIdSchema } from '../../core/schemas.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { jsonBody } from '../http/body.js';
import { deadLetterView, type WebhookOutbox } from '../lifecycle/outbox.js';
import { visibleTenants } from './admin.js';

const MAX_LISTED = 500;
const MAX_REDELIVER_IDS = 1000;

export const deadLettersQuerySchema = z.object({
  tenant: tenantIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LISTED).default(100),
});

export const redeliverBodySchema = z
  .object({
    /** Omitted: every dead letter the caller may see (of `tenant` when given). */
    ids: z.array(z.string().min(1).max(100)).min(1).max(MAX_REDELIVER_IDS).optional(),
    tenant: tenantIdSchema.optional(),
  })
  .strict();

/** The tenant a caller acts on: its own, or (admin keys) the one it names, or all. */
function scopedTenant(scope: 'all' | string, requested: string | undefined): string | undefined {
  if (scope === 'all') return requested;
  if (requested !== undefined && requested !== scope) throw new SwitchboardError('forbidden', 'Not your tenant');
  return scope;
}

function outboxOf(ctx: SwitchboardContext): WebhookOutbox {
  const { outbox } = ctx.lifecycle;
  if (!outbox) throw new SwitchboardError('not_found', 'No webhook endpoint is configured (SWITCHBOARD_WEBHOOK_URL)');
  return outbox;
}

/**
 * Webhook dead letters (events the app's endpoint did not take within the retry window):
 * `GET /v1/admin/webhooks/dead-letters` lists them, `POST /v1/admin/webhooks/redeliver`
 * queues them again with the same ids. Admin keys see every tenant; tenant keys and
 * admin-role tokens only their own.
 */
export function lifecycleRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.get('/v1/admin/webhooks/dead-letters', async (req, res) => {
    const scope = await visibleTenants(ctx, req);
    const query = parseInput(deadLettersQuerySchema, req.query, 'query');
    const { total, letters } = await outboxOf(ctx).deadLetters(scopedTenant(scope, query.tenant), query.limit);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ total, deadLetters: letters.map(deadLetterView) });
  });
  router.post('/v1/admin/webhooks/redeliver', jsonBody, async (req, res) => {
    const scope = await visibleTenants(ctx, req);
    const body = parseInput(redeliverBodySchema, req.body ?? {}, 'redeliver request');
    const redelivered = await outboxOf(ctx).redeliver(scopedTenant(scope, body.tenant), body.ids, Date.now());
    ctx.lifecycle.sender?.wake();
    res.json({ redelivered });
  });
  return router;
}
