/**
 * Verifies the app's own session JWT (shared secret or JWKS URL) and the dev-login
 * sessions, and turns their claims into an `Identity`.
 */
import { createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { tenantIdSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import { checkRegisteredClaims, signJws, verifyJws, type JwsKey } from '../tokens/jws.js';
import type { SigningKeys } from '../tokens/signing-keys.js';
import type { Identity } from './identity.js';

export interface SessionClaimsOptions {
  tenantClaim: string;
  rolesClaim: string;
  nameClaim: string;
}

export interface AppSessionOptions extends SessionClaimsOptions {
  jwksUrl?: string;
  secret?: string;
  issuer?: string;
  audience?: string;
  /**
   * Longest a session may live, in seconds (AUTH_SESSION_MAX_AGE_SECONDS): `exp` minus
   * `iat` (minus now when there is no `iat`). Sessions without `exp` are always refused.
   */
  maxAgeSeconds?: number;
}

export const DEFAULT_SESSION_MAX_AGE_SECONDS = 24 * 3600;
/** Tolerated clock difference between the app's issuer and the BFF. */
const SESSION_CLOCK_SKEW_SECONDS = 5;

export type SessionVerifier = (token: string) => Promise<Identity>;

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const SYMMETRIC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

const rolesSchema = z.union([z.array(z.string()), z.string().transform((value) => value.split(/[\s,]+/).filter(Boolean))]);

export function identityFromClaims(payload: JWTPayload, options: SessionClaimsOptions): Identity {
  const tenant = tenantIdSchema.safeParse(payload[options.tenantClaim]);
  if (!tenant.success) {
    throw new SwitchboardError('invalid_identity', `Session has no valid tenant in claim "${options.tenantClaim}"`);
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
    throw new SwitchboardError('invalid_identity', 'Session has no subject (sub)');
  }
  const roles = rolesSchema.safeParse(payload[options.rolesClaim] ?? []);
  const name = payload[options.nameClaim];
  return {
    tenant: tenant.data,
    user: payload.sub,
    roles: roles.success ? roles.data : [],
    info: typeof name === 'string' ? { name } : {},
  };
}

function verificationFailure(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  if (error instanceof joseErrors.JWTExpired) return new SwitchboardError('token_expired', 'Session has expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'exp' && error.reason === 'missing') {
    return new SwitchboardError('unauthenticated', 'Session token has no expiry (exp); sessions must expire');
  }
  return new SwitchboardError('unauthenticated', 'Session token is not valid');
}

/** A session that lives longer than the configured maximum is refused, however far its `exp` is. */
function checkSessionLifetime(payload: JWTPayload, maxAgeSeconds: number, nowSeconds = Date.now() / 1000): void {
  const exp = payload.exp as number;
  const start = typeof payload.iat === 'number' ? Math.min(payload.iat, nowSeconds + SESSION_CLOCK_SKEW_SECONDS) : nowSeconds;
  if (exp - start > maxAgeSeconds + SESSION_CLOCK_SKEW_SECONDS) {
    throw new SwitchboardError(
      'unauthenticated',
      `Session lives ${Math.round(exp - start)} s (exp${typeof payload.iat === 'number' ? ' - iat' : ' - now'}), over the maximum of ${maxAgeSeconds} s (AUTH_SESSION_MAX_AGE_SECONDS)`,
    );
  }
}

export function createAppSessionVerifier(options: AppSessionOptions): SessionVerifier {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
  return async (token) => {
    try {
      const verifyOptions = {
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['exp'],
        clockTolerance: SESSION_CLOCK_SKEW_SECONDS,
      };
      const { payload } = jwks
        ? await jwtVerify(token, jwks, { ...verifyOptions, algorithms: ASYMMETRIC_ALGORITHMS })
        : await jwtVerify(token, secret as Uint8Array, { ...verifyOptions, algorithms: SYMMETRIC_ALGORITHMS });
      checkSessionLifetime(payload, options.maxAgeSeconds ?? DEFAULT_SESSION_MAX_AGE_SECONDS);
      return identityFromClaims(payload, options);
    } catch (error) {
      throw verificationFailure(error);
    }
  };
}

const DEV_ISSUER = 'switchboard-dev';
const DEV_AUDIENCE = 'switchboard-dev-session';
const DEV_SESSION_SECONDS = 12 * 3600;
const DEV_CLAIMS: SessionClaimsOptions = { tenantClaim: 'tid', rolesClaim: 'roles', nameClaim: 'name' };

/** Dev-only sessions: HS256 with a secret derived from the BFF's signing key, read only by this BFF. */
export class DevSessions {
  private readonly key: JwsKey;

  constructor(keys: SigningKeys) {
    const secret = createSecretKey(keys.internalSecret);
    this.key = { kid: 'dev-session', alg: 'HS256', signingKey: secret, verificationKey: secret };
  }

  async issue(identity: { tenant: string; user: string; name?: string; roles?: string[] }): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return signJws(this.key, {
      iss: DEV_ISSUER,
      aud: DEV_AUDIENCE,
      sub: identity.user,
      tid: identity.tenant,
      roles: identity.roles ?? [],
      ...(identity.name ? { name: identity.name } : {}),
      iat,
      exp: iat + DEV_SESSION_SECONDS,
    });
  }

  readonly verify: SessionVerifier = async (token) => {
    const payload = verifyJws(token, (kid) => (kid === this.key.kid ? this.key : undefined));
    const check = payload === undefined ? 'invalid' : checkRegisteredClaims(payload, { issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    if (check === 'expired') throw new SwitchboardError('token_expired', 'Session has expired');
    if (check !== 'ok') throw new SwitchboardError('unauthenticated', 'Session token is not valid');
    return identityFromClaims(payload as JWTPayload, DEV_CLAIMS);
  };

  static isDevToken(token: string): boolean {
    try {
      return decodeJwt(token).iss === DEV_ISSUER;
    } catch {
      return false;
    }
  }
}

/** Routes a session token to the dev verifier or the app's verifier by its (later verified) issuer. */
export function combineSessionVerifiers(app: SessionVerifier | undefined, dev: DevSessions | undefined): SessionVerifier {
  return async (token) => {
    if (dev && DevSessions.isDevToken(token)) return dev.verify(token);
    if (app) return app(token);
    throw new SwitchboardError('unauthenticated', 'Session token is not valid');
  };
}
