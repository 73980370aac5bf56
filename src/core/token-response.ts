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
  /** Where the SDK's authCallback POSTs (with the capability token) for a TokenRequest, relative to the BFF base URL. */
  authEndpoint: z.string().min(1),
  /** Host for Ably REST and realtime; absent for hosted Ably (the SDK's default). */
  endpoint: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  tls: z.boolean(),
  /** The Ably clientId every TokenRequest for this user carries: the user id. */
  clientId: z.string().min(1),
  /** Presence data the client enters with: the identity's info, as on the Pusher-protocol providers. */
  presenceData: z.record(z.string(), jsonValueSchema),
  /** Whisper names per namespace: Ably capabilities cannot restrict names, so receivers drop the others. */
  clientEvents: z.record(z.string(), z.array(z.string())),
});

/** An Ably TokenRequest (ably.d.ts `TokenRequest`), signed by the BFF; the SDK exchanges it for a token. */
export const ablyTokenRequestSchema = z.object({
  keyName: z.string().min(1),
  ttl: z.number().int().positive(),
  /** JSON string of the Ably capability (resource → operations), provider channel names. */
  capability: z.string().min(2),
  clientId: z.string().min(1),
  timestamp: z.number().int().positive(),
  nonce: z.string().min(16),
  mac: z.string().min(1),
});

export type AblyTokenRequest = z.infer<typeof ablyTokenRequestSchema>;

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
export type AblyClientConfig = z.infer<typeof ablyClientConfigSchema>;

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
