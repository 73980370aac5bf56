import { Router, type Request } from 'express';
import { assertAllowed } from '../../core/capabilities.js';
import { SwitchboardError } from '../../core/errors.js';
import { resolveChannel } from '../../core/namespaces.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';
import { keyTenant } from './publish.js';

/**
 * The tenant a read-only channel request acts for: a capability token with `subscribe`
 * on the channel, or a server API key.
 */
async function readerTenant(ctx: SwitchboardContext, req: Request, channel: string): Promise<string> {
  const credential = bearerToken(req);
  const owner = ctx.apiKeys.lookup(credential);
  if (owner) return keyTenant(owner, req);
  const grant = await ctx.tokens.verify(credential);
  assertAllowed(grant.caps, 'subscribe', channel);
  return grant.tenant;
}

/** `GET /v1/channels/:channel/presence` and `/occupancy`, from the provider's own state or API. */
export function channelInfoRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.get('/v1/channels/:channel/presence', async (req, res) => {
    const { name, rules } = resolveChannel(ctx.config.namespaces, req.params.channel);
    const tenant = await readerTenant(ctx, req, name);
    if (!rules.presence) throw new SwitchboardError('invalid_request', `Namespace of "${name}" has no presence`);
    if (!ctx.provider.presence) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" offers no presence query`);
    res.json({ channel: name, members: await ctx.provider.presence(tenant, name) });
  });
  router.get('/v1/channels/:channel/occupancy', async (req, res) => {
    const { name } = resolveChannel(ctx.config.namespaces, req.params.channel);
    const tenant = await readerTenant(ctx, req, name);
    if (!ctx.provider.occupancy) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" offers no occupancy query`);
    res.json({ channel: name, ...(await ctx.provider.occupancy(tenant, name)) });
  });
  return router;
}
