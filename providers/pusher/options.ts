import { z } from 'zod';
import { parseProviderEnv } from '../env-options.js';
import type { Namespaces } from '../../src/core/namespaces.js';

export interface PusherProviderOptions {
  appId: string;
  key: string;
  /** Never logged. */
  secret: string;
  cluster: string;
  /** HTTP API host; defaults to `api-{cluster}.pusher.com`. */
  host?: string;
  port?: number;
  useTLS: boolean;
  /**
   * Where browsers open the WebSocket, for Pusher-compatible hosts (soketi, another
   * Switchboard); defaults to `host`/`port`. Unset with `host` unset: hosted Pusher's cluster.
   */
  wsHost?: string;
  wsPort?: number;
  /**
   * Decides whether a tenant channel maps to `presence-` or `private-` (its namespace's
   * `presence` rule). Pass the app config's namespaces; defaults to the built-in ones.
   */
  namespaces?: Namespaces;
  /** Defaults to the global fetch, looked up per call (so test interceptors apply). */
  fetch?: typeof fetch;
  /** Inbound webhooks whose `time_ms` is further from now than this are refused (default 5 min). */
  webhookMaxAgeMs?: number;
}

const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1'));

const envSchema = z.object({
  PUSHER_APP_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the Pusher app id'),
  // The key travels in the WebSocket URL path and the secret into HMACs: no spaces, quotes or control characters.
  PUSHER_KEY: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be the Pusher app key (letters, digits, _ . -)'),
  PUSHER_SECRET: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'must be the Pusher app secret (printable, without spaces)'),
  PUSHER_CLUSTER: z.string().regex(/^[a-z0-9-]{1,32}$/, 'must be a cluster name such as eu or mt1'),
  PUSHER_HOST: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a host name without scheme').optional(),
  PUSHER_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  PUSHER_USE_TLS: flag,
  PUSHER_WS_HOST: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a host name without scheme').optional(),
  PUSHER_WS_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  PUSHER_WEBHOOK_MAX_AGE_SECONDS: z.coerce.number().int().min(1).max(86_400).optional(),
});

export function pusherProviderOptionsFromEnv(env: Record<string, string | undefined> = process.env): PusherProviderOptions {
  const e = parseProviderEnv(envSchema, env, 'pusher');
  return {
    appId: e.PUSHER_APP_ID,
    key: e.PUSHER_KEY,
    secret: e.PUSHER_SECRET,
    cluster: e.PUSHER_CLUSTER,
    ...(e.PUSHER_HOST === undefined ? {} : { host: e.PUSHER_HOST }),
    ...(e.PUSHER_PORT === undefined ? {} : { port: e.PUSHER_PORT }),
    useTLS: e.PUSHER_USE_TLS ?? true,
    ...(e.PUSHER_WS_HOST === undefined ? {} : { wsHost: e.PUSHER_WS_HOST }),
    ...(e.PUSHER_WS_PORT === undefined ? {} : { wsPort: e.PUSHER_WS_PORT }),
    ...(e.PUSHER_WEBHOOK_MAX_AGE_SECONDS === undefined ? {} : { webhookMaxAgeMs: e.PUSHER_WEBHOOK_MAX_AGE_SECONDS * 1000 }),
  };
}
