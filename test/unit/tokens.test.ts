import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { CapabilityTokens } from '../../src/server/tokens/capability-token.js';
import { MemoryRevocations, SqliteRevocations } from '../../src/server/tokens/revocations.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';

const grant = { tenant: 'acme', user: 'ana', caps: { 'orders:*': ['subscribe' as const] }, info: { name: 'Ana' } };

function privateJwk(kind: 'ed25519' | 'ec', kid: string, alg: string) {
  const { privateKey } = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { ...privateKey.export({ format: 'jwk' }), kid, alg };
}

describe('capability tokens', () => {
  it.each([
    ['EdDSA', [privateJwk('ed25519', 'ed', 'EdDSA')]],
    ['ES256', [privateJwk('ec', 'ec', 'ES256')]],
  ])('round-trip with %s and verify with jose against the published JWKS', async (_alg, jwks) => {
    const keys = await loadSigningKeys({ configured: JSON.stringify(jwks) });
    const tokens = new CapabilityTokens(keys, 60);
    const { token } = await tokens.mint(grant);
    expect(await tokens.verify(token)).toMatchObject({ tenant: 'acme', user: 'ana', caps: grant.caps });
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: keys.publicJwks as never }), { issuer: 'switchboard', audience: 'switchboard' });
    expect(payload.tid).toBe('acme');
  });

  it('supports HS256 keys without publishing them', async () => {
    const keys = await loadSigningKeys({ configured: JSON.stringify([{ kty: 'oct', k: randomBytes(32).toString('base64url'), kid: 'hs', alg: 'HS256' }]) });
    expect(keys.publicJwks).toEqual([]);
    const tokens = new CapabilityTokens(keys, 60);
    expect(await tokens.verify((await tokens.mint(grant)).token)).toMatchObject({ tenant: 'acme' });
    await expect(loadSigningKeys({ configured: JSON.stringify([{ kty: 'oct', k: 'c2hvcnQ', kid: 'hs', alg: 'HS256' }]) })).rejects.toThrow(/32 bytes/);
  });

  it('keeps verifying tokens of a rotated-out signer that is still listed', async () => {
    const old = privateJwk('ed25519', 'old', 'EdDSA');
    const oldTokens = new CapabilityTokens(await loadSigningKeys({ configured: JSON.stringify([old]) }), 60);
    const { token } = await oldTokens.mint(grant);
    const rotated = new CapabilityTokens(await loadSigningKeys({ configured: JSON.stringify([privateJwk('ed25519', 'new', 'EdDSA'), old]) }), 60);
    expect(await rotated.verify(token)).toMatchObject({ user: 'ana' });
    const dropped = new CapabilityTokens(await loadSigningKeys({ configured: JSON.stringify([privateJwk('ed25519', 'new', 'EdDSA')]) }), 60);
    await expect(dropped.verify(token)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('refuses tampered payloads, algorithm confusion and foreign issuers', async () => {
    const keys = await loadSigningKeys({});
    const tokens = new CapabilityTokens(keys, 60);
    const { token } = await tokens.mint(grant);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), tid: 'globex' })).toString('base64url');
    await expect(tokens.verify(`${header}.${widened}.${signature}`)).rejects.toMatchObject({ code: 'unauthenticated' });

    // HS256 "signed" with the public key bytes, claiming the real kid: the key fixes the algorithm.
    const publicBytes = new TextEncoder().encode(JSON.stringify(keys.publicJwks[0]));
    const confused = await new SignJWT({ tid: 'acme', caps: { '*': ['subscribe'] } })
      .setProtectedHeader({ alg: 'HS256', kid: keys.signer.kid })
      .setIssuer('switchboard').setAudience('switchboard').setSubject('ana').setExpirationTime('5m')
      .sign(publicBytes);
    await expect(tokens.verify(confused)).rejects.toMatchObject({ code: 'unauthenticated' });

    await expect(tokens.verify('a.b')).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(tokens.verify(`${header}.${payload}.${signature}x`)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

describe('revoked users', () => {
  it('refuses tokens minted up to the revocation second, accepts later ones, and forgets after the token lifetime', async () => {
    let now = 1_700_000_000_500;
    vi.useFakeTimers({ toFake: ['Date'], now });
    try {
      const revocations = new MemoryRevocations(() => Date.now());
      const tokens = new CapabilityTokens(await loadSigningKeys({}), 60, revocations);
      const before = (await tokens.mint(grant)).token;
      const other = (await tokens.mint({ ...grant, tenant: 'globex' })).token;
      await tokens.revokeUser('acme', 'ana');
      await expect(tokens.verify(before)).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('revoked') });
      // Same second: refused too (iat has second precision).
      await expect(tokens.verify((await tokens.mint(grant)).token)).rejects.toMatchObject({ code: 'unauthenticated' });
      expect(await tokens.verify(other)).toMatchObject({ tenant: 'globex', user: 'ana' });
      now += 1000;
      vi.setSystemTime(now);
      expect(await tokens.verify((await tokens.mint(grant)).token)).toMatchObject({ tenant: 'acme', user: 'ana' });
      expect(await revocations.revokedAt('acme', 'ana')).toBe(1_700_000_000);
      vi.setSystemTime(now + 61_000);
      expect(await revocations.revokedAt('acme', 'ana')).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('sqlite revocations', () => {
  it('survive a restart, keep the later revocation time and expire after the token lifetime', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-revocations-'));
    let now = 1_700_000_000_000;
    const file = path.join(dir, 'revocations.sqlite');
    try {
      const first = new SqliteRevocations(file, () => now);
      await first.revoke('acme', 'ana', 1_700_000_000, 60);
      await first.revoke('acme', 'ana', 1_699_999_990, 60);
      await first.close();
      const reopened = new SqliteRevocations(file, () => now);
      expect(await reopened.revokedAt('acme', 'ana')).toBe(1_700_000_000);
      expect(await reopened.revokedAt('globex', 'ana')).toBeUndefined();
      now += 61_000;
      expect(await reopened.revokedAt('acme', 'ana')).toBeUndefined();
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
