/** The Realtime JWT: signed with the project's JWT secret or a private signing JWK, never outliving the grant. */
import { exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { supabaseProviderOptionsFromEnv } from '../../providers/supabase/index.js';
import { createRealtimeJwtSigner } from '../../providers/supabase/realtime-jwt.js';
import type { ClientGrant } from '../../providers/types.js';

const grant: ClientGrant = { tenant: 'acme', user: 'alice', info: { name: 'Alice' }, caps: { 'orders:*': ['subscribe'] }, expiresAt: Date.now() + 90_000 };

describe('Realtime JWT', () => {
  it('signs with a private ES256 JWK from SUPABASE_JWT_SIGNING_KEY, naming its kid', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'project-key-1', alg: 'ES256' };
    const options = supabaseProviderOptionsFromEnv({
      SUPABASE_URL: 'https://abcd.supabase.co',
      SUPABASE_ANON_KEY: 'anon-key-0123456789abcdef',
      SUPABASE_SERVICE_ROLE_KEY: 'service-key-0123456789abcdef',
      SUPABASE_JWT_SIGNING_KEY: JSON.stringify(jwk),
    });
    const token = await createRealtimeJwtSigner(options, DEFAULT_NAMESPACES).sign(grant);
    const { payload, protectedHeader } = await jwtVerify(token, publicKey, { algorithms: ['ES256'] });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'project-key-1' });
    expect(payload).toMatchObject({ role: 'authenticated', aud: 'authenticated', sub: 'alice', tid: 'acme', caps: grant.caps });
    expect(payload.exp).toBe(Math.floor(grant.expiresAt / 1000));
  });

  it('refuses a public key where a private one is needed', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };
    expect(() =>
      supabaseProviderOptionsFromEnv({
        SUPABASE_URL: 'https://abcd.supabase.co',
        SUPABASE_ANON_KEY: 'anon-key-0123456789abcdef',
        SUPABASE_SERVICE_ROLE_KEY: 'service-key-0123456789abcdef',
        SUPABASE_JWT_SIGNING_KEY: JSON.stringify(jwk),
      }),
    ).toThrow(/Invalid SUPABASE_JWT_SIGNING_KEY: must be a private key/);
  });

  it('carries each namespace\'s presence and client-event rules for the policies', async () => {
    const token = await createRealtimeJwtSigner({ jwtSigningKey: { secret: 'x'.repeat(40) } }, DEFAULT_NAMESPACES).sign(grant);
    const { payload } = await jwtVerify(token, new TextEncoder().encode('x'.repeat(40)));
    expect(payload.ns).toEqual({
      orders: { presence: false, clientEvents: [] },
      chat: { presence: true, clientEvents: ['typing'] },
      notifications: { presence: false, clientEvents: [] },
      dashboard: { presence: false, clientEvents: [] },
    });
  });
});
