import { Router } from 'express';
import { z } from 'zod';
import { narrowCapabilities, resolveCapabilities } from '../../core/capabilities.js';
import { capabilitiesSchema } from '../../core/schemas.js';
import { hasOwnKey, ownValue } from '../../core/own.js';
import type { AppConfig } from '../../core/config.js';
import { parseInput } from '../../core/validation.js';
import type { Identity } from '../auth/identity.js';
import type { SwitchboardContext } from '../context.js';
import { jsonBody } from '../http/body.js';
import { publicOrigin } from '../http/origin.js';

/** A client may ask for fewer caps than its roles grant, never more. No tenant here: it comes from the session. */
/** Identities with this role may watch their own tenant on the admin page. */
export const ADMIN_ROLE = 'admin';

export const tokenRequestSchema = z.object({ caps: capabilitiesSchema.optional() }).strict();

export function capabilitiesOf(identity: Identity, config: AppConfig) {
  const known = identity.roles.filter((role) => hasOwnKey(config.roles, role));
  const roles = known.length > 0 ? known : config.defaultRoles;
  return resolveCapabilities(
    roles.map((role) => ownValue(config.roles, role) ?? {}),
    identity.user,
  );
}

export function tokenRoutes(ctx: SwitchboardContext): Router {
  const router = Router();
  router.post('/v1/token', jsonBody, async (req, res) => {
    const identity = await ctx.authenticate(req);
    const body = parseInput(tokenRequestSchema, req.body ?? {}, 'token request');
    const granted = capabilitiesOf(identity, ctx.config);
    const caps = body.caps ? narrowCapabilities(granted, body.caps) : granted;
    const grant = { tenant: identity.tenant, user: identity.user, info: identity.info, caps, admin: identity.roles.includes(ADMIN_ROLE) };
    const { token, expiresAt, issuedAt } = await ctx.tokens.mint(grant);
    const provider = await ctx.provider.clientConfig({ ...grant, expiresAt, issuedAt }, { publicUrl: publicOrigin(req, ctx.publicUrl) });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token, expiresAt, tenant: identity.tenant, user: identity.user, caps, provider, namespaces: ctx.config.namespaces });
  });
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json({ keys: ctx.signingKeys.publicJwks });
  });
  return router;
}
