import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { channelNameSchema } from '../../core/schemas.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';
import { authorizeChannels } from './log-access.js';

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

export const historyQuerySchema = z.object({
  channel: channelNameSchema,
  since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_HISTORY_LIMIT).default(DEFAULT_HISTORY_LIMIT),
});

/**
 * `GET /v1/history?channel=…&since=<seq>&limit=…`: kept events with seq > since, oldest
 * first. `lastSeq` is the channel's newest seq, so `events` ending below it means "page on".
 */
export function historyRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  const serve = async (req: Request, res: Response, channel: unknown) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const query = parseInput(historyQuerySchema, { ...req.query, channel }, 'history request');
    authorizeChannels(ctx.config.namespaces, grant, [query.channel], ['history', 'subscribe']);
    const [events, lastSeq] = await Promise.all([
      ctx.store.read(grant.tenant, query.channel, query.since, query.limit),
      ctx.store.lastSeq(grant.tenant, query.channel),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ channel: query.channel, events, lastSeq });
  };
  router.get('/v1/history', (req, res) => serve(req, res, req.query.channel));
  // The per-channel form of the DESIGN's HTTP table.
  router.get('/v1/channels/:channel/history', (req, res) => serve(req, res, req.params.channel));
  return router;
}
