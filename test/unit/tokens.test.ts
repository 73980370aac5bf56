import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { CapabilityTokens } from '../../src/server/tokens/capability-token.js';
import { stampFromStored } from '../../src/server/tokens/issue-stamp.js';
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
  it('refuses tokens minted before the revocation, accepts later ones, and forgets after the token lifetime', async () => {
    const now = 1_700_000_000_500;
    vi.useFakeTimers({ toFake: ['Date'], now });
    try {
      const revocations = new MemoryRevocations(() => Date.now());
      const tokens = new CapabilityTokens(await loadSigningKeys({}), 60, revocations);
      const before = (await tokens.mint(grant)).token;
      const other = (await tokens.mint({ ...grant, tenant: 'globex' })).token;
      await tokens.revokeUser('acme', 'ana');
      await expect(tokens.verify(before)).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('revoked') });
      expect(await tokens.verify(other)).toMatchObject({ tenant: 'globex', user: 'ana' });
      vi.setSystemTime(now + 61_000);
      expect(await revocations.revokedAt('acme', 'ana')).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  // Issue 18: `iat` has second precision, so a token minted in the second of a terminate was refused.
  it('accepts a token minted after a terminate in the same second, even in the same millisecond (property)', async () => {
    const tokens = new CapabilityTokens(await loadSigningKeys({}), 60, new MemoryRevocations());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 999 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), async (ms, order) => {
        // A frozen clock: every mint and revoke of the run happens in the same millisecond.
        vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 + ms });
        try {
          let revokedAfterLast = false;
          let last = '';
          for (const revokeNext of order) {
            if (revokeNext) {
              await tokens.revokeUser('acme', 'ana');
              revokedAfterLast = true;
            } else {
              last = (await tokens.mint(grant)).token;
              revokedAfterLast = false;
            }
          }
          if (last === '') return;
          const verified = tokens.verify(last);
          if (revokedAfterLast) await expect(verified).rejects.toMatchObject({ code: 'unauthenticated' });
          else await expect(verified).resolves.toMatchObject({ user: 'ana' });
        } finally {
          vi.useRealTimers();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reads revocations stored in seconds by earlier versions as the end of that second', async () => {
    const revocations = new MemoryRevocations();
    const tokens = new CapabilityTokens(await loadSigningKeys({}), 60, revocations);
    const { issuedAt } = await tokens.mint(grant);
    await revocations.revoke('acme', 'ana', stampFromStored(Math.floor(issuedAt / 1_000_000)), 60);
    expect(await tokens.isRevoked('acme', 'ana', issuedAt)).toBe(true);
    expect(stampFromStored(1_700_000_000)).toBe(1_700_000_000_999_999);
    expect(stampFromStored(1_700_000_000_123_456)).toBe(1_700_000_000_123_456);
  });

  it('tells watchers of a revoked user, and only them', async () => {
    const tokens = new CapabilityTokens(await loadSigningKeys({}), 60, new MemoryRevocations());
    const told: string[] = [];
    const off = tokens.onRevoked('acme', 'ana', () => told.push('ana'));
    tokens.onRevoked('acme', 'bo', () => told.push('bo'));
    await tokens.revokeUser('acme', 'ana');
    off();
    await tokens.revokeUser('acme', 'ana');
    expect(told).toEqual(['ana']);
  });
});

describe('sqlite revocations', () => {
  it('survive a restart, keep the later revocation stamp, read legacy seconds, and expire after the token lifetime', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-revocations-'));
    let now = 1_700_000_000_000;
    const file = path.join(dir, 'revocations.sqlite');
    try {
      const first = new SqliteRevocations(file, () => now);
      await first.revoke('acme', 'ana', 1_700_000_000_000_000, 60);
      await first.revoke('acme', 'ana', 1_699_999_990_000_000, 60);
      await first.revoke('acme', 'legacy', 1_700_000_000, 60);
      await first.close();
      const reopened = new SqliteRevocations(file, () => now);
      expect(await reopened.revokedAt('acme', 'ana')).toBe(1_700_000_000_000_000);
      expect(await reopened.revokedAt('acme', 'legacy')).toBe(1_700_000_000_999_999);
      expect(await reopened.revokedAt('globex', 'ana')).toBeUndefined();
      now += 61_000;
      expect(await reopened.revokedAt('acme', 'ana')).toBeUndefined();
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
