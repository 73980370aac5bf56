/**
 * The Realtime JWT a browser joins private channels with. Supabase verifies it with the
 * project's JWT secret or signing keys (it needs `role`, `exp` and `iat`) and hands its
 * claims to the RLS policies of policies.sql: `tid`, `caps`, `ns` decide there.
 *
 * It is useless outside Realtime: its role is `switchboard_realtime` (no table privileges,
 * see policies.sql), not `authenticated`, and its `sub` is `switchboard:{tenant}:{user}`,
 * never a UUID, so `auth.uid()` policies of the app match no row with it. It lives at most
 * `ttlSeconds`, so a terminated user's channels close within that time (Realtime closes a
 * channel when its token expires; the client refreshes it through the BFF, which refuses
 * revoked capability tokens).
 */
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Namespaces } from '../../src/core/namespaces.js';
import type { ClientGrant } from '../types.js';
import type { SupabaseProviderOptions } from './options.js';

/** The namespace rules the policies need, per namespace. */
export type RealtimeNamespaceClaims = Record<string, { presence: boolean; clientEvents: string[] }>;

export function namespaceClaims(namespaces: Namespaces): RealtimeNamespaceClaims {
  return Object.fromEntries(
    Object.entries(namespaces).map(([name, rules]) => [name, { presence: rules.presence, clientEvents: rules.clientEvents }]),
  );
}

interface SigningKey {
  key: CryptoKey | Uint8Array;
  alg: string;
  kid?: string;
}

async function signingKey(config: SupabaseProviderOptions['jwtSigningKey']): Promise<SigningKey> {
  if ('secret' in config) return { key: new TextEncoder().encode(config.secret), alg: 'HS256' };
  const jwk = config.jwk as JWK;
  const alg = String(jwk.alg);
  const key = await importJWK(jwk, alg);
  if (key instanceof Uint8Array) throw new Error('SUPABASE_JWT_SIGNING_KEY must be an asymmetric private key');
  return { key, alg, ...(jwk.kid ? { kid: jwk.kid } : {}) };
}

/** The database role of policies.sql. */
export const SWITCHBOARD_REALTIME_ROLE = 'switchboard_realtime';
export const DEFAULT_REALTIME_JWT_TTL_SECONDS = 120;

/** The JWT subject: the tenant is part of it, and `:` never occurs in a tenant id. */
export function realtimeSubject(tenant: string, user: string): string {
  return `switchboard:${tenant}:${user}`;
}

export interface RealtimeJwtSigner {
  /** A JWT for `grant` that expires no later than the grant (the capability token), nor after the TTL. */
  sign(grant: ClientGrant): Promise<string>;
}

export function createRealtimeJwtSigner(
  options: Pick<SupabaseProviderOptions, 'jwtSigningKey' | 'realtimeJwtTtlSeconds'>,
  namespaces: Namespaces,
  now: () => number = Date.now,
): RealtimeJwtSigner {
  const ttlMs = (options.realtimeJwtTtlSeconds ?? DEFAULT_REALTIME_JWT_TTL_SECONDS) * 1000;
  const key = signingKey(options.jwtSigningKey);
  // Avoid an unhandled rejection before the first token is asked for; sign() rethrows.
  key.catch(() => undefined);
  const ns = namespaceClaims(namespaces);
  return {
    async sign(grant) {
      const { key: secret, alg, kid } = await key;
      const issuedAt = now();
      return new SignJWT({ role: SWITCHBOARD_REALTIME_ROLE, tid: grant.tenant, caps: grant.caps, ns, info: grant.info })
        .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
        .setSubject(realtimeSubject(grant.tenant, grant.user))
        .setAudience('authenticated')
        .setIssuer('switchboard')
        .setIssuedAt(Math.floor(issuedAt / 1000))
        .setExpirationTime(Math.floor(Math.min(grant.expiresAt, issuedAt + ttlMs) / 1000))
        .sign(secret);
    },
  };
}
