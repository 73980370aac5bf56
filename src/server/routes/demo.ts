/**
 * Endpoints the demo page uses to publish server-side on behalf of a signed-in user.
 * They go through the same capability check and publish pipeline as everything else,
 * so demo messages are logged, numbered and recoverable. Mounted only with dev auth.
 */
import { Router } from 'express';
import { z } from 'zod';
import { assertAllowed } from '../../core/capabilities.js';
import { ORDER_STAGES, orderStageOf } from '../../core/demo-orders.js';
import { channelNameSchema } from '../../core/schemas.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { jsonBody } from '../http/body.js';
import { bearerToken } from '../http/bearer.js';

const chatSchema = z.object({ channel: channelNameSchema, text: z.string().trim().min(1).max(500) }).strict();
const orderSchema = z.object({ order: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/) }).strict();

/** How many of an order's latest events are searched for its current status. */
const STATUS_LOOKBACK = 50;

/** The stage of the order's latest `status` event that names one (-1: none yet), whoever published it. */
async function currentStage(ctx: SwitchboardContext, tenant: string, channel: string): Promise<number> {
  const lastSeq = await ctx.store.lastSeq(tenant, channel);
  const events = lastSeq === 0 ? [] : await ctx.store.read(tenant, channel, Math.max(0, lastSeq - STATUS_LOOKBACK), STATUS_LOOKBACK);
  for (const event of events.reverse()) {
    const stage = event.event === 'status' ? orderStageOf(event.data) : undefined;
    if (stage !== undefined) return stage;
  }
  return -1;
}

export function demoRoutes(ctx: SwitchboardContext): Router {
  const router = Router();

  router.post('/v1/demo/chat', jsonBody, async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { channel, text } = parseInput(chatSchema, req.body, 'chat message');
    assertAllowed(grant.caps, 'publish', channel);
    const name = typeof grant.info.name === 'string' ? grant.info.name : grant.user;
    const [outcome] = await ctx.pipeline.publish(grant.tenant, [{ channel, event: 'message', data: { text, user: grant.user, name } }]);
    res.json(outcome);
  });

  /** Moves a demo order to its next stage; the demo user only needs `subscribe` on the order. */
  router.post('/v1/demo/orders/advance', jsonBody, async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { order } = parseInput(orderSchema, req.body, 'order');
    const channel = `orders:${order}`;
    assertAllowed(grant.caps, 'subscribe', channel);
    const stage = Math.min((await currentStage(ctx, grant.tenant, channel)) + 1, ORDER_STAGES.length - 1);
    const status = ORDER_STAGES[stage] ?? 'placed';
    const [outcome] = await ctx.pipeline.publish(grant.tenant, [
      { channel, event: 'status', data: { order, status, stage } },
      { channel: `notifications:${grant.user}`, event: 'notice', data: { text: `Order ${order} is ${status}` } },
    ]);
    res.json(outcome);
  });
  return router;
}
