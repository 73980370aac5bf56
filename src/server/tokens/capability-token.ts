/**
 * Switchboard's capability token: a JWT the BFF mints for an authenticated end user,
 * scoped to one tenant, carrying the caps the app granted. Every later request from
 * that user (channel authorization, history, SSE) is decided from its verified claims.
 */
import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, decodeProtectedHeader } from 'jose';
import { z } from 'zod';
import { capabilitiesSchema } from '../../core/schemas.js';
import { tenantIdSchema } from '../../core/schemas.js';
import { jsonValueSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import type { ClientGrant } from '../../../providers/types.js';
import type { SigningKeys } from './signing-keys.js';

export const TOKEN_ISSUER = 'switchboard';
export const TOKEN_AUDIENCE = 'switchboard';

const claimsSchema = z.object({
  sub: z.string().min(1),
  tid: tenantIdSchema,
  exp: z.number().int(),
  caps: capabilitiesSchema,
  info: z.record(z.string(), jsonValueSchema).default({}),
  adm: z.literal(true).optional(),
});

export interface MintedToken {
  token: string;
  expiresAt: number;
}

export class CapabilityTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly ttlSeconds: number,
  ) {}

  async mint(grant: Omit<ClientGrant, 'expiresAt'>): Promise<MintedToken> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const exp = nowSeconds + this.ttlSeconds;
    const { signer } = this.keys;
    const token = await new SignJWT({ tid: grant.tenant, caps: grant.caps, info: grant.info, ...(grant.admin ? { adm: true } : {}) })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(grant.user)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(signer.signKey);
    return { token, expiresAt: exp * 1000 };
  }

  /** Verifies signature, algorithm, issuer, audience and expiry; throws a typed error otherwise. */
  async verify(token: string): Promise<ClientGrant> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new SwitchboardError('unauthenticated', 'Malformed capability token');
    }
    const key = kid === undefined ? undefined : this.keys.verifier(kid);
    if (!key) throw new SwitchboardError('unauthenticated', 'Capability token signed by an unknown key');
    try {
      const { payload } = await jwtVerify(token, key.verifyKey, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        algorithms: [key.alg],
      });
      const claims = claimsSchema.parse(payload);
      return { tenant: claims.tid, user: claims.sub, caps: claims.caps, info: claims.info, expiresAt: claims.exp * 1000, admin: claims.adm === true };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new SwitchboardError('token_expired', 'Capability token has expired');
      throw new SwitchboardError('unauthenticated', 'Invalid capability token');
    }
  }
}
