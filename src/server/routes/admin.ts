import { Router, type Request } from 'express';
import { tenantIdSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';
import { deadLetterView } from '../lifecycle/outbox.js';

/** Dead letters shown per tenant on the stats page; the full list is /v1/admin/webhooks/dead-letters. */
const RECENT_DEAD_LETTERS = 5;

/** Which tenants a caller may watch: an admin key sees all, a tenant key or an admin-role token its own. */
export async function visibleTenants(ctx: SwitchboardContext, req: Request): Promise<'all' | string> {
  const credential = bearerToken(req);
  const owner = ctx.apiKeys.lookup(credential);
  if (owner?.kind === 'admin') return 'all';
  if (owner?.kind === 'tenant') return owner.tenant;
  const grant = await ctx.tokens.verify(credential);
  if (!grant.admin) throw new SwitchboardError('forbidden', 'The admin view needs an admin key or the admin role');
  return grant.tenant;
}

/**
 * `GET /v1/admin/stats`: connections, channels, presence, publish and delivery rates and
 * delivery failures per tenant, and webhook dead letters when a webhook endpoint is configured.
 */
export function adminRoutes(ctx: SwitchboardContext): Router {
  const { rates } = ctx;
  const router = Router();
  router.get('/v1/admin/stats', async (req, res) => {
    const scope = await visibleTenants(ctx, req);
    const requested = tenantIdSchema.optional().safeParse(req.query.tenant ?? undefined);
    if (!requested.success) throw new SwitchboardError('invalid_request', 'tenant must match [A-Za-z0-9_-]{1,64}');
    const live = (await ctx.provider.stats?.()) ?? [];
    const names = new Set([...live.map((row) => row.tenant), ...rates.tenants(), ...ctx.deliveryFailures.tenants()]);
    const wanted = [...names].filter((tenant) => (scope === 'all' || tenant === scope) && (!requested.data || tenant === requested.data)).sort();
    const tenants = await Promise.all(
      wanted.map(async (tenant) => {
        const row = live.find((entry) => entry.tenant === tenant);
        const channels = await Promise.all(
          (row?.channels ?? []).map(async (channel) => {
            const presence = channel.presenceMembers !== undefined && ctx.provider.presence ? await ctx.provider.presence(tenant, channel.channel) : undefined;
            return { ...channel, ...(presence ? { members: presence } : {}) };
          }),
        );
        const dead = await ctx.lifecycle.outbox?.deadLetters(tenant, RECENT_DEAD_LETTERS);
        return {
          tenant,
          connections: row ? row.connections : 0,
          channels,
          publishRate: rates.series(tenant, 120),
          deliveryRate: rates.series(tenant, 120, 'deliveries'),
          deliveryFailures: ctx.deliveryFailures.forTenant(tenant),
          ...(dead ? { webhookDeadLetters: { total: dead.total, recent: dead.letters.map(deadLetterView) } } : {}),
        };
      }),
    );
    // Across the caller's scope too: a tenant with dead letters but no live activity has no row above.
    const dead = await ctx.lifecycle.outbox?.deadLetters(scope === 'all' ? requested.data : scope, RECENT_DEAD_LETTERS);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      provider: ctx.provider.name,
      generatedAt: Date.now(),
      // Store and provider problems (with reasons, unlike /readyz): the first place to look when publishes stall.
      health: ctx.readiness(),
      tenants,
      ...(dead ? { webhookDeadLetters: { total: dead.total, recent: dead.letters.map(deadLetterView) } } : {}),
    });
  });
  return router;
}
