import { z } from 'zod';
import { channelNameSchema } from './channels.js';

/** Event names: not `pusher…` (reserved by the protocol) and not `client-…` (client events). */
export const eventNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_\-.:]{1,64}$/, 'event name must match [A-Za-z0-9_-.:]{1,64}')
  .refine((name) => !name.startsWith('pusher') && !name.startsWith('client-'), 'event names starting with "pusher" or "client-" are reserved');

/** Publisher-chosen idempotency key; a ULID is generated when absent. */
export const eventIdSchema = z.string().regex(/^[A-Za-z0-9_\-:.]{1,128}$/, 'id must match [A-Za-z0-9_-:.]{1,128}');

export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValueSchema), z.record(z.string(), jsonValueSchema)]),
);
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const envelopeSchema = z.object({
  id: eventIdSchema,
  channel: channelNameSchema,
  event: eventNameSchema,
  data: jsonValueSchema,
  seq: z.number().int().min(1),
  ts: z.number().int().min(0),
});

/** Every event that passes the BFF. `seq` is per (tenant, channel), assigned by the event log. */
export type Envelope = z.infer<typeof envelopeSchema>;

/** What subscribers receive beside `data`, identical on every provider. */
export type EventMeta = Omit<Envelope, 'data'>;

const utf8 = new TextEncoder();

/** Size of the JSON-encoded payload, the unit every provider limit is expressed in. */
export function payloadBytes(data: JsonValue): number {
  return utf8.encode(JSON.stringify(data)).byteLength;
}
