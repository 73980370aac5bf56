/** Schemas for everything a client sends over the WebSocket, and for signed channel_data. */
import { z } from 'zod';
import { parseJsonAs } from './json.js';
import { jsonValueSchema } from '../../src/core/schemas.js';
import { PUSHER_EVENT_MAX_LENGTH, PUSHER_USER_ID_PATTERN } from '../pusher-protocol/index.js';

export const clientFrameSchema = z.object({
  event: z.string().min(1).max(PUSHER_EVENT_MAX_LENGTH),
  channel: z.string().max(1024).optional(),
  data: z.unknown().optional(),
});

/** Some clients send `data` as a JSON string, pusher-js as an object. */
const objectOrJsonString = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }, schema);

/** Several auth helpers send `"channel_data": null` (or `"auth": null`) for private channels: null means absent. */
const optionalString = (max: number) =>
  z
    .string()
    .max(max)
    .nullish()
    .transform((value) => value ?? undefined);

export const subscribeDataSchema = objectOrJsonString(
  z.object({
    channel: z.string().min(1).max(1024),
    auth: optionalString(1024),
    channel_data: optionalString(64 * 1024),
  }),
);

/** The channel a malformed subscribe or client event was about, so the refusal can be scoped to it. */
const namedChannel = z.object({ channel: z.string().min(1).max(1024) });
export const looseChannelSchema = objectOrJsonString(namedChannel);

/** The event name of a parsed frame that failed validation, if it has a string one. */
export function frameEventName(json: unknown): string | undefined {
  const parsed = z.object({ event: z.string() }).safeParse(json);
  return parsed.success ? parsed.data.event : undefined;
}

/** The channel a frame refused before full parsing (e.g. too large) names, if any. */
export function frameChannel(text: string): string | undefined {
  return parseJsonAs(namedChannel, text)?.channel;
}

export const unsubscribeDataSchema = objectOrJsonString(z.object({ channel: z.string().min(1).max(1024) }));

/**
 * Signed `channel_data`. `sb` is Switchboard's extension, covered by the signature:
 * `ce` = client event names (without `client-`) this subscriber may send, `exp` = epoch ms
 * at which the authorization expires (no subscribing with it after, and a subscription made
 * with it ends then unless renewed), `iat` = issuance stamp (epoch µs) of the capability
 * token it was signed under (refused once `user_id` is terminated after it), `pm` / `pi` = the
 * namespace's presence limits (members per channel, user_info bytes), which replace the
 * server defaults, `c` = a cache namespace (replay the last event on subscribe).
 */
export const channelDataSchema = z.object({
  user_id: z.union([z.string().min(1).max(128), z.number().int()]).transform(String),
  user_info: jsonValueSchema.optional(),
  sb: z
    .object({
      ce: z.array(z.string().min(1).max(64)).max(256).default([]),
      exp: z.number().int().optional(),
      iat: z.number().int().positive().optional(),
      pm: z.number().int().min(1).optional(),
      pi: z.number().int().min(1).optional(),
      c: z.literal(1).optional(),
    })
    .optional(),
});

export type ChannelData = z.output<typeof channelDataSchema>;

export function parseChannelData(raw: string): ChannelData | undefined {
  return parseJsonAs(channelDataSchema, raw);
}

export const signinDataSchema = objectOrJsonString(z.object({ auth: z.string().max(1024), user_data: z.string().max(16 * 1024) }));

/**
 * Signed `user_data` of a `pusher:signin` (pusher-docs user-authentication.md): at least a
 * string `id`. The BFF adds `sb`: the capability token's expiry (`exp`, epoch ms) and
 * issuance stamp (`iat`, epoch µs), so a sign-in cannot outlive the token or a terminate.
 */
export const userDataSchema = z.object({
  id: z.string().regex(PUSHER_USER_ID_PATTERN),
  user_info: jsonValueSchema.optional(),
  sb: z.object({ exp: z.number().int().optional(), iat: z.number().int().positive().optional() }).optional(),
});

export function parseUserData(raw: string): z.output<typeof userDataSchema> | undefined {
  return parseJsonAs(userDataSchema, raw);
}
