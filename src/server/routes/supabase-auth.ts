import { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';

/**
 * `POST /v1/auth/supabase`: the Supabase transport renews its short-lived Realtime JWT here
 * with the capability token before the JWT expires. A revoked (terminated) or expired
 * capability token is refused, so a terminated user's channels close when the JWT in hand
 * expires (SUPABASE_REALTIME_JWT_TTL_S).
 */
export function supabaseAuthRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.post('/v1/auth/supabase', async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const { supabaseAccessToken } = ctx.provider;
    if (!supabaseAccessToken) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" does not use Supabase access tokens`);
    const accessToken = await supabaseAccessToken.call(ctx.provider, grant);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ accessToken });
  });
  return router;
}
