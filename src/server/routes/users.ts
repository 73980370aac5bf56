import { Router, type Request } from 'express';
import { z } from 'zod';
import { USER_ID_PATTERN } from '../../core/capabilities.js';
import { payloadBytes } from '../../core/envelope.js';
import { SwitchboardError } from '../../core/errors.js';
import { eventNameSchema, jsonValueSchema } from '../../core/schemas.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { jsonBody } from '../http/body.js';
import { bearerToken } from '../http/bearer.js';
import { keyTenant } from './publish.js';

const userSchema = z.string().regex(USER_ID_PATTERN, 'user must match [A-Za-z0-9_-=@,;]{1,128}');
export const userEventSchema = z.object({ event: eventNameSchema, data: jsonValueSchema }).strict();

/**
 * Server API on users of the API key's tenant (Pusher user authentication, tenant-scoped):
 * - `POST /v1/users/:user/events`: one event to every signed-in connection of the user
 *   (ephemeral: not in the event log, no `seq`);
 * - `POST /v1/users/:user/terminate`: revokes every capability token of the user minted
 *   so far and closes the user's connections (logout, role change, ban). The app decides
 *   whether the user may sign in again: the next `/v1/token` works as usual.
 */
export function userRoutes(ctx: SwitchboardContext): Router {
  const router = Router();

  const target = (req: Request) => {
    const owner = ctx.apiKeys.lookup(bearerToken(req));
    if (!owner) throw new SwitchboardError('unauthenticated', 'Unknown API key');
    return { tenant: keyTenant(owner, req), user: parseInput(userSchema, req.params.user, 'user') };
  };

  router.post('/v1/users/:user/events', jsonBody, async (req, res) => {
    const { tenant, user } = target(req);
    const { event, data } = parseInput(userEventSchema, req.body, 'user event');
    const bytes = payloadBytes(data);
    if (bytes > ctx.provider.limits.maxPayloadBytes) {
      throw new SwitchboardError('payload_too_large', `Event data is ${bytes} bytes, over the provider limit of ${ctx.provider.limits.maxPayloadBytes}`);
    }
    if (!ctx.provider.sendToUser) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" cannot send events to users`);
    await ctx.provider.sendToUser(tenant, user, event, data);
    res.json({ user, event, status: 'delivered' });
  });

  router.post('/v1/users/:user/terminate', async (req, res) => {
    const { tenant, user } = target(req);
    // Tokens first: a terminated client that reconnects must already be refused.
    await ctx.tokens.revokeUser(tenant, user);
    await ctx.provider.terminateUser?.(tenant, user);
    res.json({ user, terminated: true });
  });

  return router;
}
