import { Router } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { ClientGrant, ServerProvider } from '../../../providers/types.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';

/**
 * A route where the client wrapper trades its capability token for the provider's own
 * credential, scoped to that token's tenant, user and caps. The token is verified first,
 * so a revoked (terminated) or expired one gets nothing; the provider's key never leaves
 * the BFF, and the answer is never cached.
 */
function providerCredentialRoute(
  ctx: SwitchboardContext,
  path: string,
  what: string,
  issue: (provider: ServerProvider) => ((grant: ClientGrant) => Promise<object>) | undefined,
): Router {
  const router = Router();
  router.post(path, async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const credential = issue(ctx.provider);
    if (!credential) throw new SwitchboardError('not_found', `Provider "${ctx.provider.name}" does not use ${what}`);
    const body = await credential(grant);
    res.setHeader('Cache-Control', 'no-store');
    res.json(body);
  });
  return router;
}

/**
 * `POST /v1/auth/ably`: the Ably SDK's authCallback gets a TokenRequest signed for the grant.
 * `POST /v1/auth/supabase`: the Supabase transport renews its short-lived Realtime JWT
 * before it expires, so a terminated user's channels close when the JWT in hand expires
 * (SUPABASE_REALTIME_JWT_TTL_S).
 */
export function providerCredentialRoutes(ctx: SwitchboardContext): Router[] {
  return [
    providerCredentialRoute(ctx, '/v1/auth/ably', 'Ably token requests', (provider) => provider.ablyTokenRequest?.bind(provider)),
    providerCredentialRoute(ctx, '/v1/auth/supabase', 'Supabase access tokens', (provider) => {
      const issue = provider.supabaseAccessToken?.bind(provider);
      return issue && (async (grant) => ({ accessToken: await issue(grant) }));
    }),
  ];
}
