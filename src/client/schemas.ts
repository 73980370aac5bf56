/**
 * Schemas for everything the wrapper receives from outside (BFF answers, provider
 * frames). They mirror src/core's schemas but use `zod/mini`, which tree-shakes: the
 * classic `zod` build alone is several times the client's whole size budget. The
 * assignment check below keeps them in step at compile time, and
 * test/unit/client-schemas.test.ts checks them against the server's answers at runtime.
 */
import * as z from 'zod/mini';
import type { TokenResponse } from '../core/token-response.js';

const operation = z.enum(['subscribe', 'publish', 'presence', 'history']);

// The server sends its parsed config, defaults applied, so every field is required here.
const namespaceRules = z.object({
  presence: z.boolean(),
  history: z.union([z.literal(false), z.object({ size: z.number(), ttlSeconds: z.optional(z.number()) })]),
  clientEvents: z.array(z.string()),
  maxPayloadBytes: z.number(),
});

export const tokenResponseSchema = z.object({
  token: z.string(),
  expiresAt: z.number(),
  tenant: z.string(),
  user: z.string(),
  caps: z.record(z.string(), z.array(operation)),
  // Only the name here: each transport parses its own provider's options in its lazily loaded chunk.
  provider: z.looseObject({ name: z.enum(['local', 'pusher', 'ably', 'supabase']) }),
  namespaces: z.record(z.string(), namespaceRules),
});

export type ClientToken = z.infer<typeof tokenResponseSchema>;
// Compile-time drift check: the server's answer must satisfy what the client parses.
export const _serverAnswerFits = (value: TokenResponse): ClientToken => value;

export const envelopeSchema = z.object({
  id: z.string(),
  channel: z.string(),
  event: z.string(),
  data: z.unknown(),
  seq: z.number().check(z.refine((seq) => Number.isSafeInteger(seq) && seq > 0)),
  ts: z.number(),
});

export type ClientEnvelope = z.infer<typeof envelopeSchema>;

export const historyResponseSchema = z.object({
  events: z.array(envelopeSchema),
  lastSeq: z.optional(z.number()),
});

export const problemSchema = z.object({
  code: z.optional(z.string()),
  detail: z.optional(z.string()),
  title: z.optional(z.string()),
});


