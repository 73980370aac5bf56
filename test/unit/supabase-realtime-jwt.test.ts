/** The Realtime JWT: signed with the project's JWT secret or a private signing JWK, never outliving the grant. */
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { supabaseProviderOptionsFromEnv } from '../../providers/supabase/index.js';
import { createRealtimeJwtSigner, realtimeSubject } from '../../providers/supabase/realtime-jwt.js';
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
    expect(payload).toMatchObject({ role: 'switchboard_realtime', aud: 'authenticated', sub: 'switchboard:acme:alice', tid: 'acme', caps: grant.caps });
    expect(payload.exp).toBe(Math.floor(grant.expiresAt / 1000));
  });

  it('lives at most SUPABASE_REALTIME_JWT_TTL_S (120 s by default), and never past the grant', async () => {
    const secret = 'x'.repeat(40);
    const now = 1_800_000_000_000;
    const long = { ...grant, expiresAt: now + 3_600_000 };
    const byDefault = await createRealtimeJwtSigner({ jwtSigningKey: { secret } }, DEFAULT_NAMESPACES, () => now).sign(long);
    expect(decodeJwt(byDefault)).toMatchObject({ iat: now / 1000, exp: now / 1000 + 120 });
    const env = {
      SUPABASE_URL: 'https://abcd.supabase.co',
      SUPABASE_ANON_KEY: 'sb_publishable_0123456789abcdef',
      SUPABASE_SERVICE_ROLE_KEY: 'sb_secret_0123456789abcdef0123',
      SUPABASE_JWT_SECRET: secret,
      SUPABASE_REALTIME_JWT_TTL_S: '45',
    };
    const options = supabaseProviderOptionsFromEnv(env);
    expect(decodeJwt(await createRealtimeJwtSigner(options, DEFAULT_NAMESPACES, () => now).sign(long)).exp).toBe(now / 1000 + 45);
    expect(decodeJwt(await createRealtimeJwtSigner(options, DEFAULT_NAMESPACES, () => now).sign({ ...grant, expiresAt: now + 10_000 })).exp).toBe(now / 1000 + 10);
    expect(() => supabaseProviderOptionsFromEnv({ ...env, SUPABASE_REALTIME_JWT_TTL_S: '5' })).toThrow(/SUPABASE_REALTIME_JWT_TTL_S/);
  });

  it('gives a subject that cannot collide across tenants', () => {
    expect(realtimeSubject('acme', 'x')).not.toBe(realtimeSubject('globex', 'x'));
    // Tenant ids never contain ':' (TENANT_PATTERN in src/core/channels.ts), so the tenant is the second segment, whatever the user id holds.
    expect(realtimeSubject('acme', 'x:globex').split(':')[1]).toBe('acme');
    // Never a UUID, so auth.uid() of an app matches no user with it.
    expect(realtimeSubject('acme', '6f1c1a52-0d7c-4a43-9f55-8b7cc3e8e7a1')).not.toMatch(/^[0-9a-f-]{36}$/);
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
