import { createHash } from 'node:crypto';
import express, { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { SwitchboardContext } from '../context.js';
import { fromProviderEvent, type LifecycleEventData } from '../lifecycle/events.js';
import { webhookReplaysFor } from './webhook-replays.js';

/**
 * `POST /v1/webhooks/:provider`: the provider verifies the signature over the raw body
 * and normalizes the events (tenant-relative channels, tenant from the channel name);
 * they join the lifecycle stream (outbox to the app's endpoint, in-process callback).
 * A non-2xx answer makes the provider retry; a retried request yields the same event
 * ids (seeded by the body), so the app can dedupe. For providers that sign a time
 * (`webhookMaxAgeMs`: Pusher), a stale request is refused and a body already taken within
 * that window (either side of now) is answered `{duplicate: true}` and dropped (a replay, or a retry of a request
 * whose answer was lost).
 */
export function webhookRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  const replays = webhookReplaysFor(ctx.store);
  router.post('/v1/webhooks/:provider', express.raw({ type: () => true, limit: ctx.provider.limits.maxWebhookBodyBytes ?? '1mb' }), async (req, res) => {
    const { parseWebhook } = ctx.provider;
    if (req.params.provider !== ctx.provider.name || !parseWebhook) {
      throw new SwitchboardError('not_found', `No webhooks for provider "${req.params.provider}"`);
    }
    const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : value]));
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const events = parseWebhook.call(ctx.provider, { headers, rawBody });
    const inputs = events.map(fromProviderEvent).filter((input): input is LifecycleEventData => input !== undefined);
    const seed = `${ctx.provider.name}:${createHash('sha256').update(rawBody).digest('hex')}`;
    const window = ctx.provider.webhookMaxAgeMs;
    if (window !== undefined && !(await replays.claim(seed, 2 * window))) {
      res.json({ received: 0, duplicate: true });
      return;
    }
    try {
      await ctx.lifecycle.stream.publish(inputs, seed);
    } catch (error) {
      if (window !== undefined) await replays.release(seed);
      throw error;
    }
    res.json({ received: events.length });
  });
  return router;
}
