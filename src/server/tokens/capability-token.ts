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
import { KeyedListeners } from '../keyed-listeners.js';
import { nextStamp, stampOfLegacyToken } from './issue-stamp.js';
import { MemoryRevocations, type TokenRevocations } from './revocations.js';
import type { SigningKeys } from './signing-keys.js';

export const TOKEN_ISSUER = 'switchboard';
export const TOKEN_AUDIENCE = 'switchboard';

const claimsSchema = z.object({
  sub: z.string().min(1),
  iat: z.number().int(),
  /** Issuance stamp (epoch µs), strictly ordered against revocations on the minting node. */
  iat_us: z.number().int().positive().optional(),
  tid: tenantIdSchema,
  exp: z.number().int(),
  caps: capabilitiesSchema,
  info: z.record(z.string(), jsonValueSchema).default({}),
  adm: z.literal(true).optional(),
});

export interface MintedToken {
  token: string;
  expiresAt: number;
  /** Issuance stamp (epoch µs). */
  issuedAt: number;
}

type RevokedListener = () => void;

export class CapabilityTokens {
  /** `tenant\0user` -> listeners waiting for that user's revocation (open SSE streams, long polls). */
  private readonly watchers = new KeyedListeners<RevokedListener>();

  constructor(
    private readonly keys: SigningKeys,
    private readonly ttlSeconds: number,
    private readonly revocations: TokenRevocations = new MemoryRevocations(),
  ) {
    revocations.listen((tenant, user) => {
      for (const listener of this.watchers.get(watchKey(tenant, user))) listener();
    });
  }

  /**
   * Every token of (tenant, user) minted up to now stops working; one minted after this
   * call (on this node: even in the same millisecond) keeps working.
   */
  async revokeUser(tenant: string, user: string): Promise<void> {
    await this.revocations.revoke(tenant, user, nextStamp(), this.ttlSeconds);
  }

  /** True when `grant` was issued at or before the latest revocation of its user. */
  async isRevoked(tenant: string, user: string, issuedAt: number): Promise<boolean> {
    const revokedAt = await this.revocations.revokedAt(tenant, user);
    return revokedAt !== undefined && issuedAt <= revokedAt;
  }

  /** Calls `listener` when (tenant, user) is revoked on any node sharing the store; returns the unsubscribe. */
  onRevoked(tenant: string, user: string, listener: RevokedListener): () => void {
    return this.watchers.add(watchKey(tenant, user), listener);
  }

  close(): Promise<void> {
    return this.revocations.close();
  }

  async mint(grant: Omit<ClientGrant, 'expiresAt' | 'issuedAt'>): Promise<MintedToken> {
    const now = Date.now();
    const stamp = nextStamp(now);
    const iat = Math.floor(now / 1000);
    const exp = iat + this.ttlSeconds;
    const token = signJws(this.keys.signer, {
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      sub: grant.user,
      tid: grant.tenant,
      iat,
      iat_us: stamp,
      exp,
      jti: randomUUID(),
      caps: grant.caps,
      info: grant.info,
      ...(grant.admin ? { adm: true } : {}),
    });
    return { token, expiresAt: exp * 1000, issuedAt: stamp };
  }

  /** Verifies signature (algorithm fixed by the key), issuer, audience and expiry; throws a typed error otherwise. */
  async verify(token: string): Promise<ClientGrant> {
    const payload = verifyJws(token, this.keys.verifier);
    if (payload === undefined) throw new SwitchboardError('unauthenticated', 'Invalid capability token');
    const check = checkRegisteredClaims(payload, { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE });
    if (check === 'expired') throw new SwitchboardError('token_expired', 'Capability token has expired');
    const claims = claimsSchema.safeParse(payload);
    if (check !== 'ok' || !claims.success) throw new SwitchboardError('unauthenticated', 'Invalid capability token');
    const { tid, sub, caps, info, exp, adm, iat, iat_us: stamp } = claims.data;
    const issuedAt = stamp ?? stampOfLegacyToken(iat);
    if (await this.isRevoked(tid, sub, issuedAt)) throw new SwitchboardError('unauthenticated', 'Capability token has been revoked');
    return { tenant: tid, user: sub, caps, info, expiresAt: exp * 1000, issuedAt, admin: adm === true };
  }
}

function watchKey(tenant: string, user: string): string {
  return `${tenant}\u0000${user}`;
}
