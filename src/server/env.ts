/**
 * Server configuration from the environment, parsed once. Bad values stop start-up with
 * one report listing every problem in plain words (see config-problems.ts).
 * Provider-specific variables are parsed by each provider's own `…OptionsFromEnv`.
 */
import { z } from 'zod';
import { ConfigurationError, describeIssue } from './config-problems.js';

const onOff = z.enum(['on', 'off']);
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: optionalString,
  /** Public base URL of the BFF as browsers reach it; defaults to the request's own origin. */
  SWITCHBOARD_PUBLIC_URL: optionalString.pipe(z.string().url().optional()),
  SWITCHBOARD_PROVIDER: z.enum(['local', 'pusher', 'ably', 'supabase']).default('local'),
  SWITCHBOARD_STORE: z.enum(['sqlite', 'memory', 'redis']).default('sqlite'),
  SWITCHBOARD_DATA_DIR: z.string().min(1).default('./data'),
  SWITCHBOARD_CONFIG: z.string().min(1).default('./switchboard.config.json'),
  SWITCHBOARD_DEV_AUTH: onOff.optional(),
  /** `tenant:key` pairs, comma separated. */
  SWITCHBOARD_API_KEYS: optionalString,
  /** Keys that may publish for any tenant, naming it in the `Switchboard-Tenant` header. */
  SWITCHBOARD_ADMIN_KEYS: optionalString,
  /** Bearer token Prometheus must send to GET /metrics; unset = open (internal networks only). */
  SWITCHBOARD_METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  /** JSON array of private JWKs (with `kid` and `alg`); the first signs, all verify. */
  SWITCHBOARD_SIGNING_KEYS: optionalString,
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(3600),
  AUTH_JWKS_URL: optionalString.pipe(z.string().url().optional()),
  AUTH_JWT_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_TENANT_CLAIM: z.string().min(1).default('tid'),
  AUTH_ROLES_CLAIM: z.string().min(1).default('roles'),
  AUTH_NAME_CLAIM: z.string().min(1).default('name'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof envSchema>;

export type ProviderName = Env['SWITCHBOARD_PROVIDER'];

/** The environment read, with every problem found (each a sentence naming the variable). */
export function readEnv(source: NodeJS.ProcessEnv): { env?: Env; problems: string[] } {
  const result = envSchema.safeParse(source);
  if (result.success) return { env: result.data, problems: [] };
  return { problems: result.error.issues.map((issue) => describeIssue(issue, source)) };
}

export function parseEnv(source: NodeJS.ProcessEnv): Env {
  const { env, problems } = readEnv(source);
  if (!env) throw new ConfigurationError(problems);
  return env;
}

export function devAuthEnabled(env: Env): boolean {
  if (env.NODE_ENV === 'production') return false;
  return env.SWITCHBOARD_DEV_AUTH !== 'off';
}
