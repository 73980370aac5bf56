/**
 * Server configuration from the environment, parsed once. Bad values stop start-up with
 * one report listing every problem in plain words (see config-problems.ts).
 * Provider-specific variables are parsed by each provider's own `…OptionsFromEnv`.
 */
import { z } from 'zod';
import { apiKeyListProblems } from './auth/api-keys.js';
import { ConfigurationError, describeIssue } from './config-problems.js';
import { signingKeyProblems } from './tokens/signing-keys.js';
import { parseCidr } from './net/client-address.js';
import { openFilesLimit } from './net/descriptors.js';

const onOff = z.enum(['on', 'off']);
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** A Standard Webhooks secret: `whsec_` + base64 of 24 to 64 random bytes. */
const webhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by base64')
  .refine((secret) => {
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'must encode 24 to 64 bytes');

export const webhookSecretsSchema = z
  .string()
  .transform((value) => value.split(/[\s,]+/).filter((part) => part !== ''))
  .pipe(z.array(webhookSecretSchema).min(1).max(2, 'at most two secrets (current and next)'));

/** A variable whose every problem `problems` finds becomes an issue of its own. */
const checkedString = (problems: (value: string) => string[]) =>
  optionalString.superRefine((value, ctx) => {
    if (value !== undefined) for (const message of problems(value)) ctx.addIssue({ code: 'custom', message });
  });

/** Proxies whose X-Forwarded-For is believed: addresses or CIDR ranges, comma or space separated. */
const trustedProxiesSchema = z
  .string()
  .transform((value) => value.split(/[\s,]+/).filter((part) => part !== ''))
  .superRefine((entries, ctx) => {
    for (const entry of entries) {
      try {
        parseCidr(entry);
      } catch {
        ctx.addIssue({ code: 'custom', message: `must list IP addresses or CIDR ranges (e.g. 10.0.0.0/8, ::1), and "${entry.slice(0, 60)}" is neither` });
      }
    }
  });

const timeoutSeconds = (fallback: number) => z.coerce.number().positive().max(3600).default(fallback);

export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: optionalString,
  /** Public base URL of the BFF as browsers reach it; defaults to the request's own origin. */
  SWITCHBOARD_PUBLIC_URL: optionalString.pipe(z.string().url().optional()),
  SWITCHBOARD_PROVIDER: z.enum(['local', 'pusher', 'ably', 'supabase']).default('local'),
  SWITCHBOARD_STORE: z.enum(['sqlite', 'memory', 'redis']).default('sqlite'),
  SWITCHBOARD_DATA_DIR: z.string().min(1).default('./data'),
  /** Processes `serve` runs on one port: `auto` = one per core with the redis store, else 1. */
  SWITCHBOARD_WORKERS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(256)]).default('auto'),
  SWITCHBOARD_CONFIG: z.string().min(1).default('./switchboard.config.json'),
  SWITCHBOARD_DEV_AUTH: onOff.optional(),
  /** `tenant:key` pairs, comma separated. */
  SWITCHBOARD_API_KEYS: checkedString((value) => apiKeyListProblems(value, 'tenant')),
  /** Keys that may publish for any tenant, naming it in the `Switchboard-Tenant` header. */
  SWITCHBOARD_ADMIN_KEYS: checkedString((value) => apiKeyListProblems(value, 'admin')),
  /** Bearer token Prometheus must send to GET /metrics; unset = open (internal networks only). */
  SWITCHBOARD_METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  /** JSON array of private JWKs (with `kid` and `alg`); the first signs, all verify. */
  SWITCHBOARD_SIGNING_KEYS: checkedString(signingKeyProblems),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(3600),
  AUTH_JWKS_URL: optionalString.pipe(z.string().url().optional()),
  AUTH_JWT_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_TENANT_CLAIM: z.string().min(1).default('tid'),
  AUTH_ROLES_CLAIM: z.string().min(1).default('roles'),
  AUTH_NAME_CLAIM: z.string().min(1).default('name'),
  /** Longest an app session JWT may live (exp - iat); sessions without exp are refused. */
  AUTH_SESSION_MAX_AGE_SECONDS: z.coerce.number().int().min(60).max(31 * 86_400).default(86_400),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key and pub/sub topic the server uses: deployments sharing one Redis each need their own. */
  SWITCHBOARD_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits or _ . : -')
    .default('sb:'),
  /** The app's endpoint for lifecycle webhooks (Standard Webhooks); unset = none sent. */
  SWITCHBOARD_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** `whsec_…` signing secret; two, space separated, while rotating (both sign). */
  SWITCHBOARD_WEBHOOK_SECRET: optionalString.pipe(webhookSecretsSchema.optional()),
  /** Admission control (see net/): whose X-Forwarded-For counts, how IPv6 is grouped, HTTP timeouts and limits. */
  SWITCHBOARD_TRUSTED_PROXIES: optionalString.pipe(trustedProxiesSchema.optional()),
  SWITCHBOARD_IPV6_PREFIX: z.coerce.number().int().min(16).max(128).default(64),
  SWITCHBOARD_HEADERS_TIMEOUT_SECONDS: timeoutSeconds(10),
  SWITCHBOARD_REQUEST_TIMEOUT_SECONDS: timeoutSeconds(30),
  SWITCHBOARD_KEEP_ALIVE_TIMEOUT_SECONDS: timeoutSeconds(5),
  /** Longest `serve` takes to stop after SIGINT/SIGTERM (draining deliveries, webhooks, connections) before it exits anyway. */
  SWITCHBOARD_SHUTDOWN_TIMEOUT_SECONDS: timeoutSeconds(10),
  SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).max(10_000_000).default(256),
  SWITCHBOARD_RESERVED_DESCRIPTORS: z.coerce.number().int().min(64).max(10_000_000).default(1024),
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

