/**
 * The shape of `POST /v1/token`'s answer. The server builds it, the client wrapper
 * parses it with these schemas: the provider config tells the wrapper which SDK to load.
 */
import { z } from 'zod';
import { capabilitiesSchema, clientEventNameSchema, jsonValueSchema, namespacesSchema } from './schemas.js';

export const pusherClientConfigSchema = z.object({
  name: z.enum(['local', 'pusher']),
  key: z.string().min(1),
  cluster: z.string().min(1),
  /** Absent for hosted Pusher (the SDK derives it from the cluster). */
  wsHost: z.string().min(1).optional(),
  wsPort: z.number().int().min(1).max(65535).optional(),
  forceTLS: z.boolean(),
  /** Where pusher-js posts `socket_id` + `channel_name`, relative to the BFF base URL. */
  authEndpoint: z.string().min(1),
});

export const ablyClientConfigSchema = z.object({
  name: z.literal('ably'),
  /** An Ably TokenRequest signed by the BFF; capability uses provider channel names. */
  tokenRequest: z.record(z.string(), z.unknown()),
  endpoint: z.string().optional(),
});

export const supabaseClientConfigSchema = z.object({
  name: z.literal('supabase'),
  url: z.string().url(),
  anonKey: z.string().min(1),
  /** Realtime JWT carrying the tenant and caps, checked by the shipped RLS policies. */
  accessToken: z.string().min(1),
  /** What this client tracks as its presence entry (keyed by user id, one entry per user). */
  member: z.object({ id: z.string().min(1), info: z.record(z.string(), jsonValueSchema) }),
  /** Client event names per namespace: whispers with other names are dropped on receipt. */
  clientEvents: z.record(z.string(), z.array(clientEventNameSchema)),
});

export const providerClientConfigSchema = z.discriminatedUnion('name', [
  pusherClientConfigSchema,
  ablyClientConfigSchema,
  supabaseClientConfigSchema,
]);

export type ProviderClientConfig = z.infer<typeof providerClientConfigSchema>;
export type PusherClientConfig = z.infer<typeof pusherClientConfigSchema>;

export const tokenResponseSchema = z.object({
  token: z.string().min(1),
  expiresAt: z.number().int(),
  tenant: z.string(),
  user: z.string(),
  caps: capabilitiesSchema,
  provider: providerClientConfigSchema,
  namespaces: namespacesSchema,
});

export type TokenResponse = z.infer<typeof tokenResponseSchema>;
