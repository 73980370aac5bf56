import { z } from 'zod';
import { parseProviderEnv } from '../env-options.js';
import type { Namespaces } from '../../src/core/namespaces.js';

export interface SupabaseProviderOptions {
  /** Project URL, e.g. `https://abcd.supabase.co` (Realtime lives under `/realtime/v1`). */
  url: string;
  /** Public key the browser connects with (the `apikey` of the WebSocket URL). */
  anonKey: string;
  /** Never logged. Authenticates the BFF's REST broadcasts; its role bypasses RLS. */
  serviceRoleKey: string;
  /**
   * Never logged. Signs the Realtime JWTs: the project's legacy JWT secret (HS256), or a
   * private JWK of the project's signing keys (ES256/RS256, with `kid`).
   */
  jwtSigningKey: { secret: string } | { jwk: Record<string, unknown> };
  /**
   * Broadcast payload limit of the project's plan in bytes (Free 256 KB, paid 3,000 KB;
   * Realtime compares against `max_payload_size_in_kb * 1000`). Default 256,000.
   */
  maxPayloadBytes?: number;
  /**
   * REST broadcast messages per second the BFF sends at most (default 100, the Free plan's
   * quota). Realtime also counts each delivery to a client against the same quota.
   */
  maxMessagesPerSecond?: number;
  /**
   * Lifetime of a Realtime JWT in seconds (default 120): the longest a terminated user's
   * joined channels keep receiving. Clients refresh it through the BFF before it expires.
   */
  realtimeJwtTtlSeconds?: number;
  /** Namespace rules the Realtime JWT carries for the RLS policies; defaults to the built-in ones. */
  namespaces?: Namespaces;
  /** Defaults to the global fetch, looked up per call (so test interceptors apply). */
  fetch?: typeof fetch;
}

const jwkSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON private JWK' });
      return z.NEVER;
    }
  })
  .pipe(
    z.looseObject({
      kty: z.enum(['EC', 'RSA']),
      kid: z.string().min(1),
      alg: z.enum(['ES256', 'RS256']),
      d: z.string({ error: 'must be a private key (with "d")' }).min(1, 'must be a private key (with "d")'),
    }),
  );

const envSchema = z
  .object({
    SUPABASE_URL: z.url({ protocol: /^https?$/, error: 'must be the project URL, e.g. https://abcd.supabase.co' }),
    SUPABASE_ANON_KEY: z.string().min(20, 'must be the project anon (publishable) key'),
    SUPABASE_SERVICE_ROLE_KEY: z.string().min(20, 'must be the project service_role key'),
    SUPABASE_JWT_SECRET: z.string().min(32, 'must be the project JWT secret (at least 32 characters)').optional(),
    SUPABASE_JWT_SIGNING_KEY: jwkSchema.optional(),
    SUPABASE_MAX_PAYLOAD_KB: z.coerce.number().int().min(1).max(3000).optional(),
    SUPABASE_REALTIME_JWT_TTL_S: z.coerce.number().int().min(30).max(3600).optional(),
    SUPABASE_MAX_MESSAGES_PER_SECOND: z.coerce.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((env) => env.SUPABASE_JWT_SECRET !== undefined || env.SUPABASE_JWT_SIGNING_KEY !== undefined, {
    path: ['SUPABASE_JWT_SECRET'],
    message: 'required when SWITCHBOARD_PROVIDER=supabase (or SUPABASE_JWT_SIGNING_KEY)',
  });

export function supabaseProviderOptionsFromEnv(env: Record<string, string | undefined> = process.env): SupabaseProviderOptions {
  const present = Object.fromEntries(Object.entries(env).filter(([name, value]) => name.startsWith('SUPABASE_') && value?.trim()));
  const e = parseProviderEnv(envSchema, present, 'supabase');
  return {
    url: e.SUPABASE_URL.replace(/\/+$/, ''),
    anonKey: e.SUPABASE_ANON_KEY,
    serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY,
    jwtSigningKey: e.SUPABASE_JWT_SIGNING_KEY ? { jwk: e.SUPABASE_JWT_SIGNING_KEY } : { secret: e.SUPABASE_JWT_SECRET ?? '' },
    ...(e.SUPABASE_MAX_PAYLOAD_KB === undefined ? {} : { maxPayloadBytes: e.SUPABASE_MAX_PAYLOAD_KB * 1000 }),
    ...(e.SUPABASE_REALTIME_JWT_TTL_S === undefined ? {} : { realtimeJwtTtlSeconds: e.SUPABASE_REALTIME_JWT_TTL_S }),
    ...(e.SUPABASE_MAX_MESSAGES_PER_SECOND === undefined ? {} : { maxMessagesPerSecond: e.SUPABASE_MAX_MESSAGES_PER_SECOND }),
  };
}
