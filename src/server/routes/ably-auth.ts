import { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';

/**
 * `POST /v1/auth/ably`: the Ably SDK's authCallback in the client wrapper calls this with
 * the capability token and gets a TokenRequest signed for that token's tenant, user and
 * caps (translated by the provider). The Ably key never leaves the BFF.
 */
export function ablyAuthRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.post('/v1/auth/ably', async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { ablyTokenRequest } = ctx.provider;
    if (!ablyTokenRequest) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" does not use Ably token requests`);
    const tokenRequest = await ablyTokenRequest.call(ctx.provider, grant);
    res.setHeader('Cache-Control', 'no-store');
    res.json(tokenRequest);
  });
  return router;
}
