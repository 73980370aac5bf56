/**
 * Compact JWS for Switchboard's own tokens (capability tokens, dev sessions), with
 * node:crypto. Why not jose here: jose goes through WebCrypto, ~120–190 µs per sign or
 * verify on these machines, against ~40 µs for a synchronous Ed25519 sign and ~4 µs for
 * HMAC; minting is the BFF's hottest auth path (see bench/). Tokens from elsewhere (the
 * app's sessions, JWKS) are still verified with jose.
 *
 * Verification never trusts the header's `alg`: the key named by `kid` fixes it, so
 * `alg: none` and algorithm confusion fail.
 */
import { createHmac, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

export type JwsAlgorithm = 'EdDSA' | 'ES256' | 'HS256';

export interface JwsKey {
  kid: string;
  alg: JwsAlgorithm;
  /** Private key (EdDSA, ES256) or secret key (HS256). */
  signingKey: KeyObject;
  /** Public key (EdDSA, ES256) or the same secret key (HS256). */
  verificationKey: KeyObject;
}

const headerSchema = z.object({ alg: z.string(), kid: z.string() });
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function signature(key: JwsKey, input: string): Buffer {
  switch (key.alg) {
    case 'EdDSA':
      return sign(null, Buffer.from(input), key.signingKey);
    case 'ES256':
      return sign('sha256', Buffer.from(input), { key: key.signingKey, dsaEncoding: 'ieee-p1363' });
    case 'HS256':
      return createHmac('sha256', key.signingKey).update(input).digest();
  }
}

function signatureValid(key: JwsKey, input: string, given: Buffer): boolean {
  switch (key.alg) {
    case 'EdDSA':
      return verify(null, Buffer.from(input), key.verificationKey, given);
    case 'ES256':
      return verify('sha256', Buffer.from(input), { key: key.verificationKey, dsaEncoding: 'ieee-p1363' }, given);
    case 'HS256': {
      const expected = createHmac('sha256', key.verificationKey).update(input).digest();
      return expected.length === given.length && timingSafeEqual(expected, given);
    }
  }
}

export function signJws(key: JwsKey, payload: Record<string, unknown>): string {
  const input = `${encodeSegment({ alg: key.alg, kid: key.kid, typ: 'JWT' })}.${encodeSegment(payload)}`;
  return `${input}.${signature(key, input).toString('base64url')}`;
}

/** The verified payload, or undefined when the token is malformed, from an unknown key, or forged. */
export function verifyJws(token: string, keyFor: (kid: string) => JwsKey | undefined): unknown {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) return undefined;
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  try {
    const header = headerSchema.safeParse(JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')));
    const key = header.success ? keyFor(header.data.kid) : undefined;
    if (!key || header.data?.alg !== key.alg) return undefined;
    if (!signatureValid(key, `${headerPart}.${payloadPart}`, Buffer.from(signaturePart, 'base64url'))) return undefined;
    return JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const registeredClaimsSchema = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  exp: z.number(),
  nbf: z.number().optional(),
});

/** Tolerated clock difference between BFF nodes. */
const CLOCK_SKEW_SECONDS = 5;

export type ClaimsCheck = 'ok' | 'expired' | 'invalid';

/** Checks issuer, audience, expiry and not-before of a verified payload. */
export function checkRegisteredClaims(payload: unknown, expected: { issuer: string; audience: string }, nowSeconds = Date.now() / 1000): ClaimsCheck {
  const claims = registeredClaimsSchema.safeParse(payload);
  if (!claims.success) return 'invalid';
  const { iss, aud, exp, nbf } = claims.data;
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (iss !== expected.issuer || !audiences.includes(expected.audience)) return 'invalid';
  if (nbf !== undefined && nbf > nowSeconds + CLOCK_SKEW_SECONDS) return 'invalid';
  return exp <= nowSeconds - CLOCK_SKEW_SECONDS ? 'expired' : 'ok';
}
