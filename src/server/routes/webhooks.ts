import express, { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { WebhookEvent } from '../../../providers/types.js';
import type { SwitchboardContext } from '../context.js';

export type WebhookHandler = (events: WebhookEvent[]) => void | Promise<void>;

/**
 * `POST /v1/webhooks/:provider`: the provider verifies the signature over the raw body
 * and normalizes the events (tenant-relative channels, tenant from the channel name);
 * the app's handler gets them. A non-2xx answer makes the provider retry.
 */
export function webhookRoutes(ctx: SwitchboardContext, handler: WebhookHandler | undefined): Router {
  const router = Router();
  router.post('/v1/webhooks/:provider', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    const { parseWebhook } = ctx.provider;
    if (req.params.provider !== ctx.provider.name || !parseWebhook) {
      throw new SwitchboardError('not_found', `No webhooks for provider "${req.params.provider}"`);
    }
    const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : value]));
    const events = parseWebhook.call(ctx.provider, { headers, rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0) });
    await handler?.(events);
    res.json({ received: events.length });
  });
  return router;
}
