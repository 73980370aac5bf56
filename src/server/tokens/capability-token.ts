/**
 * Switchboard's capability token: a JWT the BFF mints for an authenticated end user,
 * scoped to one tenant, carrying the caps the app granted. Every later request from
 * that user (channel authorization, history, SSE) is decided from its verified claims.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SwitchboardError } from '../../core/errors.js';
import { capabilitiesSchema, jsonValueSchema, tenantIdSchema } from '../../core/schemas.js';
import type { ClientGrant } from '../../../providers/types.js';
import { checkRegisteredClaims, signJws, verifyJws } from './jws.js';
import { MemoryRevocations, type TokenRevocations } from './revocations.js';
import type { SigningKeys } from './signing-keys.js';

export const TOKEN_ISSUER = 'switchboard';
export const TOKEN_AUDIENCE = 'switchboard';

const claimsSchema = z.object({
  sub: z.string().min(1),
  iat: z.number().int(),
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
    private readonly revocations: TokenRevocations = new MemoryRevocations(),
  ) {}

  /**
   * Every token of (tenant, user) minted up to now stops working, including any minted
   * earlier in the same second (`iat` has second precision).
   */
  async revokeUser(tenant: string, user: string): Promise<void> {
    await this.revocations.revoke(tenant, user, Math.floor(Date.now() / 1000), this.ttlSeconds);
  }

  close(): Promise<void> {
    return this.revocations.close();
  }

  async mint(grant: Omit<ClientGrant, 'expiresAt'>): Promise<MintedToken> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + this.ttlSeconds;
    const token = signJws(this.keys.signer, {
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      sub: grant.user,
      tid: grant.tenant,
      iat,
      exp,
      jti: randomUUID(),
      caps: grant.caps,
      info: grant.info,
      ...(grant.admin ? { adm: true } : {}),
    });
    return { token, expiresAt: exp * 1000 };
  }

  /** Verifies signature (algorithm fixed by the key), issuer, audience and expiry; throws a typed error otherwise. */
  async verify(token: string): Promise<ClientGrant> {
    const payload = verifyJws(token, this.keys.verifier);
    if (payload === undefined) throw new SwitchboardError('unauthenticated', 'Invalid capability token');
    const check = checkRegisteredClaims(payload, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE });
    if (check === 'expired') throw new SwitchboardError('token_expired', 'Capability token has expired');
    const claims = claimsSchema.safeParse(payload);
    if (check !== 'ok' || !claims.success) throw new SwitchboardError('unauthenticated', 'Invalid capability token');
    const { tid, sub, caps, info, exp, adm, iat } = claims.data;
    const revokedAt = await this.revocations.revokedAt(tid, sub);
    if (revokedAt !== undefined && iat <= revokedAt) throw new SwitchboardError('unauthenticated', 'Capability token has been revoked');
    return { tenant: tid, user: sub, caps, info, expiresAt: exp * 1000, admin: adm === true };
  }
}