/** What the single-variable checks cannot see: settings that must agree with each other or with the machine. */
export function networkProblems(env: Env, limit = openFilesLimit()): string[] {
  const problems: string[] = [];
  if (env.SWITCHBOARD_HEADERS_TIMEOUT_SECONDS > env.SWITCHBOARD_REQUEST_TIMEOUT_SECONDS) {
    problems.push(
      `SWITCHBOARD_HEADERS_TIMEOUT_SECONDS is ${env.SWITCHBOARD_HEADERS_TIMEOUT_SECONDS}, but it must not exceed SWITCHBOARD_REQUEST_TIMEOUT_SECONDS (${env.SWITCHBOARD_REQUEST_TIMEOUT_SECONDS}).`,
    );
  }
  if (limit !== undefined && env.SWITCHBOARD_RESERVED_DESCRIPTORS >= limit) {
    problems.push(`SWITCHBOARD_RESERVED_DESCRIPTORS is ${env.SWITCHBOARD_RESERVED_DESCRIPTORS}, but it must be below the open-files limit of this process (${limit}).`);
  }
  return problems;
}

/** The webhook endpoint, when configured; a URL without a secret is refused. */
export function webhookEndpoint(env: Env): { url: string; secrets: string[] } | undefined {
  if (env.SWITCHBOARD_WEBHOOK_URL === undefined) return undefined;
  if (env.SWITCHBOARD_WEBHOOK_SECRET === undefined) throw new Error('SWITCHBOARD_WEBHOOK_SECRET (whsec_…) is required with SWITCHBOARD_WEBHOOK_URL');
  return { url: env.SWITCHBOARD_WEBHOOK_URL, secrets: env.SWITCHBOARD_WEBHOOK_SECRET };
}

export function devAuthEnabled(env: Env): boolean {
  if (env.NODE_ENV === 'production') return false;
  return env.SWITCHBOARD_DEV_AUTH !== 'off';
}
