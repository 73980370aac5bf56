/** Schemas for everything a client sends over the WebSocket, and for signed channel_data. */
import { z } from 'zod';
import { parseJsonAs } from './json.js';
import { jsonValueSchema } from '../../src/core/schemas.js';
import { PUSHER_EVENT_MAX_LENGTH } from '../pusher-protocol/index.js';

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

export const subscribeDataSchema = objectOrJsonString(
  z.object({
    channel: z.string().min(1).max(1024),
    auth: z.string().max(1024).optional(),
    channel_data: z.string().optional(),
  }),
);

export const unsubscribeDataSchema = objectOrJsonString(z.object({ channel: z.string().min(1).max(1024) }));

/**
 * Signed `channel_data`. `sb` is Switchboard's extension, covered by the signature:
 * `ce` = client event names (without `client-`) this subscriber may send, `exp` = epoch ms
 * after which the authorization may no longer be used to subscribe.
 */
export const channelDataSchema = z.object({
  user_id: z.union([z.string().min(1).max(128), z.number().int()]).transform(String),
  user_info: jsonValueSchema.optional(),
  sb: z
    .object({
      ce: z.array(z.string().min(1).max(64)).max(256).default([]),
      exp: z.number().int().optional(),
    })
    .optional(),
});

export type ChannelData = z.output<typeof channelDataSchema>;

export function parseChannelData(raw: string): ChannelData | undefined {
  return parseJsonAs(channelDataSchema, raw);
}
