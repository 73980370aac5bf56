import { Router } from 'express';
import { z } from 'zod';
import { assertAllowed, isAllowed } from '../../core/capabilities.js';
import { SwitchboardError } from '../../core/errors.js';
import { payloadBytes } from '../../core/envelope.js';
import { presenceLimits, resolveChannel } from '../../core/namespaces.js';
import { fromPusherChannel } from '../../core/provider-names.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { formBody, jsonBody } from '../http/body.js';
import { bearerToken } from '../http/bearer.js';

export const pusherAuthSchema = z.object({
  socket_id: z.string().regex(/^\d+\.\d+$/, 'socket_id must look like 123.456'),
  channel_name: z.string().min(1).max(200),
});

export const pusherUserAuthSchema = pusherAuthSchema.pick({ socket_id: true });

/**
 * Pusher-style channel authorization: signs a subscription only for a channel of the
 * token's own tenant that the token's caps allow. Presence channels need `presence`
 * as well as `subscribe`, since subscribing to one announces the member.
 */
export function pusherAuthRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.post('/v1/auth/pusher', formBody, jsonBody, async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { socket_id: socketId, channel_name: providerChannel } = parseInput(pusherAuthSchema, req.body ?? {}, 'channel authorization');
    const { authorizeChannel } = ctx.provider;
    if (!authorizeChannel) {
      throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" does not use Pusher channel authorization`);
    }
    const target = fromPusherChannel(providerChannel);
    if (!target || target.tenant !== grant.tenant) {
      throw new SwitchboardError('forbidden', 'Channel is not a channel of your tenant');
    }
    const { rules } = resolveChannel(ctx.config.namespaces, target.channel);
    if (rules.presence !== target.presence) {
      throw new SwitchboardError('forbidden', `Channel "${target.channel}" must use the ${rules.presence ? 'presence-' : 'private-'} prefix`);
    }
    assertAllowed(grant.caps, 'subscribe', target.channel);
    if (target.presence) assertAllowed(grant.caps, 'presence', target.channel);
    const limits = target.presence ? presenceLimits(rules) : undefined;
    const infoBytes = payloadBytes(grant.info);
    if (limits && infoBytes > limits.maxInfoBytes) {
      throw new SwitchboardError('payload_too_large', `Presence member info is ${infoBytes} bytes, over the namespace limit of ${limits.maxInfoBytes}`);
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(
      authorizeChannel.call(ctx.provider, {
        grant,
        socketId,
        channel: target.channel,
        providerChannel,
        presence: target.presence,
        clientEvents: isAllowed(grant.caps, 'publish', target.channel) ? rules.clientEvents : [],
        ...(limits ? { presenceLimits: limits } : {}),
        ...(rules.cache ? { cache: true } : {}),
      }),
    );
  });

  /** pusher-js `userAuthentication.endpoint`: signs `pusher:signin` for the token's tenant-scoped user. */
  router.post('/v1/auth/pusher/user', formBody, jsonBody, async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { socket_id: socketId } = parseInput(pusherUserAuthSchema, req.body ?? {}, 'user authentication');
    const { authenticateUser } = ctx.provider;
    if (!authenticateUser) {
      throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" does not use Pusher user authentication`);
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(authenticateUser.call(ctx.provider, { grant, socketId }));
  });
  return router;
}

