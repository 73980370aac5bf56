/**
 * The Realtime JWT a browser joins private channels with. Supabase verifies it with the
 * project's JWT secret or signing keys (it needs `role` and `exp`) and hands its claims
 * to the RLS policies of policies.sql as `auth.jwt()`: `tid`, `caps`, `ns` decide there.
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

export interface RealtimeJwtSigner {
  /** A JWT for `grant` that expires no later than the grant (the capability token). */
  sign(grant: ClientGrant): Promise<string>;
}

export function createRealtimeJwtSigner(options: Pick<SupabaseProviderOptions, 'jwtSigningKey'>, namespaces: Namespaces): RealtimeJwtSigner {
  const key = signingKey(options.jwtSigningKey);
  // Avoid an unhandled rejection before the first token is asked for; sign() rethrows.
  key.catch(() => undefined);
  const ns = namespaceClaims(namespaces);
  return {
    async sign(grant) {
      const { key: secret, alg, kid } = await key;
      return new SignJWT({ role: 'authenticated', tid: grant.tenant, caps: grant.caps, ns, info: grant.info })
        .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
        .setSubject(grant.user)
        .setAudience('authenticated')
        .setIssuer('switchboard')
        .setIssuedAt()
        .setExpirationTime(Math.floor(grant.expiresAt / 1000))
        .sign(secret);
    },
  };
}
