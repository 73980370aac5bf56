/**
 * Issue 18: an app session JWT without `exp` was accepted and never expired. Sessions must
 * carry `exp`, and live at most AUTH_SESSION_MAX_AGE_SECONDS (exp - iat, or exp - now).
 */
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppSessionVerifier } from '../../src/server/auth/session.js';
import { startBff, type TestBff } from '../helpers/bff.js';

const SECRET = 'app-session-secret-at-least-32-characters!';
const MAX_AGE = 3600;
const verify = createAppSessionVerifier({ secret: SECRET, tenantClaim: 'tid', rolesClaim: 'roles', nameClaim: 'name', maxAgeSeconds: MAX_AGE });

function session(times: { iat?: number; exp?: number }): Promise<string> {
  return new SignJWT({ tid: 'acme', ...times }).setProtectedHeader({ alg: 'HS256' }).setSubject('ana').sign(new TextEncoder().encode(SECRET));
}

const now = () => Math.floor(Date.now() / 1000);
let bff: TestBff | undefined;
afterAll(async () => bff?.close());

describe('app sessions must expire', () => {
  it('refuses a session without exp with a clear 401 problem', async () => {
    bff = await startBff({ sessionVerifier: verify });
    const response = await bff.post('/v1/token', {}, await session({ iat: now() }));
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'unauthenticated', detail: expect.stringContaining('no expiry (exp)') });

    const tooLong = await bff.post('/v1/token', {}, await session({ iat: now(), exp: now() + 10 * MAX_AGE }));
    expect(tooLong.status).toBe(401);
    expect(await tooLong.json()).toMatchObject({ code: 'unauthenticated', detail: expect.stringContaining('AUTH_SESSION_MAX_AGE_SECONDS') });

    expect((await bff.post('/v1/token', {}, await session({ iat: now(), exp: now() + 60 }))).status).toBe(200);
  });

  it('accepts exactly the sessions that have exp, are not expired and live at most the maximum age (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.integer({ min: -3 * MAX_AGE, max: 60 }), { nil: undefined }),
        fc.option(fc.integer({ min: -3 * MAX_AGE, max: 3 * MAX_AGE }), { nil: undefined }),
        async (iatOffset, expOffset) => {
          const t = now();
          const iat = iatOffset === undefined ? undefined : t + iatOffset;
          const exp = expOffset === undefined ? undefined : t + expOffset;
          // Leave out the seconds around each boundary: clocks tick and 5 s of skew are tolerated.
          const margin = 10;
          if (exp !== undefined && Math.abs(exp - t) < margin) return;
          const lifetime = exp === undefined ? undefined : exp - Math.min(iat ?? t, t);
          if (lifetime !== undefined && Math.abs(lifetime - MAX_AGE) < margin) return;
          const expected = exp !== undefined && exp > t && lifetime !== undefined && lifetime <= MAX_AGE;
          const outcome = await verify(await session({ ...(iat !== undefined ? { iat } : {}), ...(exp !== undefined ? { exp } : {}) })).then(
            () => 'accepted',
            (error: { status?: number }) => (error.status === 401 ? 'refused' : 'other'),
          );
          expect(outcome).toBe(expected ? 'accepted' : 'refused');
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
  });
});
