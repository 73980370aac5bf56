import { z } from 'zod';
import { parseProviderEnv } from '../env-options.js';
import type { Namespaces } from '../../src/core/namespaces.js';
import type { ChannelListOptions } from './channel-list.js';

/** Ably's default maximum message size (ably-docs platform/pricing/limits.mdx; ably-js defaults.ts). */
export const ABLY_DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

export interface AblyProviderOptions {
  /** `appId.keyId:secret`. Never logged, never sent to clients. */
  apiKey: string;
  /** Host for REST and realtime (the SDK's `endpoint` option); absent = Ably's default. */
  endpoint?: string;
  /** Non-TLS port when `tls` is false, TLS port otherwise. */
  port?: number;
  tls: boolean;
  /** The account's message size limit (64 KiB by default, 256 KiB on some plans). */
  maxMessageBytes?: number;
  /** Namespaces decide presence and whisper rights; pass the app config's, defaults to the built-in ones. */
  namespaces?: Namespaces;
  /** Least time between two channel enumerations for the admin view (default 30 s). */
  statsIntervalMs?: number;
  /** Backoff of the channel enumeration after a rate-limit refusal (tests shorten it). */
  enumeration?: ChannelListOptions;
}

/** `appId.keyId:secret` as Ably issues it (ably-docs api/token-request-spec.mdx). */
export const ABLY_API_KEY_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+:[^\s:]+$/;

const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1'));

const envSchema = z.object({
  ABLY_API_KEY: z.string().regex(ABLY_API_KEY_PATTERN, 'must be an Ably API key appId.keyId:secret'),
  ABLY_ENDPOINT: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a host name without scheme or port').optional(),
  ABLY_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  ABLY_TLS: flag,
  ABLY_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).optional(),
});

export function ablyProviderOptionsFromEnv(env: Record<string, string | undefined> = process.env): AblyProviderOptions {
  const e = parseProviderEnv(envSchema, env, 'ably');
  return {
    apiKey: e.ABLY_API_KEY,
    ...(e.ABLY_ENDPOINT === undefined ? {} : { endpoint: e.ABLY_ENDPOINT }),
    ...(e.ABLY_PORT === undefined ? {} : { port: e.ABLY_PORT }),
    tls: e.ABLY_TLS ?? true,
    ...(e.ABLY_MAX_MESSAGE_BYTES === undefined ? {} : { maxMessageBytes: e.ABLY_MAX_MESSAGE_BYTES }),
  };
}
