/**
 * Turning what a store reads back (a SQLite row, a Redis stream entry) into an Envelope.
 *
 * Read-back data is parsed with zod like any data from outside, but with a flat schema:
 * every event was validated in full (envelopeSchema) when it was published, and replay
 * reads thousands of rows per request, so the per-row check stays cheap:
 * - the scalar columns get type and pattern checks;
 * - `data` is stored as JSON text, and `JSON.parse` output is a JsonValue by construction,
 *   so the recursive jsonValueSchema would add nothing but cost;
 * - `channel` is the one the caller asked for (already checked against the channel
 *   grammar by the caller), so it is not re-validated per row.
 */
import { z } from 'zod';
import { EVENT_ID_PATTERN, EVENT_NAME_PATTERN, type Envelope, type JsonValue } from '../../core/envelope.js';

/** A stored event as one flat row: `[seq, id, event, data, ts]` (the sqlite column order). */
export const storedEventSchema = z.tuple([
  z.number().int().min(1),
  z.string().regex(EVENT_ID_PATTERN),
  z.string().regex(EVENT_NAME_PATTERN),
  /** The payload as stored: JSON text. */
  z.string(),
  z.number().int().min(0),
]);

export type StoredEvent = z.infer<typeof storedEventSchema>;

/** JSON text as stored by the log; what JSON.parse returns is always a JsonValue. */
export function parseStoredJson(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

/** One row read back from a store, for `channel`. Throws (ZodError / SyntaxError) on a malformed row. */
export function toEnvelope(channel: string, row: unknown): Envelope {
  const [seq, id, event, data, ts] = storedEventSchema.parse(row);
  // Same key order as envelopeSchema output, so serialized history is unchanged.
  return { id, channel, event, data: parseStoredJson(data), seq, ts };
}
